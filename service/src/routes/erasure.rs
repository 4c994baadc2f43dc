//! `POST /v1/members/{member_id}/erasure`: erase a member by destroying their data key
//! (ADR 0021, docs/privacy.md).

use axum::extract::State;
use axum::http::Uri;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::BodilessWriteRefusals;
use super::{ApiError, ApiPath, AppState, IdemKey, MemberPath, Written};
use crate::auth::Caller;
use crate::store::ErasureView;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(erase))
}

/// Erase a member: their data key is destroyed, so their profile can no longer be read here
/// or in any backup; active holds are voided and the remaining points forfeited; the ledger
/// and its audit stay. Takes no body. Erasing an erased member answers `already_erased`.
#[utoipa::path(post, path = "/v1/members/{member_id}/erasure", tag = "members",
    params(MemberPath, IdemKey),
    responses((status = 200, description = "erased", body = ErasureView), BodilessWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key))]
async fn erase(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    uri: Uri,
    key: IdemKey,
) -> Result<Written<ErasureView>, ApiError> {
    let idem = key.request("POST", uri.path(), &Value::Null);
    let committed = app
        .db
        .acting_as(caller.actor())
        .erase(app.region(), member_id, &idem)
        .await?;
    Ok(Written::ok(committed))
}
