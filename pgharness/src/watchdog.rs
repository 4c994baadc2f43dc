//! Cleaning up after an owning process that dies without dropping its server.
//!
//! Tests keep one server per test binary in a `static`, and statics are never dropped; a test
//! binary can also be killed, or abort. Drop alone would leave a running postmaster and a
//! directory behind every time. So each server gets a watchdog: a small `sh` child whose standard
//! input is a pipe whose write end only the harness holds (std opens it close-on-exec, so no other
//! child inherits it). However the owning process ends, the kernel closes that end, the watchdog
//! reads end-of-file, shuts the postmaster down immediately and removes the run directory.
//!
//! The harness tells the watchdog the postmaster's pid once it has launched it (`pid N`), and
//! disarms it (`disarm`) after a normal stop. Taking the pid from the harness rather than from
//! `postmaster.pid` means a stale pid file in a reused data directory can never make the watchdog
//! signal an unrelated process.
//!
//! The watchdog lives in its own process group and ignores SIGINT and SIGHUP, so a Ctrl-C in a
//! terminal, which signals the whole foreground group, kills the owner but not its cleaner.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::error::{Error, Result};

/// The watchdog's program. `$1` is the run directory to remove, `$2` the data directory whose
/// `postmaster.pid` disappears once the postmaster has exited. The wait for that is bounded
/// (100 x 0.1 s) before the postmaster is killed outright.
const SCRIPT: &str = r#"
trap '' INT HUP
pid=
while read -r command argument; do
    case "$command" in
        disarm) exit 0 ;;
        pid) pid=$argument ;;
    esac
done
if [ -n "$pid" ]; then
    kill -QUIT "$pid" 2>/dev/null
    waited=0
    while [ -f "$2/postmaster.pid" ] && [ "$waited" -lt 100 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if [ -f "$2/postmaster.pid" ]; then
        kill -KILL "$pid" 2>/dev/null
    fi
fi
rm -rf -- "$1"
"#;

/// A running watchdog; dropping it without [`Watchdog::disarm`] triggers the cleanup.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts a watchdog that will remove `run_dir` and stop the server of `data_dir`.
    ///
    /// It runs as the current user: when that is root it can signal the postgres-owned server and
    /// remove whatever the server wrote.
    pub(crate) fn spawn(run_dir: &Path, data_dir: &Path) -> Result<Watchdog> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("pgharness-watchdog")
            .arg(run_dir)
            .arg(data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "/bin/sh (watchdog)".into(),
                source,
            })?;
        let stdin = child.stdin.take();
        Ok(Watchdog { child, stdin })
    }

    /// Tells the watchdog which postmaster to stop.
    pub(crate) fn watch(&mut self, pid: u32) -> Result<()> {
        self.send(&format!("pid {pid}"))
    }

    /// Ends the watchdog without it doing anything: the harness has cleaned up itself.
    ///
    /// Failures are ignored: a watchdog that cannot be told has died already, and with the
    /// cleanup done there is nothing left for it to do.
    pub(crate) fn disarm(mut self) {
        let _ = self.send("disarm");
        self.stdin = None;
        let _ = self.child.wait();
    }

    fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::Spawn {
            program: "/bin/sh (watchdog)".into(),
            source: std::io::Error::other("the watchdog's input is closed"),
        })?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|source| Error::Spawn {
                program: "/bin/sh (watchdog)".into(),
                source,
            })
    }
}
