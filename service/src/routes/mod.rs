//! The HTTP API, v1. Each resource's module exports its routes; this module holds the
//! shared state and the extractors that turn raw requests into checked values or a JSON
//! error with a stable code.

mod activities;
mod admin;
mod api_error;
mod dead_letters;
mod earn;
mod erasure;
mod export;
mod health;
mod history;
mod holds;
mod members;
pub mod openapi;
mod partners;
mod redeem;
mod refusals;
mod reviews;
mod social;
mod statement;
mod valuation;

pub use api_error::ApiError;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::auth::Auth;
use crate::config::Config;
use crate::domain::{IdempotencyKey, Invalid};
use crate::partners::PartnerDirectory;
use crate::store::{Committed, Db, EarnWindows, IdemRequest, ProgrammeCache};

/// Largest request body accepted; every v1 body is far smaller.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What every handler can reach. Every middleware layer and the handler take their own
/// copy of the state for each request, so a clone is one reference count (the fields
/// themselves hold a dozen `Arc`s and the digest verifier's key id).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
pub struct Shared {
    pub db: Db,
    pub programme: ProgrammeCache,
    pub partners: PartnerDirectory,
    pub config: Arc<Config>,
    pub auth: Arc<Auth>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl From<Shared> for AppState {
    fn from(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Shared {
    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// How long earned points live and count towards the tier, from the configuration.
    pub fn earn_windows(&self) -> EarnWindows {
        let ledger = &self.config.ledger;
        EarnWindows {
            lot_expiry: chrono::Duration::days(i64::from(ledger.lot_expiry_days)),
            qualifying: chrono::Duration::days(i64::from(ledger.qualifying_window_days)),
        }
    }

    /// This instance's residency group; 503 `region_unknown` when its region is not declared.
    pub async fn residency_group(&self) -> Result<String, ApiError> {
        let info = self.db.region_info(self.region()).await?;
        let info = info.ok_or_else(|| crate::domain::Refusal::RegionUnknown {
            region: self.region().to_owned(),
        })?;
        Ok(info.residency_group)
    }
}

/// All routes of the API.
pub fn router() -> Router<AppState> {
    documented().split_for_parts().0
}

/// All routes with their descriptions: each resource registers its handlers through
/// `utoipa_axum::routes!`, which adds the route and its `#[utoipa::path]` together.
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(members::routes())
        .merge(earn::routes())
        .merge(redeem::routes())
        .merge(holds::routes())
        .merge(history::routes())
        .merge(social::routes())
        .merge(valuation::routes())
        .merge(activities::routes())
        .merge(statement::routes())
        .merge(export::routes())
        .merge(erasure::routes())
        .merge(admin::routes())
        .merge(reviews::routes())
        .merge(dead_letters::routes())
        .merge(partners::routes())
        .merge(health::routes())
        .merge(openapi::routes())
}

/// The path of every member route.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The member's id.
    pub member_id: Uuid,
}

/// The path of a hold's routes.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct HoldPath {
    /// The member's id.
    pub member_id: Uuid,
    /// The hold's id, as the hold's creation answered it.
    pub hold_id: Uuid,
}

/// A JSON body: `application/json`, within [`MAX_BODY_BYTES`], well-formed, and matching
/// `T` exactly (request types deny unknown fields). Keeps the parsed JSON for the
/// idempotency fingerprint.
pub struct ApiJson<T> {
    pub body: T,
    pub raw: Value,
}

impl<T: DeserializeOwned> ApiJson<T> {
    /// Parses a body already read (by [`JsonBytes`]), e.g. after checking its signature.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
        })?;
        let body = serde_path_to_error::deserialize(&raw).map_err(|e| {
            let field = e.path().to_string();
            ApiError::unprocessable("invalid_body", e.into_inner().to_string()).with_field(field)
        })?;
        Ok(Self { body, raw })
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        Self::parse(&bytes)
    }
}

/// The bytes of an `application/json` body within [`MAX_BODY_BYTES`], not yet parsed.
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            ));
        }
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body must be at most {MAX_BODY_BYTES} bytes"),
                )
            })
    }
}

/// Path parameters, with a JSON 400 instead of axum's plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

/// Query parameters, with a JSON 400 instead of axum's plain-text rejection.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// The optional `Idempotency-Key` header, checked.
pub struct IdemKey(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdemKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let text = value.to_str().map_err(|_| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be printable ASCII",
            )
        })?;
        IdempotencyKey::parse(text)
            .map(|k| Self(Some(k)))
            .map_err(|e| ApiError::bad_request(e.code, e.message).with_field("Idempotency-Key"))
    }
}

impl IdemKey {
    /// The fingerprint of this request for the idempotency record.
    pub fn request(&self, method: &str, path: &str, body: &Value) -> IdemRequest {
        IdemRequest::new(
            self.0.as_ref().map(IdempotencyKey::as_str),
            method,
            path,
            body,
        )
    }
}

/// Maps a value's parse failure to a 422 naming the request field.
pub fn at(field: &'static str) -> impl Fn(Invalid) -> ApiError {
    move |e| ApiError::from(e).with_field(field)
}

/// A committed write as its route answers it: the status the route chose for the
/// operation, the typed outcome as the body, and `idempotent-replayed: true` on a replay.
pub struct Written<T> {
    status: StatusCode,
    committed: Committed<T>,
}

impl<T> Written<T> {
    /// 201: the write created something (an entry, a hold, a member).
    pub fn created(committed: Committed<T>) -> Self {
        Self {
            status: StatusCode::CREATED,
            committed,
        }
    }

    /// 200: the write changed something that exists (a hold captured or voided).
    pub fn ok(committed: Committed<T>) -> Self {
        Self::with_status(StatusCode::OK, committed)
    }

    /// Any other success status (202: a write sent to review).
    pub fn with_status(status: StatusCode, committed: Committed<T>) -> Self {
        Self { status, committed }
    }
}

impl<T: Serialize> IntoResponse for Written<T> {
    fn into_response(self) -> Response {
        // Through a `Value`, so that object keys are sorted, as clients have always seen them.
        let body = match serde_json::to_value(&self.committed.value) {
            Ok(body) => body,
            Err(e) => {
                return ApiError::from(crate::error::Error::Invariant(format!(
                    "a response failed to serialize: {e}"
                )))
                .into_response();
            }
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.committed.replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}
