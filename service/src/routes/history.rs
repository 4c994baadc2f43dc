//! `GET /v1/members/{member_id}/history?limit=&cursor=`: ledger entries, newest first.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::openapi::MemberReadRefusals;
use super::{ApiPath, ApiQuery, AppState, MemberPath};
use crate::domain::schema::bounded_integer;
use crate::store::HistoryPage;
use crate::store::history::ExpiringView;
use crate::store::history::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// The `days` window of `expiring`: its default and its bound.
const DEFAULT_EXPIRING_DAYS: i64 = 30;
const MAX_EXPIRING_DAYS: i64 = 365;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history))
        .routes(routes!(expiring))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryParams {
    /// Entries per page (default 50).
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = cursor_schema)]
    cursor: Option<String>,
}

fn limit_schema() -> RefOr<Schema> {
    bounded_integer(1, MAX_PAGE_SIZE, "entries per page")
}

/// A cursor is the sequence number of the last entry of a page: a positive `i64`.
fn cursor_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[1-9][0-9]*$"))
        .max_length(Some(18))
        .into()
}

/// Ledger entries, newest first.
#[utoipa::path(get, path = "/v1/members/{member_id}/history", tag = "members",
    params(MemberPath, HistoryParams),
    responses((status = 200, description = "one page of entries", body = HistoryPage), MemberReadRefusals))]
#[tracing::instrument(skip(app, params))]
async fn history(
    State(app): State<AppState>,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExpiringParams {
    /// The window in days (default 30).
    #[param(schema_with = days_schema)]
    days: Option<i64>,
}

fn days_schema() -> RefOr<Schema> {
    bounded_integer(1, MAX_EXPIRING_DAYS, "days ahead")
}

/// Points expiring within `days`.
#[utoipa::path(get, path = "/v1/members/{member_id}/expiring", tag = "members",
    params(MemberPath, ExpiringParams),
    responses((status = 200, description = "the lots expiring soon", body = ExpiringView), MemberReadRefusals))]
#[tracing::instrument(skip(app, params))]
async fn expiring(
    State(app): State<AppState>,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    ApiQuery(params): ApiQuery<ExpiringParams>,
) -> Result<Json<ExpiringView>, ApiError> {
    let days = params.days.unwrap_or(DEFAULT_EXPIRING_DAYS);
    if !(1..=MAX_EXPIRING_DAYS).contains(&days) {
        return Err(ApiError::bad_request(
            "invalid_days",
            format!("days must be 1..={MAX_EXPIRING_DAYS}"),
        )
        .with_field("days"));
    }
    Ok(Json(app.db.expiring(app.region(), member_id, days).await?))
}
