//! `GET /v1/members/{member_id}/export`: everything held about the member (docs/privacy.md),
//! streamed as one JSON document.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::MemberReadRefusals;
use super::{ApiError, ApiPath, AppState, MemberPath};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// Everything held about a member: profile, balance, tier history, lots, holds, referrals,
/// activities and every ledger entry with its reason, from one snapshot. Streamed: a failure
/// after the first bytes ends the body early (the document is then not valid JSON).
#[utoipa::path(get, path = "/v1/members/{member_id}/export", tag = "members", params(MemberPath),
    responses((status = 200, description = "the member's data", body = Object, content_type = "application/json"),
        MemberReadRefusals))]
#[tracing::instrument(skip(app))]
async fn export(
    State(app): State<AppState>,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
) -> Result<Response, ApiError> {
    let chunks = app.db.export(app.region(), member_id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(chunks),
    )
        .into_response())
}
