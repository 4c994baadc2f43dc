//! Health, readiness, metrics, request ids and the API description.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ALICE, spawn_app};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["region_state"], "active");
    app.fund(ALICE, "BK-1", 120).await;
    app.post(
        &format!("/v1/members/{ALICE}/redeem"),
        json!({"points": 20, "reference": "R-1"}),
    )
    .await;
    let metrics = app.get("/metrics").await.body;
    let text = metrics.as_str().unwrap();
    assert!(text.contains("loyalty_points_earned_total 120"), "{text}");
    assert!(text.contains("loyalty_points_redeemed_total 20"), "{text}");
    assert!(text.contains("loyalty_http_requests_total{method=\"POST\",route=\"/v1/members/{member_id}/redeem\",status=\"201\"} 1"), "{text}");
    assert!(
        text.contains("loyalty_db_pool_wait_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_echoed() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("x-request-id").is_some());
    let res = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let spec = app.get("/openapi.json").await.body;
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 17);
    for (path, ops) in paths {
        let concrete = path
            .replace("{member_id}", &ALICE.to_string())
            .replace("{hold_id}", "00000000-0000-4000-8000-00000000ffff");
        for method in ops.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .send(
                    app.http
                        .request(method.clone(), format!("{}{concrete}", app.base)),
                )
                .await;
            assert_ne!(res.code(), "route_not_found", "{method} {path}");
            assert_ne!(
                res.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
        }
    }
}
