//! Why a request was refused before its handler ran: a 401, 403 or 429 with a stable
//! `code`, the `WWW-Authenticate` challenge of RFC 6750 and, for 429, `Retry-After`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Scope;
use crate::routes::ApiError;

/// The realm of every challenge.
const REALM: &str = "loyalty";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this route needs a bearer token")]
    MissingToken,
    #[error("the token is not a well-formed JWT: {0}")]
    MalformedToken(String),
    #[error("the token's algorithm is not allowed (RS256, ES256 and EdDSA are)")]
    AlgorithmNotAllowed,
    #[error("the token's key id is not in the identity provider's key set")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("a member token's subject must be the member id")]
    InvalidSubject,
    #[error("the token lacks a scope this route needs")]
    InsufficientScope(&'static [Scope]),
    #[error("too many requests")]
    RateLimited(Duration),
}

impl Refusal {
    /// The stable machine-readable code, also the `reason` label of the failure metric.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::MissingToken => "missing_token",
            Refusal::MalformedToken(_) => "malformed_token",
            Refusal::AlgorithmNotAllowed => "algorithm_not_allowed",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "token_expired",
            Refusal::NotYetValid => "token_not_yet_valid",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::InvalidSubject => "invalid_subject",
            Refusal::InsufficientScope(_) => "insufficient_scope",
            Refusal::RateLimited(_) => "rate_limited",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Refusal::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Refusal::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 challenge: no error code when no token came, `insufficient_scope` with
    /// the scopes that would do, `invalid_token` otherwise.
    fn challenge(&self) -> Option<String> {
        match self {
            Refusal::RateLimited(_) => None,
            Refusal::MissingToken => Some(format!("Bearer realm=\"{REALM}\"")),
            Refusal::InsufficientScope(scopes) => {
                let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                Some(format!(
                    "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{}\"",
                    names.join(" ")
                ))
            }
            other => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
                other.code()
            )),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let challenge = self.challenge();
        let retry_after = match &self {
            Refusal::RateLimited(wait) => Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            _ => None,
        };
        let mut response =
            ApiError::new(self.status(), self.code(), self.to_string()).into_response();
        let headers = response.headers_mut();
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}
