//! The crate's one error type.

/// Everything that can stop a benchmark step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("HTTP request could not be built: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("PostgreSQL harness: {0}")]
    Harness(#[from] pgharness::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The label failures are counted under in a run's `errors` map.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Http(_) | Self::Request(_) => "http",
            Self::Io(_) => "io",
            Self::Db(_) => "db",
            Self::Harness(_) => "harness",
            Self::Json(_) => "json",
            Self::Timeout(_) => "timeout",
            Self::Other(_) => "other",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
