//! The crate's one error type.
//!
//! Messages are written for the person reading a failed test: each says what was attempted, and
//! where the server produced output (initdb, the server log) the relevant tail is included so
//! nobody has to go looking for a directory that the harness has already removed.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// The Debian package that provides every binary the harness needs.
pub const INSTALL_HINT: &str = "apt-get install postgresql-15";

/// Everything that can go wrong while starting, using or stopping a server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No directory with the PostgreSQL server binaries was found.
    #[error(
        "PostgreSQL server binaries not found: {missing} (looked in {searched}); install them \
         with `{INSTALL_HINT}`, or set PGHARNESS_BIN_DIR to a PostgreSQL 15 bin directory"
    )]
    BinariesNotFound {
        /// The directories that were examined, comma separated.
        searched: String,
        /// Which programs were missing in the last directory examined.
        missing: String,
    },

    /// The process runs as root but there is no `postgres` OS user to run the server as
    /// (PostgreSQL refuses to run as root).
    #[error(
        "running as root, but there is no `postgres` user in /etc/passwd to run the server as; \
         `{INSTALL_HINT}` creates it, or run as an unprivileged user"
    )]
    NoPostgresUser,

    /// A configuration value was rejected before anything was started.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A database or template name was not a plain identifier.
    #[error(
        "invalid database name {0:?}: use 1 to 63 ASCII letters, digits or underscores, \
         not starting with a digit"
    )]
    InvalidDatabaseName(String),

    /// The TLS certificates of [`crate::Tls::On`] or [`crate::Tls::Required`] could not be
    /// generated.
    #[error("could not generate the server's TLS certificates: {0}")]
    Certificates(#[source] rcgen::Error),

    /// A file system operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, as a verb phrase ("create directory").
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A helper program could not be run at all.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program's name.
        program: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A helper program (initdb, createdb) ran and failed.
    #[error("{program} failed ({status}):\n{output}")]
    CommandFailed {
        /// The program's name.
        program: String,
        /// How it exited.
        status: ExitStatus,
        /// Its standard output and error.
        output: String,
    },

    /// The server exited while it was starting.
    #[error("PostgreSQL exited during startup ({status}); end of {}:\n{log_tail}", log.display())]
    StartFailed {
        /// How the server exited.
        status: ExitStatus,
        /// The server's log file (removed again once the start has failed).
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// The server did not accept connections in time.
    #[error(
        "PostgreSQL did not accept connections within {timeout:?}; end of {}:\n{log_tail}",
        log.display()
    )]
    StartTimeout {
        /// The configured start timeout.
        timeout: Duration,
        /// The server's log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// The server did not exit after fast, immediate and kill signals.
    #[error("PostgreSQL (pid {pid}) did not stop")]
    StopFailed {
        /// The postmaster's process id.
        pid: u32,
    },
}

impl Error {
    /// A short, stable label for counting failures by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::BinariesNotFound { .. } => "binaries_not_found",
            Error::NoPostgresUser => "no_postgres_user",
            Error::InvalidConfig(_) => "invalid_config",
            Error::InvalidDatabaseName(_) => "invalid_database_name",
            Error::Certificates(_) => "certificates",
            Error::Io { .. } => "io",
            Error::Spawn { .. } => "spawn",
            Error::CommandFailed { .. } => "command_failed",
            Error::StartFailed { .. } => "start_failed",
            Error::StartTimeout { .. } => "start_timeout",
            Error::StopFailed { .. } => "stop_failed",
        }
    }

    /// Wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
