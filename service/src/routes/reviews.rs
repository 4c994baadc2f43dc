//! The fraud review queue (docs/fraud.md): `GET /v1/admin/reviews`, and
//! `POST /v1/admin/reviews/{review_id}/approve` or `.../reject`; and how a screened write
//! (redemption, hold, transfer) answers: 201 when done, 202 when sent to review.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::openapi::{GroupReadRefusals, ReviewDecisionRefusals};
use super::{ApiError, ApiPath, ApiQuery, AppState, IdemKey, Written};
use crate::api::{ReviewDecided, ReviewQueue, Screened};
use crate::auth::Caller;
use crate::domain::fraud::ReviewState;
use crate::store::{Committed, Decision, ReviewFilter};

/// Reviews listed at most per request.
const MAX_REVIEWS_PER_PAGE: i64 = 200;
const DEFAULT_REVIEWS_PER_PAGE: i64 = 50;
const _: () = assert!(DEFAULT_REVIEWS_PER_PAGE <= MAX_REVIEWS_PER_PAGE);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// 201 for a completed write, 202 for one the fraud rules sent to review; a fresh review
/// counts its flags by rule.
pub fn screened<T>(app: &AppState, committed: Committed<Screened<T>>) -> Written<Screened<T>> {
    match &committed.value {
        Screened::UnderReview(review) => {
            if !committed.replayed {
                for rule in &review.flagged_by {
                    app.db
                        .metrics()
                        .fraud
                        .flags
                        .with_label_values(&[rule.as_str()])
                        .inc();
                }
            }
            Written::with_status(StatusCode::ACCEPTED, committed)
        }
        Screened::Done(_) => Written::created(committed),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Which reviews: `open` (the default; oldest first) or a decided state (newest first).
    state: Option<ReviewState>,
    /// At most this many (1..=200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The fraud review queue of the members this region serves.
#[utoipa::path(get, path = "/v1/admin/reviews", tag = "operations", params(ListQuery),
    responses((status = 200, description = "the reviews", body = ReviewQueue), GroupReadRefusals))]
#[tracing::instrument(skip_all)]
async fn list(
    State(app): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ReviewQueue>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_REVIEWS_PER_PAGE);
    if !(1..=MAX_REVIEWS_PER_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1..={MAX_REVIEWS_PER_PAGE}"),
        )
        .with_field("limit"));
    }
    let filter = ReviewFilter {
        state: query.state.unwrap_or(ReviewState::Open),
        limit,
    };
    let reviews = app.db.reviews(app.region(), filter).await?;
    Ok(Json(ReviewQueue { reviews }))
}

/// The path of a review's routes.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct ReviewPath {
    /// The review's id, as the flagged request's 202 answered it.
    review_id: Uuid,
}

async fn decide(
    app: AppState,
    caller: Caller,
    review_id: Uuid,
    uri: Uri,
    key: IdemKey,
    decision: Decision,
) -> Result<Written<ReviewDecided>, ApiError> {
    let idem = key.request("POST", uri.path(), &Value::Null);
    let committed = app
        .db
        .acting_as(caller.actor())
        .decide_review(app.region(), review_id, decision, &idem)
        .await?;
    if !committed.replayed {
        let state = committed.value.state.as_str();
        let fraud = &app.db.metrics().fraud;
        fraud.decisions.with_label_values(&[state]).inc();
    }
    Ok(Written::ok(committed))
}

/// Approve a review: the redemption is captured, the hold becomes active, or the transfer
/// is sent. Takes no body.
#[utoipa::path(post, path = "/v1/admin/reviews/{review_id}/approve", tag = "operations",
    params(ReviewPath, IdemKey),
    responses((status = 200, description = "approved", body = ReviewDecided), ReviewDecisionRefusals))]
#[tracing::instrument(skip(app, caller, uri, key))]
async fn approve(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(ReviewPath { review_id }): ApiPath<ReviewPath>,
    uri: Uri,
    key: IdemKey,
) -> Result<Written<ReviewDecided>, ApiError> {
    decide(app, caller, review_id, uri, key, Decision::Approve).await
}

/// Reject a review: the hold is voided and the points go back to the member. Takes no body.
#[utoipa::path(post, path = "/v1/admin/reviews/{review_id}/reject", tag = "operations",
    params(ReviewPath, IdemKey),
    responses((status = 200, description = "rejected", body = ReviewDecided), ReviewDecisionRefusals))]
#[tracing::instrument(skip(app, caller, uri, key))]
async fn reject(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(ReviewPath { review_id }): ApiPath<ReviewPath>,
    uri: Uri,
    key: IdemKey,
) -> Result<Written<ReviewDecided>, ApiError> {
    decide(app, caller, review_id, uri, key, Decision::Reject).await
}
