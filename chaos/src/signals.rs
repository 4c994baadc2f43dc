//! Signals to child processes: SIGKILL (crash), SIGSTOP/SIGCONT (a pause the process does not
//! notice, like a long GC or VM stall), SIGTERM (graceful stop). Through rustix because the
//! workspace forbids unsafe code.

use rustix::process::{Pid, Signal, kill_process};

use crate::error::{Error, Result};

/// The signals the suite sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcSignal {
    Kill,
    Stop,
    Cont,
    Term,
}

impl ProcSignal {
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "SIGKILL",
            Self::Stop => "SIGSTOP",
            Self::Cont => "SIGCONT",
            Self::Term => "SIGTERM",
        }
    }

    fn raw(self) -> Signal {
        match self {
            Self::Kill => Signal::KILL,
            Self::Stop => Signal::STOP,
            Self::Cont => Signal::CONT,
            Self::Term => Signal::TERM,
        }
    }
}

/// Sends `signal` to process `pid`.
pub fn send(pid: u32, signal: ProcSignal) -> Result<()> {
    let raw = i32::try_from(pid).unwrap_or(0);
    let target = Pid::from_raw(raw).ok_or(Error::Signal {
        signal: signal.name(),
        pid: raw,
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    kill_process(target, signal.raw()).map_err(|errno| Error::Signal {
        signal: signal.name(),
        pid: raw,
        source: errno.into(),
    })
}
