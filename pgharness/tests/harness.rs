//! Tests against real PostgreSQL servers started by the harness.
//!
//! The watchdog tests re-run this test binary as a child process (selecting the ignored helper
//! test below through an environment variable), let that child start a server and die without
//! dropping it, and then check from the outside that the server and its directory go away.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pgharness::{Durability, Error, PgConfig, PgServer, Tls};
use postgres::{Client, NoTls};

/// How long cleanup after a dead owner may take (the watchdog reacts at once; shutdown is fast).
const CLEANUP_TIMEOUT_MS: u64 = 5_000;
/// Tells the helper test, run in a child process, what to do.
const HELPER_ENV: &str = "PGHARNESS_WATCHDOG_HELPER";
/// The helper's one line of output: `<marker> <port> <run dir>`.
const HELPER_MARKER: &str = "PGHARNESS_HELPER_STARTED";

fn connect(server: &PgServer, database: &str) -> Client {
    Client::connect(&server.url(database), NoTls)
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.url(database)))
}

fn select_one(client: &mut Client) -> i32 {
    client.query_one("SELECT 1", &[]).expect("SELECT 1").get(0)
}

fn accepts_tcp(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
}

/// Polls until the port refuses connections and the directory is gone, or fails the test.
fn assert_cleaned_up(port: u16, run_dir: &Path) {
    let deadline = Instant::now() + Duration::from_millis(CLEANUP_TIMEOUT_MS);
    while accepts_tcp(port) || run_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "after {CLEANUP_TIMEOUT_MS} ms: port {port} accepting = {}, {} exists = {}",
            accepts_tcp(port),
            run_dir.display(),
            run_dir.exists()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn starting_a_server_gives_a_url_that_answers_select_1() {
    let server = PgServer::start(PgConfig::default()).expect("start");
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(
        server.url("postgres"),
        format!("postgres://postgres@127.0.0.1:{}/postgres", server.port())
    );
    assert!(
        server.bin_dir().join("pgbench").is_file(),
        "bin_dir should hold the whole install"
    );
    assert_eq!(select_one(&mut connect(&server, "postgres")), 1);
    server.stop().expect("stop");
}

#[test]
fn created_databases_can_be_copied_from_a_template() {
    let server = pgharness::shared();
    assert!(
        std::ptr::eq(server, pgharness::shared()),
        "one shared server per process"
    );
    server
        .create_database("template_source", None)
        .expect("create template");
    connect(server, "template_source")
        .batch_execute("CREATE TABLE marker (id BIGINT PRIMARY KEY); INSERT INTO marker VALUES (7)")
        .expect("fill template");
    server
        .create_database("from_template", Some("template_source"))
        .expect("copy");
    let row = connect(server, "from_template")
        .query_one("SELECT id FROM marker", &[])
        .expect("read");
    assert_eq!(row.get::<_, i64>(0), 7);

    let error = server
        .create_database("bad-name", None)
        .expect_err("dash is not allowed");
    assert!(matches!(error, Error::InvalidDatabaseName(_)), "{error}");
    let error = server
        .create_database("from_template", None)
        .expect_err("exists already");
    assert!(error.to_string().contains("already exists"), "{error}");
}

#[test]
fn two_servers_start_at_once_on_different_ports_with_their_own_durability() {
    let durable = PgConfig {
        durability: Durability::Durable,
        max_connections: 20,
        ..PgConfig::default()
    };
    let starting =
        [PgConfig::default(), durable].map(|config| std::thread::spawn(|| PgServer::start(config)));
    let [fast, durable] = starting.map(|thread| thread.join().expect("thread").expect("start"));
    assert_ne!(fast.port(), durable.port());
    assert_ne!(fast.run_dir(), durable.run_dir());

    let setting = |server: &PgServer, name: &str| -> String {
        connect(server, "postgres")
            .query_one(&format!("SHOW {name}"), &[])
            .expect("SHOW")
            .get(0)
    };
    assert_eq!(setting(&fast, "fsync"), "off");
    assert_eq!(setting(&fast, "max_connections"), "300");
    assert_eq!(setting(&durable, "fsync"), "on");
    assert_eq!(setting(&durable, "synchronous_commit"), "on");
    assert_eq!(setting(&durable, "max_connections"), "20");
}

#[test]
fn dropping_the_server_stops_it_and_removes_its_directory() {
    let server = PgServer::start(PgConfig::default()).expect("start");
    let (port, run_dir) = (server.port(), server.run_dir().to_path_buf());
    assert!(server.data_dir().starts_with(&run_dir));
    assert!(run_dir.join("data").join("PG_VERSION").is_file());
    assert!(accepts_tcp(port));
    drop(server);
    // Drop waits for the shutdown, so no polling is needed.
    assert!(!accepts_tcp(port), "port {port} still accepts connections");
    assert!(!run_dir.exists(), "{} still exists", run_dir.display());
}

#[test]
fn a_given_data_directory_is_reused_across_starts_and_never_removed() {
    // The temp dir itself is the data dir: when running as root, the server's `postgres` user
    // could not enter a subdirectory of this root-only directory.
    let holder = tempfile::tempdir().expect("tempdir");
    let data_dir = holder.path().to_path_buf();
    let config = PgConfig {
        data_dir: Some(data_dir.clone()),
        ..PgConfig::default()
    };

    let first = PgServer::start(config.clone()).expect("first start");
    assert_eq!(first.data_dir(), data_dir);
    connect(&first, "postgres")
        .batch_execute("CREATE TABLE kept (note TEXT); INSERT INTO kept VALUES ('still here')")
        .expect("write");
    let first_run_dir = first.run_dir().to_path_buf();
    first.stop().expect("stop");
    assert!(
        !first_run_dir.exists(),
        "the run directory is temporary even with a data dir"
    );
    assert!(
        data_dir.join("PG_VERSION").is_file(),
        "the data directory must survive a stop"
    );

    let second = PgServer::start(config).expect("second start");
    let row = connect(&second, "postgres")
        .query_one("SELECT note FROM kept", &[])
        .expect("read");
    assert_eq!(row.get::<_, String>(0), "still here");
    drop(second);
    assert!(
        data_dir.join("PG_VERSION").is_file(),
        "the data directory must survive a drop"
    );
}

#[test]
fn missing_binaries_give_an_error_naming_the_package_to_install() {
    let empty = tempfile::tempdir().expect("tempdir");
    let config = PgConfig {
        bin_dir: Some(empty.path().to_path_buf()),
        ..PgConfig::default()
    };
    let error = PgServer::start(config).expect_err("no binaries there");
    assert!(matches!(error, Error::BinariesNotFound { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("apt-get install postgresql-15"),
        "{message}"
    );
    assert!(message.contains("initdb") && message.contains(&empty.path().display().to_string()));
}

#[test]
fn a_taken_fixed_port_fails_with_the_server_log_in_the_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let error = PgServer::start(PgConfig {
        port: Some(port),
        ..PgConfig::default()
    })
    .expect_err("the port is in use");
    assert!(matches!(error, Error::StartFailed { .. }), "{error:?}");
    assert!(error.to_string().contains("could not bind"), "{error}");
}

#[test]
fn the_watchdog_cleans_up_after_an_owner_that_exits_without_dropping_its_shared_server() {
    let (mut child, port, run_dir) = spawn_helper("shared");
    let status = child.wait().expect("wait for helper");
    assert!(status.success(), "helper failed: {status}");
    assert_cleaned_up(port, &run_dir);
}

#[test]
fn the_watchdog_cleans_up_after_an_owner_that_is_killed() {
    let (mut child, port, run_dir) = spawn_helper("own-then-hang");
    assert!(
        accepts_tcp(port),
        "the helper's server should be up while the helper lives"
    );
    child.kill().expect("SIGKILL the helper");
    child.wait().expect("reap helper");
    assert_cleaned_up(port, &run_dir);
}

/// Runs the helper test in a child process and returns it with its server's port and run dir.
fn spawn_helper(mode: &str) -> (std::process::Child, u16, PathBuf) {
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args([
            "--exact",
            "helper_starts_a_server_and_dies_without_dropping_it",
        ])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn helper");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    // Keep reading to the end on a thread: closing the pipe early would make the helper's
    // remaining output fail with a broken pipe.
    let (found, announced) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            // libtest prints the test's name on the same line before the helper's output.
            if let Some((_, rest)) = line.split_once(HELPER_MARKER) {
                let _ = found.send(rest.trim().to_owned());
            }
        }
    });
    let Ok(announcement) = announced.recv() else {
        panic!(
            "the helper exited without starting a server: {:?}",
            child.wait()
        );
    };
    let (port, run_dir) = announcement.split_once(' ').expect("port and dir");
    (child, port.parse().expect("port"), PathBuf::from(run_dir))
}

/// Not a test of its own: the body of the watchdog tests' child process.
#[test]
#[ignore = "run by the watchdog tests in a child process"]
fn helper_starts_a_server_and_dies_without_dropping_it() {
    let Ok(mode) = std::env::var(HELPER_ENV) else {
        return;
    };
    let announce = |server: &PgServer| {
        println!(
            "{HELPER_MARKER} {} {}",
            server.port(),
            server.run_dir().display()
        );
    };
    match mode.as_str() {
        // The shared server lives in a static: returning ends the process without dropping it.
        "shared" => announce(pgharness::shared()),
        "own-then-hang" => {
            let server = PgServer::start(PgConfig::default()).expect("start");
            announce(&server);
            // Wait to be killed; the server is never dropped.
            std::thread::sleep(Duration::from_secs(60));
            std::process::abort();
        }
        other => panic!("unknown helper mode {other:?}"),
    }
}

#[test]
fn a_tls_only_server_writes_a_private_key_and_refuses_plaintext_tcp() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    let server = PgServer::start(PgConfig {
        tls: Tls::Required,
        ..PgConfig::default()
    })
    .expect("start");
    let ca_file = server.ca_file().expect("a TLS server has a CA file");
    assert!(
        std::fs::read_to_string(ca_file)
            .expect("read CA")
            .contains("BEGIN CERTIFICATE")
    );
    let key = std::fs::metadata(server.data_dir().join("server.key")).expect("key");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let data_dir = std::fs::metadata(server.data_dir()).expect("data dir");
    assert_eq!(
        key.uid(),
        data_dir.uid(),
        "the key belongs to the server's account"
    );

    // The Unix socket stays open without TLS, so the harness's own tools keep working.
    let socket = format!(
        "host={} port={} user=postgres dbname=postgres",
        server.run_dir().display(),
        server.port()
    );
    let mut local = Client::connect(&socket, NoTls).expect("connect over the socket");
    let ssl: String = local.query_one("SHOW ssl", &[]).expect("SHOW").get(0);
    assert_eq!(ssl, "on");

    let error = Client::connect(&server.url("postgres"), NoTls)
        .err()
        .expect("plaintext over TCP is refused");
    assert_eq!(
        error.code(),
        Some(&postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{error}"
    );
}
