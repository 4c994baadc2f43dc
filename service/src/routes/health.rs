//! `/healthz` (the process is alive), `/readyz` (the database answers and this region is
//! active) and `/metrics` (Prometheus text format).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::api::{Alive, NotReady, NotReadyReason, Ready, ReadyStatus, to_body};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "the process is alive", body = Alive)))]
async fn healthz() -> Json<Value> {
    Json(to_body(&Alive { status: "alive" }))
}

/// Readiness: the database answers and this region is active.
///
/// Also reports the campaign set version this instance evaluates, so a marketer (or a
/// test) can see when a campaign change is live here, and the region's epoch and serving
/// region. A fenced region answers 503 with the stable reason `region_not_active`: the
/// operator's prober reads that as "alive and reaching the database, but fenced", which is
/// healthy for fail-back, unlike every other 503.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready", body = Ready),
        (status = 503, description = "not ready, with a stable `reason`", body = NotReady)))]
async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    // Through a `Value`, so the keys stay sorted as clients have always seen them.
    match readiness(&app).await {
        Ok(ready) => (StatusCode::OK, Json(to_body(&ready))),
        Err(not_ready) => (StatusCode::SERVICE_UNAVAILABLE, Json(to_body(&not_ready))),
    }
}

async fn readiness(app: &AppState) -> Result<Ready, NotReady> {
    let campaigns_version = app.programme.snapshot().campaigns_version;
    match app.db.region_info(app.region()).await {
        Ok(Some(r)) if r.state == "active" => Ok(Ready {
            status: ReadyStatus::Ready,
            region_state: r.state,
            epoch: r.epoch,
            served_by: r.served_by,
            campaigns_version,
        }),
        Ok(Some(r)) => Err(NotReady {
            region_state: Some(r.state),
            epoch: Some(r.epoch),
            served_by: Some(r.served_by),
            ..NotReady::because(NotReadyReason::RegionNotActive)
        }),
        Ok(None) => Err(NotReady::because(NotReadyReason::RegionUnknown)),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(NotReady::because(NotReadyReason::DatabaseUnavailable))
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.db.metrics().render(),
    )
}
