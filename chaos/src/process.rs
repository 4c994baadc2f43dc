//! Child processes of the topology (service instances, operators): spawned with their output
//! in a log file, killed when dropped, and signalled by pid for faults.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::{Error, Result};
use crate::signals::{self, ProcSignal};

/// How long a graceful stop (SIGTERM) may take before SIGKILL.
pub const GRACEFUL_STOP_TIMEOUT_MS: u64 = 5_000;
/// Lines of a child's log quoted when it exits unexpectedly.
const LOG_TAIL_LINES: usize = 20;

/// What to start: a program, its environment and where its log goes.
pub struct Spawn<'a> {
    pub name: String,
    pub program: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

/// A running child. Dropping it kills the process (tokio's `kill_on_drop`), also when it is
/// stopped: SIGKILL ends a SIGSTOPped process too.
pub struct ChildProc {
    name: String,
    child: Child,
    pid: u32,
    log: PathBuf,
    paused: bool,
}

impl ChildProc {
    pub fn spawn(spec: Spawn<'_>) -> Result<ChildProc> {
        let log = std::fs::File::create(&spec.log)
            .map_err(Error::io(format!("create {}", spec.log.display())))?;
        let log_err = log
            .try_clone()
            .map_err(Error::io(format!("duplicate {}", spec.log.display())))?;
        let mut command = Command::new(spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(Error::io(format!("start {}", spec.program.display())))?;
        let pid = child.id().unwrap_or(0);
        Ok(ChildProc {
            name: spec.name,
            child,
            pid,
            log: spec.log,
            paused: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// An error if the process has exited, quoting the end of its log.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::ChildExited {
                process: self.name.clone(),
                status: status.to_string(),
                log: log_tail(&self.log),
            }),
            Err(e) => Err(Error::io(format!("wait for {}", self.name))(e)),
        }
    }

    /// Sends `signal` and remembers whether the process is paused.
    pub fn signal(&mut self, signal: ProcSignal) -> Result<()> {
        signals::send(self.pid, signal)?;
        match signal {
            ProcSignal::Stop => self.paused = true,
            ProcSignal::Cont => self.paused = false,
            ProcSignal::Kill | ProcSignal::Term => {}
        }
        Ok(())
    }

    /// SIGKILL, then waits for the exit: a crash.
    pub async fn kill(mut self) -> Result<()> {
        let _ = self.child.start_kill();
        self.child
            .wait()
            .await
            .map_err(Error::io(format!("wait for {}", self.name)))?;
        Ok(())
    }

    /// SIGTERM (resuming it first if paused), then SIGKILL after [`GRACEFUL_STOP_TIMEOUT_MS`].
    pub async fn stop(mut self) -> Result<()> {
        if self.paused {
            self.signal(ProcSignal::Cont)?;
        }
        if self.signal(ProcSignal::Term).is_ok() {
            let wait = tokio::time::timeout(
                Duration::from_millis(GRACEFUL_STOP_TIMEOUT_MS),
                self.child.wait(),
            );
            if let Ok(Ok(_)) = wait.await {
                return Ok(());
            }
        }
        self.kill().await
    }
}

/// The last lines of a log file, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    format!("{}:\n{}", path.display(), lines[start..].join("\n"))
}
