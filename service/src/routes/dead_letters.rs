//! A partner's dead letters (`docs/events.md`): `GET /v1/admin/partners/{partner_code}/dead-letters`
//! lists them, oldest first; `POST …/dead-letters/replay` puts all of them back in the queue,
//! `POST …/dead-letters/{event_id}/replay` one. A replayed event is delivered like a new one,
//! with the same `webhook-id`, under a fresh count of the Partner's retry attempts.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::openapi::DeadLetterRefusals;
use super::{ApiError, ApiPath, ApiQuery, AppState};
use crate::domain::schema::bounded_integer;
use crate::store::delivery::{DeadLetters, Replayed};

/// Dead letters listed when the query names no limit.
const DEFAULT_LIMIT: i64 = 100;
use crate::store::delivery::MAX_DEAD_LETTERS_PAGE;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(replay_all))
        .routes(routes!(replay_one))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct PartnerPath {
    /// The partner's code, e.g. `AF`.
    partner_code: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct DeadLetterPath {
    /// The partner's code, e.g. `AF`.
    partner_code: String,
    /// The event's id (its `webhook-id`), as the listing shows it.
    event_id: Uuid,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Dead letters per answer (default 100).
    #[param(schema_with = limit_schema)]
    limit: Option<i64>,
}

fn limit_schema() -> RefOr<Schema> {
    bounded_integer(1, MAX_DEAD_LETTERS_PAGE, "dead letters per answer")
}

/// The code, if such a partner is published.
fn known(app: &AppState, code: &str) -> Result<(), ApiError> {
    app.partners
        .snapshot()
        .get(code)
        .map(|_| ())
        .ok_or_else(ApiError::partner_not_found)
}

/// A partner's dead letters, oldest first.
#[utoipa::path(get, path = "/v1/admin/partners/{partner_code}/dead-letters", tag = "operations",
    params(PartnerPath, ListParams),
    responses((status = 200, description = "the dead letters", body = DeadLetters), DeadLetterRefusals))]
#[tracing::instrument(skip(app, params))]
async fn list(
    State(app): State<AppState>,
    ApiPath(PartnerPath { partner_code }): ApiPath<PartnerPath>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<DeadLetters>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_DEAD_LETTERS_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1..={MAX_DEAD_LETTERS_PAGE}"),
        )
        .with_field("limit"));
    }
    known(&app, &partner_code)?;
    let page = app
        .db
        .dead_letters(app.region(), &partner_code, limit)
        .await?;
    Ok(Json(page))
}

/// Puts every dead letter of the partner back in the delivery queue.
#[utoipa::path(post, path = "/v1/admin/partners/{partner_code}/dead-letters/replay", tag = "operations",
    params(PartnerPath),
    responses((status = 200, description = "how many were replayed", body = Replayed), DeadLetterRefusals))]
#[tracing::instrument(skip(app))]
async fn replay_all(
    State(app): State<AppState>,
    ApiPath(PartnerPath { partner_code }): ApiPath<PartnerPath>,
) -> Result<Json<Replayed>, ApiError> {
    known(&app, &partner_code)?;
    let replayed = app
        .db
        .replay_dead_letters(app.region(), &partner_code, None)
        .await?;
    Ok(Json(replayed))
}

/// Puts one dead letter back in the delivery queue.
#[utoipa::path(post, path = "/v1/admin/partners/{partner_code}/dead-letters/{event_id}/replay",
    tag = "operations", params(DeadLetterPath),
    responses((status = 200, description = "the dead letter was replayed", body = Replayed), DeadLetterRefusals))]
#[tracing::instrument(skip(app))]
async fn replay_one(
    State(app): State<AppState>,
    ApiPath(DeadLetterPath {
        partner_code,
        event_id,
    }): ApiPath<DeadLetterPath>,
) -> Result<Json<Replayed>, ApiError> {
    known(&app, &partner_code)?;
    let replayed = app
        .db
        .replay_dead_letters(app.region(), &partner_code, Some(event_id))
        .await?;
    if replayed.replayed == 0 {
        return Err(ApiError::not_found(
            "dead_letter_not_found",
            "no such dead letter of this partner",
        ));
    }
    Ok(Json(replayed))
}
