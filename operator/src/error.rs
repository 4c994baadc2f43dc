//! The operator's one error type. Every variant has a stable, low-cardinality
//! [`Error::metric_label`] so that reconcile failures are counted by kind.

/// Everything that can go wrong in a reconcile, the leader election or the database layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// The finalizer helper failed to add or remove the finalizer.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    /// A database statement failed (after the retry loop gave up, for retryable ones).
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),

    /// No database connection could be had from the pool.
    #[error("database pool: {0}")]
    Pool(String),

    /// The database URL does not parse.
    #[error("database URL: {0}")]
    DatabaseUrl(String),

    /// A serializable transaction kept failing with 40001/40P01.
    #[error("transaction {operation} still conflicting after {attempts} attempts")]
    RetriesExhausted {
        /// The unit of work, e.g. `publish_campaign`.
        operation: &'static str,
        /// How many times it ran.
        attempts: u32,
    },

    /// A Partner's credentials Secret or key is missing; the reconcile is retried with backoff.
    #[error("credentials unresolved: {0}")]
    CredentialsUnresolved(String),

    /// Database placement failed or could not be verified.
    #[error("placement: {0}")]
    Placement(String),

    /// An object lacks something the API guarantees (a name, a namespace).
    #[error("malformed object: {0}")]
    Malformed(&'static str),

    /// Binding or serving the HTTP endpoints failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),

    /// JSON (de)serialization of a spec failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),

    /// A row holds a text the operator does not know (a region state, say): a schema or
    /// version mismatch, never silently defaulted.
    #[error("stored value: {0}")]
    StoredName(#[from] loyalty_schema::UnknownName),
}

impl Error {
    /// A stable label for the `error` dimension of the failure metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::Db(_) => "db",
            Error::Pool(_) => "db_pool",
            Error::DatabaseUrl(_) => "database_url",
            Error::StoredName(_) => "stored_name",
            Error::RetriesExhausted { .. } => "db_retries_exhausted",
            Error::CredentialsUnresolved(_) => "credentials_unresolved",
            Error::Placement(_) => "placement",
            Error::Malformed(_) => "malformed_object",
            Error::Json(_) => "json",
            Error::Io(_) => "io",
        }
    }

    /// The SQLSTATE of a database error, if it is one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Db(e) => e.code().map(tokio_postgres::error::SqlState::code),
            _ => None,
        }
    }
}

impl From<kube::runtime::finalizer::Error<Error>> for Error {
    fn from(e: kube::runtime::finalizer::Error<Error>) -> Self {
        use kube::runtime::finalizer::Error as F;
        // Unwrap the reconcile's own error so that metrics count it by its own kind.
        match e {
            F::ApplyFailed(inner) | F::CleanupFailed(inner) => inner,
            other => Error::Finalizer(Box::new(other)),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
