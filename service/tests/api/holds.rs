use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ALICE, TestApp, spawn_app};

async fn hold(app: &TestApp, points: i64, ttl_s: Option<u64>) -> String {
    let mut body = json!({"points": points, "reference": "BOOKING-1"});
    if let Some(ttl) = ttl_s {
        body["ttl_s"] = json!(ttl);
    }
    let res = app.post(&format!("/v1/members/{ALICE}/holds"), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["hold_id"].as_str().unwrap().to_owned()
}

fn path(hold_id: &str, action: &str) -> String {
    format!("/v1/members/{ALICE}/holds/{hold_id}/{action}")
}

#[tokio::test]
async fn a_hold_reserves_points_and_a_full_capture_spends_them() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let id = hold(&app, 400, None).await;
    let b = app.balance(ALICE).await;
    assert_eq!(
        (b["available"].as_i64(), b["held"].as_i64()),
        (Some(600), Some(400))
    );
    let res = app.post(&path(&id, "capture"), json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["captured"], 400);
    let b = app.balance(ALICE).await;
    assert_eq!(
        (b["available"].as_i64(), b["held"].as_i64()),
        (Some(600), Some(0))
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn a_partial_capture_releases_the_rest() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let id = hold(&app, 400, None).await;
    let res = app
        .post(&path(&id, "capture"), json!({"points": 150}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["released"], 250);
    let b = app.balance(ALICE).await;
    assert_eq!(
        (b["available"].as_i64(), b["held"].as_i64()),
        (Some(850), Some(0))
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn voiding_a_hold_gives_every_point_back() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let id = hold(&app, 1_000, None).await;
    let res = app
        .send(app.http.post(format!("{}{}", app.base, path(&id, "void"))))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["released"], 1_000);
    assert_eq!(app.balance(ALICE).await["available"], 1_000);
    app.assert_audit_clean().await;
}

/// Each illegal transition or amount: status, code, and no write.
#[tokio::test]
async fn illegal_hold_transitions_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let voided = hold(&app, 100, None).await;
    app.send(
        app.http
            .post(format!("{}{}", app.base, path(&voided, "void"))),
    )
    .await;
    let captured = hold(&app, 100, None).await;
    app.post(&path(&captured, "capture"), json!({})).await;
    let active = hold(&app, 100, None).await;
    let unknown = Uuid::new_v4().to_string();

    let cases: Vec<(&str, String, Value, StatusCode, &str)> = vec![
        (
            "capture after void",
            path(&voided, "capture"),
            json!({}),
            StatusCode::CONFLICT,
            "hold_not_active",
        ),
        (
            "void after capture",
            path(&captured, "void"),
            Value::Null,
            StatusCode::CONFLICT,
            "hold_not_active",
        ),
        (
            "double capture",
            path(&captured, "capture"),
            json!({}),
            StatusCode::CONFLICT,
            "hold_not_active",
        ),
        (
            "double void",
            path(&voided, "void"),
            Value::Null,
            StatusCode::CONFLICT,
            "hold_not_active",
        ),
        (
            "capture more than held",
            path(&active, "capture"),
            json!({"points": 101}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "capture_exceeds_hold",
        ),
        (
            "capture zero",
            path(&active, "capture"),
            json!({"points": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_points",
        ),
        (
            "unknown hold",
            path(&unknown, "capture"),
            json!({}),
            StatusCode::NOT_FOUND,
            "hold_not_found",
        ),
        (
            "hold more than available",
            format!("/v1/members/{ALICE}/holds"),
            json!({"points": 801, "reference": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_points",
        ),
        (
            "hold with zero ttl",
            format!("/v1/members/{ALICE}/holds"),
            json!({"points": 1, "reference": "X", "ttl_s": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ttl",
        ),
        (
            "hold with huge ttl",
            format!("/v1/members/{ALICE}/holds"),
            json!({"points": 1, "reference": "X", "ttl_s": 10_000_000}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ttl",
        ),
    ];
    for (name, path, body, status, code) in cases {
        let before = app.footprint().await;
        let url = format!("{}{path}", app.base);
        let req = if body.is_null() {
            app.http.post(url)
        } else {
            app.http.post(url).json(&body)
        };
        let res = app.send(req).await;
        assert_eq!(res.status, status, "{name}: {}", res.body);
        assert_eq!(res.code(), code, "{name}");
        assert_eq!(app.footprint().await, before, "{name} wrote something");
    }
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn expired_holds_return_their_points_and_cannot_be_captured() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 500).await;
    let id = hold(&app, 200, Some(1)).await;
    let keep = hold(&app, 100, Some(3_600)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let late = app.post(&path(&id, "capture"), json!({})).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.code(), "hold_expired");
    let job = app.post("/v1/admin/jobs/sweep", Value::Null).await;
    assert_eq!(job.body["holds_expired"], 1);
    let again = app.post("/v1/admin/jobs/sweep", Value::Null).await;
    assert_eq!(again.body["holds_expired"], 0);
    let b = app.balance(ALICE).await;
    assert_eq!(
        (b["available"].as_i64(), b["held"].as_i64()),
        (Some(400), Some(100))
    );
    let res = app.post(&path(&keep, "capture"), json!({})).await;
    assert_eq!(res.status, StatusCode::OK);
    app.assert_audit_clean().await;
}
