//! A private PostgreSQL 15 server for tests, benchmarks, chaos runs and the service's embedded
//! default mode.
//!
//! Nothing here depends on a server that is already running, on Docker, or on port 5432:
//! [`PgServer::start`] finds the installed binaries, creates a cluster (in a temporary directory,
//! or reuses one in a given directory), launches it on a free loopback port and waits until it
//! accepts connections. Dropping the server, or [`PgServer::stop`], shuts it down and removes the
//! temporary directory. A watchdog process does the same if the owning process dies without
//! dropping it, which is how the per-process [`shared`] server is cleaned up.
//!
//! ```no_run
//! let server = pgharness::PgServer::start(pgharness::PgConfig::default())?;
//! server.create_database("ledger_test", None)?;
//! let url = server.url("ledger_test"); // postgres://postgres@127.0.0.1:PORT/ledger_test
//! # let _ = url;
//! # Ok::<(), pgharness::Error>(())
//! ```
//!
//! The API is synchronous so any test, benchmark or binary can use it without a runtime.
//!
//! With [`PgConfig::tls`] set to [`Tls::On`] or [`Tls::Required`] the server speaks TLS with a
//! certificate generated at start; [`PgServer::ca_file`] is the CA bundle that verifies it.
//!
//! Modules: `config` (what to start), `binaries` (finding the installation), `os_user` (running
//! as `postgres` when root), `cluster` (directories and initdb), `tls` (certificates and the
//! TLS-only hba file), `postmaster` (launch, readiness, stop), `watchdog` (cleanup after an
//! abrupt exit), `error`.

mod binaries;
mod cluster;
mod config;
mod error;
mod os_user;
mod postmaster;
mod tls;
mod watchdog;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

pub use binaries::BIN_DIR_ENV;
pub use config::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHARED_BUFFERS, DEFAULT_START_TIMEOUT_S, Durability, PgConfig,
    Tls,
};
pub use error::{Error, INSTALL_HINT, Result};

use os_user::RunAs;
use postmaster::{Launch, LaunchError};
use watchdog::Watchdog;

/// The address every server listens on. Loopback only: these servers trust every connection.
pub const HOST: &str = "127.0.0.1";

/// Ports tried when the chosen free port is taken before the server binds it.
const PORT_ATTEMPTS: u32 = 5;

/// The longest name PostgreSQL keeps without truncating (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A running PostgreSQL server owned by this process. Superuser `postgres`, trust
/// authentication, listening on [`HOST`] only (over TLS too when configured).
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    bin_dir: PathBuf,
    run_dir: PathBuf,
    data_dir: PathBuf,
    run_as: RunAs,
    /// The CA certificate of a TLS server; `None` without TLS.
    ca_file: Option<PathBuf>,
    /// `None` before launch and after stop.
    postmaster: Option<Child>,
    /// `None` after stop.
    watchdog: Option<Watchdog>,
}

impl PgServer {
    /// Starts a server as `config` describes and waits until it accepts connections.
    ///
    /// Takes about a second for a new cluster (mostly `initdb`) and a fraction of that when
    /// reusing one. On failure everything created so far is removed again.
    pub fn start(config: PgConfig) -> Result<PgServer> {
        let mut config = config;
        config.validate()?;
        // Child processes run inside the run directory, so relative paths would silently point
        // there (and a relative data directory would be deleted with it): resolve them here.
        for path in [&mut config.data_dir, &mut config.bin_dir]
            .into_iter()
            .flatten()
        {
            *path = std::path::absolute(&*path).map_err(Error::io("resolve", path.clone()))?;
        }
        let bin_dir = binaries::find_bin_dir(config.bin_dir.as_deref())?;
        let run_as = RunAs::detect()?;
        let run_dir = cluster::create_run_dir(run_as, config.durability)?;
        let data_dir = config
            .data_dir
            .clone()
            .unwrap_or_else(|| run_dir.join("data"));
        let watchdog = match Watchdog::spawn(&run_dir, &data_dir) {
            Ok(watchdog) => watchdog,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&run_dir);
                return Err(error);
            }
        };
        // From here on, dropping `server` (including through `?`) undoes everything.
        let mut server = PgServer {
            port: 0,
            bin_dir,
            run_dir,
            data_dir,
            run_as,
            ca_file: None,
            postmaster: None,
            watchdog: Some(watchdog),
        };
        if !cluster::holds_cluster(&server.data_dir) {
            if config.data_dir.is_some() {
                cluster::prepare_empty_data_dir(&server.data_dir, run_as)?;
            }
            cluster::initdb(&server.bin_dir, &server.data_dir, &server.run_dir, run_as)?;
        }
        server.ca_file = tls::install(config.tls, &server.data_dir, &server.run_dir, run_as)?;
        server.launch(&config)?;
        Ok(server)
    }

    /// Launches the postmaster, on a fresh free port per attempt unless the port is fixed.
    fn launch(&mut self, config: &PgConfig) -> Result<()> {
        let log_file = postmaster::log_path(&self.run_dir);
        let launch = Launch {
            bin_dir: &self.bin_dir,
            data_dir: &self.data_dir,
            run_dir: &self.run_dir,
            log_file: &log_file,
            run_as: self.run_as,
            config,
        };
        let attempts = if config.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        let mut last_error = None;
        for _ in 0..attempts {
            let port = match config.port {
                Some(port) => port,
                None => postmaster::free_port()?,
            };
            let mut on_spawn = |pid: u32| match &mut self.watchdog {
                Some(watchdog) => watchdog.watch(pid),
                None => Ok(()),
            };
            match postmaster::launch(&launch, port, &mut on_spawn) {
                Ok(child) => {
                    self.postmaster = Some(child);
                    self.port = port;
                    return Ok(());
                }
                Err(LaunchError::PortTaken(error)) => last_error = Some(error),
                Err(LaunchError::Fatal(error)) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(Error::InvalidConfig("no start attempt was made".into())))
    }
}

impl PgServer {
    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on: always [`HOST`].
    pub fn host(&self) -> &str {
        HOST
    }

    /// A connection URL for `database` as the superuser, e.g.
    /// `postgres://postgres@127.0.0.1:54321/loyalty`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@{HOST}:{}/{database}", self.port)
    }

    /// The directory of the PostgreSQL binaries in use, so benchmarks can run `pgbench` or
    /// `psql` from the same installation as the server.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The PEM file of the CA that signed the server's certificate, for a server started with
    /// [`Tls::On`] or [`Tls::Required`]: clients verify the server against it
    /// (`?sslmode=verify-full&sslrootcert=PATH`). Removed on stop.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The private directory holding the socket, the server log and (for a temporary cluster)
    /// the data directory. Removed on stop.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Creates database `name`, copied from `template` (PostgreSQL's `template1` if `None`).
    ///
    /// Both names must be plain identifiers. Copying a template is how tests get a migrated
    /// database in milliseconds; PostgreSQL refuses while anyone is connected to the template.
    pub fn create_database(&self, name: &str, template: Option<&str>) -> Result<()> {
        validate_identifier(name)?;
        if let Some(template) = template {
            validate_identifier(template)?;
        }
        let program = self.bin_dir.join("createdb");
        let mut command = Command::new(&program);
        postmaster::clear_pg_env(&mut command);
        command
            .arg(format!("--host={HOST}"))
            .arg(format!("--port={}", self.port))
            .arg("--username=postgres")
            .arg("--no-password")
            .stdin(Stdio::null());
        if let Some(template) = template {
            command.arg(format!("--template={template}"));
        }
        // createdb quotes the name itself; `--` keeps it from ever being read as an option.
        command.arg("--").arg(name);
        cluster::run(&mut command, &program)
    }

    /// Stops the server (fast shutdown) and removes its run directory, reporting failures that
    /// dropping would only print.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    /// Everything stopping involves, in an order that is safe to interrupt: the watchdog stays
    /// armed until the server is down and the directory gone, so a crash half-way through still
    /// ends with both cleaned up.
    fn shutdown(&mut self) -> Result<()> {
        let mut result = Ok(());
        if let Some(mut postmaster) = self.postmaster.take() {
            result = postmaster::stop(&mut postmaster);
        }
        if result.is_ok() {
            result = match std::fs::remove_dir_all(&self.run_dir) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::io("remove directory", &self.run_dir)(error))
                }
                _ => Ok(()),
            };
        }
        // If stopping failed, leave the watchdog armed: it retries when this process exits.
        if result.is_ok()
            && let Some(watchdog) = self.watchdog.take()
        {
            watchdog.disarm();
        }
        result
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            eprintln!(
                "pgharness: stopping the server on port {} failed: {error}",
                self.port
            );
        }
    }
}

/// One server per process, started with [`PgConfig::default`] on first use.
///
/// Meant for tests: each test creates its own database (see [`PgServer::create_database`]) on
/// this server instead of starting a server of its own. Statics are never dropped, so the server
/// is stopped and its directory removed by the watchdog when the process exits.
///
/// # Panics
///
/// If the server cannot be started; the panic message says why. The next call tries again.
pub fn shared() -> &'static PgServer {
    static SHARED: OnceLock<PgServer> = OnceLock::new();
    SHARED.get_or_init(|| {
        PgServer::start(PgConfig::default())
            .unwrap_or_else(|error| panic!("pgharness: could not start the shared server: {error}"))
    })
}

/// Accepts names that need no quoting anywhere: ASCII letters, digits and underscores, not
/// starting with a digit, at most [`MAX_IDENTIFIER_BYTES`] long.
fn validate_identifier(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if starts_well && rest_ok && name.len() <= MAX_IDENTIFIER_BYTES {
        Ok(())
    } else {
        Err(Error::InvalidDatabaseName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_identifier;

    #[test]
    fn database_names_must_be_plain_identifiers() {
        for good in ["loyalty", "_t1", "Test_DB_2", &"a".repeat(63)] {
            assert!(
                validate_identifier(good).is_ok(),
                "{good:?} should be accepted"
            );
        }
        for bad in [
            "",
            "1db",
            "a-b",
            "a b",
            "x\";drop",
            "é",
            "--help",
            &"a".repeat(64),
        ] {
            assert!(
                validate_identifier(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
