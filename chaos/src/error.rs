//! The crate's one error type.

use std::time::Duration;

/// Everything that can stop the topology, a fault, the workload or the checker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "binary `{name}` not found in {searched}: build it first with \
         `cargo build -p loyalty-service -p loyalty-operator` (or `make chaos-build`)"
    )]
    BinaryMissing { name: String, searched: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("PostgreSQL harness: {0}")]
    Harness(#[from] pgharness::Error),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("{process} exited early ({status}); its log: {log}")]
    ChildExited {
        process: String,
        status: String,
        log: String,
    },
    #[error("signal {signal} to pid {pid}: {source}")]
    Signal {
        signal: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    #[error("unknown region `{0}`")]
    UnknownRegion(String),
    #[error("the loyalty service's store: {0}")]
    Service(String),
    #[error("{0}")]
    Scenario(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// The label failures are counted under.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::BinaryMissing { .. } => "binary_missing",
            Self::Io { .. } => "io",
            Self::Db(_) => "db",
            Self::Harness(_) => "harness",
            Self::Kube(_) => "kube",
            Self::Json(_) => "json",
            Self::Http(_) => "http",
            Self::Timeout { .. } => "timeout",
            Self::ChildExited { .. } => "child_exited",
            Self::Signal { .. } => "signal",
            Self::UnknownRegion(_) => "unknown_region",
            Self::Service(_) => "service",
            Self::Scenario(_) => "scenario",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
