//! Errors: the crate's [`Error`] enum and the HTTP [`ApiError`] every handler answers with.
//!
//! A refusal (bad input, a business rule) is an [`ApiError`] with a stable machine-readable
//! `code`. Everything else (database, pool) is logged with context and answered as a bare
//! 500 that reveals no internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::domain::Invalid;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refusal that is the caller's to fix; nothing was written.
    #[error("{0}")]
    Api(ApiError),
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("connection pool error: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The transaction kept failing to serialize after every retry.
    #[error("gave up after {attempts} attempts on serialization failures")]
    Contention { attempts: u32 },
    /// Something the service relies on does not hold (a stored value it cannot read, say):
    /// logged, and answered as a bare 500, never as the caller's error.
    #[error("invariant violated: {0}")]
    Invariant(String),
}

impl Error {
    /// A low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Api(e) => e.code,
            Error::Db(_) => "db",
            Error::Pool(_) => "pool",
            Error::Contention { .. } => "contention",
            Error::Invariant(_) => "invariant",
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(e)
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Api(e.into())
    }
}

/// The JSON error every handler answers with: `{"error": {"code", "message", "field"?, ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extra machine-readable context, e.g. the serving region's endpoint on a 421.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            details: None,
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn member_not_found() -> Self {
        Self::not_found("member_not_found", "no such member")
    }

    pub fn partner_not_found() -> Self {
        Self::not_found("partner_not_found", "no such partner")
    }

    /// This instance's region has no row in `regions`: it cannot serve anyone.
    pub fn region_unknown(region: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "region_unknown",
            format!("this instance's region {region} is not declared"),
        )
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// The JSON body of this error, as stored in idempotency records and sent on the wire.
    pub fn body(&self) -> Value {
        serde_json::json!({ "error": self })
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::unprocessable(e.code, e.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Api(api) => api,
            Error::Contention { attempts } => {
                tracing::warn!(
                    attempts,
                    "transaction abandoned after repeated serialization failures"
                );
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "contention",
                    "too much contention on this member; retry with the same Idempotency-Key",
                )
            }
            Error::Pool(err) => {
                // The cause (a refused TLS handshake, say) is only in the source chain.
                tracing::error!(error = %err, causes = %causes(&err), "database pool unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "database unavailable",
                )
            }
            Error::Db(err) => {
                tracing::error!(error = %err, sqlstate = ?err.code().map(|c| c.code()), "database error");
                ApiError::internal()
            }
            Error::Invariant(what) => {
                tracing::error!(%what, "internal invariant violated");
                ApiError::internal()
            }
        }
    }
}

/// The chain of `err`'s sources, outermost first: "a: b: c".
fn causes(err: &dyn std::error::Error) -> String {
    let mut chain = Vec::new();
    let mut next = err.source();
    while let Some(cause) = next {
        chain.push(cause.to_string());
        next = cause.source();
    }
    chain.join(": ")
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
