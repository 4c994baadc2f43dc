//! Operator endpoints: `GET /v1/admin/audit` and `POST /v1/admin/jobs/sweep` (one round of
//! hold expiry, lot expiry and vesting, as the background job runs it).
//! Authentication arrives in a later change; deployments must keep `/v1/admin` off the
//! public ingress until then (docs/operations.md).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::AppState;
use super::openapi::AdminRefusals;
use crate::auth::Caller;
use crate::store::audit::AuditReport;
use crate::store::sweeps::{SweepLimits, SweepReport};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit))
        .routes(routes!(sweep))
}

/// Check every ledger invariant.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "operations",
    responses((status = 200, description = "the audit report", body = AuditReport), AdminRefusals))]
#[tracing::instrument(skip_all)]
async fn audit(State(app): State<AppState>) -> Result<Json<AuditReport>, ApiError> {
    Ok(Json(app.db.audit().await?))
}

/// One round of hold expiry, lot expiry, vesting and pruning, as the background job runs it.
#[utoipa::path(post, path = "/v1/admin/jobs/sweep", tag = "operations",
    responses((status = 200, description = "what the round did", body = SweepReport), AdminRefusals))]
#[tracing::instrument(skip_all)]
async fn sweep(State(app): State<AppState>, caller: Caller) -> Result<Json<SweepReport>, ApiError> {
    let ladder = app.programme.snapshot().tiers.clone();
    let report = app
        .db
        .acting_as(caller.actor())
        .run_sweeps(app.region(), SweepLimits::from_config(&app.config), &ladder)
        .await?;
    Ok(Json(report))
}
