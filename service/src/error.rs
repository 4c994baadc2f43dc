//! The crate's [`Error`]: a business [`Refusal`] or a value that failed to parse (the
//! caller's to fix; nothing was written), or a failure of the database, the pool or an
//! internal invariant (logged, and answered as a bare 500 or 503 that reveals no internals).
//! `routes/` alone turns these into HTTP answers.

use crate::domain::{Invalid, Refusal};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A business rule refused the operation; nothing was written.
    #[error("{0}")]
    Refused(Refusal),
    /// A value failed to parse or is out of range; nothing was written.
    #[error("{}: {}", .0.code, .0.message)]
    Invalid(Invalid),
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("connection pool error: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The transaction kept failing to serialize after every retry.
    #[error("gave up after {attempts} attempts on serialization failures")]
    Contention { attempts: u32 },
    /// A commit's outcome stayed unknown after every attempt to resolve it.
    #[error("the outcome of the commit is unknown")]
    CommitUnknown,
    /// Something the service relies on does not hold (a stored value it cannot read, lots
    /// that do not cover a balance): logged, and answered as a bare 500, never as the
    /// caller's error.
    #[error("invariant violated: {0}")]
    Invariant(String),
}

impl Error {
    /// A low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Refused(r) => r.code(),
            Error::Invalid(e) => e.code,
            Error::Db(_) => "db",
            Error::Pool(_) => "pool",
            Error::Contention { .. } => "contention",
            Error::CommitUnknown => "commit_unknown",
            Error::Invariant(_) => "invariant",
        }
    }

    /// Whether this is a refusal to serve the member here: the caller must go elsewhere.
    pub fn is_wrong_region(&self) -> bool {
        matches!(self, Error::Refused(Refusal::WrongRegion { .. }))
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Refused(r)
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Invalid(e)
    }
}
