//! Two-phase redemption: `POST /v1/members/{member_id}/holds`, then
//! `.../holds/{hold_id}/capture` or `.../holds/{hold_id}/void`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use chrono::Duration;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{ApiJson, ApiPath, AppState, IdemKey, at};
use crate::config::MAX_HOLD_TTL_S;
use crate::domain::{Points, Reference};
use crate::error::ApiError;
use crate::store::{CaptureRequest, HoldRequest, Stored};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/members/{member_id}/holds", post(hold))
        .route(
            "/v1/members/{member_id}/holds/{hold_id}/capture",
            post(capture),
        )
        .route("/v1/members/{member_id}/holds/{hold_id}/void", post(void))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    points: i64,
    reference: String,
    ttl_s: Option<u64>,
}

#[tracing::instrument(skip(app, uri, key, json))]
async fn hold(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<HoldBody>,
) -> Result<Stored, ApiError> {
    let b = &json.body;
    let ttl_s = b.ttl_s.unwrap_or(app.config.ledger.default_hold_ttl_s);
    if ttl_s == 0 || ttl_s > MAX_HOLD_TTL_S {
        return Err(ApiError::unprocessable(
            "invalid_ttl",
            format!("ttl_s must be 1..={MAX_HOLD_TTL_S}"),
        )
        .with_field("ttl_s"));
    }
    let req = HoldRequest {
        points: Points::new(b.points).map_err(at("points"))?,
        reference: Reference::parse(&b.reference).map_err(at("reference"))?,
        ttl: Duration::seconds(ttl_s as i64),
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    Ok(app.db.hold(app.region(), member_id, &idem, req).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureBody {
    points: Option<i64>,
}

#[tracing::instrument(skip(app, uri, key, json))]
async fn capture(
    State(app): State<AppState>,
    ApiPath((member_id, hold_id)): ApiPath<(Uuid, Uuid)>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<CaptureBody>,
) -> Result<Stored, ApiError> {
    let req = CaptureRequest {
        points: json
            .body
            .points
            .map(Points::new)
            .transpose()
            .map_err(at("points"))?,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let stored = app
        .db
        .capture(app.region(), member_id, hold_id, &idem, req)
        .await?;
    if stored.status == StatusCode::OK && !stored.replayed {
        let captured = stored.body["captured"].as_u64().unwrap_or(0);
        app.db.metrics().points_redeemed.inc_by(captured);
    }
    Ok(stored)
}

/// Takes no body: voiding has no parameters.
#[tracing::instrument(skip(app, uri, key))]
async fn void(
    State(app): State<AppState>,
    ApiPath((member_id, hold_id)): ApiPath<(Uuid, Uuid)>,
    uri: Uri,
    key: IdemKey,
) -> Result<Stored, ApiError> {
    let idem = key.request("POST", uri.path(), &Value::Null);
    Ok(app.db.void(app.region(), member_id, hold_id, &idem).await?)
}
