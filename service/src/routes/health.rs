//! `/healthz` (the process is alive), `/readyz` (the database answers and this region is
//! active) and `/metrics` (Prometheus text format).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "alive" }))
}

/// Also reports the campaign set version this instance evaluates, so a marketer (or a
/// test) can see when a campaign change is live here.
async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    let campaigns_version = app.programme.snapshot().campaigns_version;
    match app.db.region_info(app.region()).await {
        Ok(Some((state, _))) if state == "active" => (
            StatusCode::OK,
            Json(
                json!({ "status": "ready", "region_state": state, "campaigns_version": campaigns_version }),
            ),
        ),
        Ok(Some((state, _))) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "not_ready", "reason": "region_not_active", "region_state": state }),
            ),
        ),
        Ok(None) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reason": "region_unknown" })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not_ready", "reason": "database_unavailable" })),
            )
        }
    }
}

async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.db.metrics().render(),
    )
}
