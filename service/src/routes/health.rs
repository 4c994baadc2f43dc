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
/// test) can see when a campaign change is live here, and the region's epoch and serving
/// region. A fenced region answers 503 with the stable reason `region_not_active`: the
/// operator's prober reads that as "alive and reaching the database, but fenced", which is
/// healthy for fail-back, unlike every other 503.
async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    let campaigns_version = app.programme.snapshot().campaigns_version;
    match app.db.region_info(app.region()).await {
        Ok(Some(r)) if r.state == "active" => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "region_state": r.state,
                "epoch": r.epoch,
                "served_by": r.served_by,
                "campaigns_version": campaigns_version,
            })),
        ),
        Ok(Some(r)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "reason": "region_not_active",
                "region_state": r.state,
                "epoch": r.epoch,
                "served_by": r.served_by,
            })),
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
