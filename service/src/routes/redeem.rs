//! `POST /v1/members/{member_id}/redeem`: direct redemption.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiJson, ApiPath, AppState, IdemKey, at};
use crate::domain::{Points, Reference};
use crate::error::ApiError;
use crate::store::{RedeemRequest, Stored};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/members/{member_id}/redeem", post(redeem))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemBody {
    points: i64,
    reference: String,
}

#[tracing::instrument(skip(app, uri, key, json))]
async fn redeem(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<RedeemBody>,
) -> Result<Stored, ApiError> {
    let req = RedeemRequest {
        points: Points::new(json.body.points).map_err(at("points"))?,
        reference: Reference::parse(&json.body.reference).map_err(at("reference"))?,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let points = req.points.get();
    let stored = app.db.redeem(app.region(), member_id, &idem, req).await?;
    if stored.status == StatusCode::CREATED && !stored.replayed {
        app.db
            .metrics()
            .points_redeemed
            .inc_by(points.unsigned_abs());
    }
    Ok(stored)
}
