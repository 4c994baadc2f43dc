//! Operator endpoints: `GET /v1/admin/audit` and `POST /v1/admin/jobs/sweep` (one round of
//! hold expiry, lot expiry and vesting, as the background job runs it).
//! Authentication arrives in a later change; deployments must keep `/v1/admin` off the
//! public ingress until then (docs/operations.md).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::AppState;
use crate::error::ApiError;
use crate::store::audit::AuditReport;
use crate::store::sweeps::{SweepLimits, SweepReport};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/audit", get(audit))
        .route("/v1/admin/jobs/sweep", post(sweep))
}

#[tracing::instrument(skip_all)]
async fn audit(State(app): State<AppState>) -> Result<Json<AuditReport>, ApiError> {
    Ok(Json(app.db.audit().await?))
}

#[tracing::instrument(skip_all)]
async fn sweep(State(app): State<AppState>) -> Result<Json<SweepReport>, ApiError> {
    let ladder = app.programme.snapshot().tiers.clone();
    let report = app
        .db
        .run_sweeps(app.region(), SweepLimits::from_config(&app.config), &ladder)
        .await?;
    Ok(Json(report))
}
