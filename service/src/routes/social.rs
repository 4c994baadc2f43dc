//! Member-to-member features: `POST /v1/members/{member_id}/transfers`,
//! `GET /v1/leaderboard?top=` and `GET /v1/members/{member_id}/rank?k=`.

use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiJson, ApiPath, ApiQuery, AppState, IdemKey, at};
use crate::domain::{Points, Reference};
use crate::error::ApiError;
use crate::store::leaderboard::Neighbourhood;
use crate::store::{Stored, TransferRequest};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/members/{member_id}/transfers", post(transfer))
        .route("/v1/leaderboard", get(top))
        .route("/v1/members/{member_id}/rank", get(rank))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    to_member_id: Uuid,
    points: i64,
    reference: String,
}

#[tracing::instrument(skip(app, uri, key, json))]
async fn transfer(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<TransferBody>,
) -> Result<Stored, ApiError> {
    let b = &json.body;
    let ledger = &app.config.ledger;
    let req = TransferRequest {
        to: b.to_member_id,
        points: Points::new(b.points).map_err(at("points"))?,
        reference: Reference::parse(&b.reference).map_err(at("reference"))?,
        max_points: ledger.transfer_max_points,
        daily_limit: ledger.transfer_daily_limit_points,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    Ok(app.db.transfer(app.region(), member_id, &idem, req).await?)
}

fn bounded(
    value: Option<i64>,
    default: i64,
    max: i64,
    field: &'static str,
) -> Result<i64, ApiError> {
    let value = value.unwrap_or(default.min(max));
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(
            ApiError::bad_request("invalid_limit", format!("{field} must be 1..={max}"))
                .with_field(field),
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopParams {
    top: Option<i64>,
}

/// The top of this region's residency group: a region never shows another group's members.
#[tracing::instrument(skip_all)]
async fn top(
    State(app): State<AppState>,
    ApiQuery(params): ApiQuery<TopParams>,
) -> Result<Json<Value>, ApiError> {
    let n = bounded(params.top, 10, app.config.leaderboard.max_top, "top")?;
    let group = app
        .db
        .region_info(app.region())
        .await?
        .ok_or_else(|| ApiError::region_unknown(app.region()))?
        .residency_group;
    let standings = app
        .db
        .leaderboard_top(&group, n, app.config.leaderboard.name_key.expose())
        .await?;
    Ok(Json(
        json!({ "residency_group": group, "standings": standings }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RankParams {
    k: Option<i64>,
}

#[tracing::instrument(skip(app, params))]
async fn rank(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<RankParams>,
) -> Result<Json<Neighbourhood>, ApiError> {
    let k = bounded(params.k, 3, app.config.leaderboard.max_neighbours, "k")?;
    let key = app.config.leaderboard.name_key.expose();
    Ok(Json(
        app.db
            .leaderboard_around(app.region(), member_id, k, key)
            .await?,
    ))
}
