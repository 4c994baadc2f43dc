//! Operator endpoints: `GET /v1/admin/audit` and `POST /v1/admin/jobs/expire-holds`.
//! Authentication arrives in a later change; deployments must keep `/v1/admin` off the
//! public ingress until then (docs/operations.md).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use crate::error::ApiError;
use crate::store::audit::AuditReport;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/audit", get(audit))
        .route("/v1/admin/jobs/expire-holds", post(expire_holds))
}

#[tracing::instrument(skip_all)]
async fn audit(State(app): State<AppState>) -> Result<Json<AuditReport>, ApiError> {
    Ok(Json(app.db.audit().await?))
}

#[tracing::instrument(skip_all)]
async fn expire_holds(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let expired = app
        .db
        .expire_holds(app.region(), app.config.jobs.batch_size)
        .await?;
    Ok(Json(json!({ "expired": expired })))
}
