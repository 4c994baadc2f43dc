//! `GET /v1/members/{member_id}/history?limit=&cursor=`: ledger entries, newest first.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiPath, ApiQuery, AppState};
use crate::error::ApiError;
use crate::store::HistoryPage;
use crate::store::history::ExpiringView;
use crate::store::history::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/members/{member_id}/history", get(history))
        .route("/v1/members/{member_id}/expiring", get(expiring))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    limit: Option<i64>,
    cursor: Option<String>,
}

#[tracing::instrument(skip(app, params))]
async fn history(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<HistoryPage>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1..={MAX_PAGE_SIZE}"),
        )
        .with_field("limit"));
    }
    let before = params
        .cursor
        .map(|c| c.parse::<i64>().ok().filter(|seq| *seq > 0))
        .map(|c| {
            c.ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
                    .with_field("cursor")
            })
        })
        .transpose()?;
    Ok(Json(
        app.db
            .history(app.region(), member_id, before, limit)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpiringParams {
    days: Option<i64>,
}

/// `GET /v1/members/{member_id}/expiring?days=30`: points expiring within `days` (1..=365).
#[tracing::instrument(skip(app, params))]
async fn expiring(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<ExpiringParams>,
) -> Result<Json<ExpiringView>, ApiError> {
    let days = params.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(
            ApiError::bad_request("invalid_days", "days must be 1..=365").with_field("days"),
        );
    }
    Ok(Json(app.db.expiring(app.region(), member_id, days).await?))
}
