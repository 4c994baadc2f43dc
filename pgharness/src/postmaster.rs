//! Launching the `postgres` process, waiting until it serves, and stopping it.
//!
//! The harness runs `postgres` directly instead of through `pg_ctl start`, so it holds the
//! process as a `Child`: it notices at once when the server exits during startup (a port taken
//! between picking and binding, a bad setting) instead of waiting out a timeout.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::HOST;
use crate::config::PgConfig;
use crate::error::{Error, Result};
use crate::os_user::RunAs;

/// How often startup progress is checked.
const READY_POLL_MS: u64 = 10;
/// How long each shutdown mode (fast, then immediate) may take before the next, harsher one.
const STOP_STEP_TIMEOUT_MS: u64 = 10_000;
/// How many lines of the server log an error quotes.
const LOG_TAIL_LINES: usize = 25;

/// Where a server's pieces are, for launching it.
pub(crate) struct Launch<'a> {
    pub(crate) bin_dir: &'a Path,
    pub(crate) data_dir: &'a Path,
    pub(crate) run_dir: &'a Path,
    pub(crate) log_file: &'a Path,
    pub(crate) run_as: RunAs,
    pub(crate) config: &'a PgConfig,
}

/// Why a launch did not produce a ready server.
pub(crate) enum LaunchError {
    /// The port was taken by someone else; another port may work.
    PortTaken(Error),
    /// Anything else.
    Fatal(Error),
}

/// Asks the kernel for a currently free loopback port. Another process may take it before the
/// server binds it; [`launch`] reports that as [`LaunchError::PortTaken`] so the caller retries.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(Error::io("bind a TCP port on", "127.0.0.1"))?;
    let port = listener
        .local_addr()
        .map_err(Error::io("read the address of", "127.0.0.1"))?;
    Ok(port.port())
}

/// Starts `postgres` on `port`. `on_spawn` receives the postmaster's pid before any waiting, so
/// the watchdog covers the whole startup. Returns the running, connection-accepting server.
pub(crate) fn launch(
    launch: &Launch<'_>,
    port: u16,
    on_spawn: &mut dyn FnMut(u32) -> Result<()>,
) -> Result<Child, LaunchError> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(launch.log_file)
        .map_err(|e| LaunchError::Fatal(Error::io("open", launch.log_file)(e)))?;
    // Only what this attempt writes matters for diagnosing it.
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let log_for_stderr = log.try_clone().map_err(|e| {
        LaunchError::Fatal(Error::io("duplicate the handle of", launch.log_file)(e))
    })?;

    let program = launch.bin_dir.join("postgres");
    let mut command = Command::new(&program);
    clear_pg_env(&mut command);
    command.arg("-D").arg(launch.data_dir);
    for (name, value) in launch.config.server_settings(port, launch.run_dir) {
        command.arg("-c").arg(format!("{name}={value}"));
    }
    command
        .current_dir(launch.run_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr)
        // Out of the caller's process group: a terminal's Ctrl-C reaches the owner (and its
        // Ctrl-C handler or the watchdog), never the server directly mid-test.
        .process_group(0);
    launch.run_as.apply(&mut command);
    let mut child = command.spawn().map_err(|source| {
        LaunchError::Fatal(Error::Spawn {
            program: program.display().to_string(),
            source,
        })
    })?;
    if let Err(error) = on_spawn(child.id()) {
        let _ = stop(&mut child);
        return Err(LaunchError::Fatal(error));
    }

    match wait_until_ready(launch, &mut child, port) {
        Ok(()) => Ok(child),
        Err(Some(status)) => {
            let tail = log_tail(launch.log_file, log_start);
            let error = Error::StartFailed {
                status,
                log: launch.log_file.to_path_buf(),
                log_tail: tail.clone(),
            };
            // Matching log text is fragile, but the server offers no other signal for this, and
            // a wrong guess only costs one futile retry or one missed one.
            if tail.contains("could not bind") || tail.contains("could not create any TCP/IP") {
                Err(LaunchError::PortTaken(error))
            } else {
                Err(LaunchError::Fatal(error))
            }
        }
        Err(None) => {
            let _ = stop(&mut child);
            Err(LaunchError::Fatal(Error::StartTimeout {
                timeout: launch.config.start_timeout,
                log: launch.log_file.to_path_buf(),
                log_tail: log_tail(launch.log_file, log_start),
            }))
        }
    }
}

/// Waits until the server accepts connections. `Err(Some(status))` means it exited,
/// `Err(None)` that the start timeout passed.
///
/// Readiness comes from the server's own `postmaster.pid`, as `pg_ctl start -w` does it: the
/// file names our child's pid and says `ready` once connections are accepted. A probe of the
/// port alone could be answered by some other server that took the port first. A single
/// `pg_isready` over TCP then confirms the path clients will use.
fn wait_until_ready(
    launch: &Launch<'_>,
    child: &mut Child,
    port: u16,
) -> std::result::Result<(), Option<ExitStatus>> {
    let deadline = Instant::now() + launch.config.start_timeout;
    let pid_file = launch.data_dir.join("postmaster.pid");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Some(status));
        }
        if reports_ready(&pid_file, child.id()) && accepts_connections(launch.bin_dir, port) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(None);
        }
        std::thread::sleep(Duration::from_millis(READY_POLL_MS));
    }
}

/// Whether `postmaster.pid` belongs to `pid` and its status line (the 8th) says `ready`.
fn reports_ready(pid_file: &Path, pid: u32) -> bool {
    let Ok(contents) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let mut lines = contents.lines();
    let owner = lines
        .next()
        .and_then(|line| line.trim().parse::<u32>().ok());
    let status = lines.nth(6).map(str::trim);
    owner == Some(pid) && status == Some("ready")
}

/// Removes every `PG*` environment variable from `command`, so that a developer's `PGHOST`,
/// `PGSSLMODE`, `PGOPTIONS` or `PGDATA` can never redirect or break the harness's own tools.
pub(crate) fn clear_pg_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"PG") {
            command.env_remove(name);
        }
    }
}

/// Whether `pg_isready` gets an "accepting connections" answer over TCP.
pub(crate) fn accepts_connections(bin_dir: &Path, port: u16) -> bool {
    let mut command = Command::new(bin_dir.join("pg_isready"));
    clear_pg_env(&mut command);
    command
        .args([
            "--quiet",
            "--timeout=2",
            "--username=postgres",
            "--dbname=postgres",
        ])
        .arg(format!("--host={HOST}"))
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Stops the server: fast shutdown (disconnect clients, checkpoint), then immediate shutdown,
/// then SIGKILL, each with a bounded wait. Harmless on a server that has already exited.
pub(crate) fn stop(child: &mut Child) -> Result<()> {
    let pid = Pid::from_child(child);
    for signal in [Signal::INT, Signal::QUIT, Signal::KILL] {
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        // A failure means the process is already gone; try_wait below notices.
        let _ = kill_process(pid, signal);
        let deadline = Instant::now() + Duration::from_millis(STOP_STEP_TIMEOUT_MS);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(READY_POLL_MS));
        }
    }
    Err(Error::StopFailed { pid: child.id() })
}

/// The last lines the server logged after byte `from`.
pub(crate) fn log_tail(log_file: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(log_file) {
        let _ = file.seek(SeekFrom::Start(from));
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    if lines.is_empty() {
        "(the log is empty)".to_owned()
    } else {
        lines[start..].join("\n")
    }
}

/// The path of the server log inside a run directory.
pub(crate) fn log_path(run_dir: &Path) -> PathBuf {
    run_dir.join("postgres.log")
}
