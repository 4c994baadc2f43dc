//! Transfers between members and the leaderboard.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{ALICE, BRUNO, CARLA, spawn_app};

#[tokio::test]
async fn a_transfer_moves_points_atomically_and_keeps_their_expiry() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let res = app
        .as_member(ALICE)
        .post(
            &format!("/v1/members/{ALICE}/transfers"),
            json!({"to_member_id": BRUNO, "points": 300, "reference": "GIFT-1"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(app.balance(ALICE).await["available"], 700);
    assert_eq!(app.balance(BRUNO).await["available"], 300);
    let sql = app.sql().await;
    let expiries: Vec<chrono::DateTime<chrono::Utc>> = sql
        .query("SELECT expires_at FROM lots ORDER BY member_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(expiries.len(), 2);
    assert_eq!(
        expiries[0], expiries[1],
        "the received lot keeps the sent lot's expiry"
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn transfers_are_refused_across_residency_groups_beyond_limits_and_to_oneself() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 300_000).await;
    let path = format!("/v1/members/{ALICE}/transfers");
    let alice = app.as_member(ALICE);
    alice
        .post(
            &path,
            json!({"to_member_id": BRUNO, "points": 100_000, "reference": "G1"}),
        )
        .await;
    alice
        .post(
            &path,
            json!({"to_member_id": BRUNO, "points": 100_000, "reference": "G2"}),
        )
        .await;
    for (name, body, status, code) in [
        (
            "other residency group",
            json!({"to_member_id": CARLA, "points": 10, "reference": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "transfer_across_residency_groups",
        ),
        (
            "to oneself",
            json!({"to_member_id": ALICE, "points": 10, "reference": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "transfer_to_self",
        ),
        (
            "too large",
            json!({"to_member_id": BRUNO, "points": 100_001, "reference": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "transfer_too_large",
        ),
        (
            "over the daily limit",
            json!({"to_member_id": BRUNO, "points": 50_001, "reference": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "transfer_limit_reached",
        ),
        (
            "unknown recipient",
            json!({"to_member_id": Uuid::new_v4(), "points": 10, "reference": "X"}),
            StatusCode::NOT_FOUND,
            "recipient_not_found",
        ),
        (
            "more than available",
            json!({"to_member_id": BRUNO, "points": 1, "reference": "X", "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let before = app.footprint().await;
        let res = alice.post(&path, body).await;
        assert_eq!(res.status, status, "{name}: {}", res.body);
        assert_eq!(res.code(), code, "{name}");
        assert_eq!(app.footprint().await, before, "{name} wrote something");
    }
    app.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_in_both_directions_lose_nothing() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 1_000).await;
    app.fund(BRUNO, "BK-2", 1_000).await;
    let results = join_all((0..40).map(|i| {
        let app = &app;
        let (from, to) = if i % 2 == 0 {
            (ALICE, BRUNO)
        } else {
            (BRUNO, ALICE)
        };
        async move {
            app.as_member(from)
                .post(
                    &format!("/v1/members/{from}/transfers"),
                    json!({"to_member_id": to, "points": 70, "reference": format!("T-{i}")}),
                )
                .await
        }
    }))
    .await;
    for r in &results {
        assert!(
            r.status == StatusCode::CREATED || r.code() == "insufficient_points",
            "{}",
            r.body
        );
    }
    let total = app.balance(ALICE).await["available"].as_i64().unwrap()
        + app.balance(BRUNO).await["available"].as_i64().unwrap();
    assert_eq!(total, 2_000);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn the_leaderboard_ranks_by_lifetime_points_under_proxy_names() {
    let app = spawn_app().await;
    let mut members = vec![ALICE, BRUNO];
    for i in 0..5 {
        let res = app
            .post(
                "/v1/members",
                json!({"external_id": format!("lb-{i}"), "country": "FR"}),
            )
            .await;
        members.push(res.body["member_id"].as_str().unwrap().parse().unwrap());
    }
    for (i, m) in members.iter().enumerate() {
        app.fund(*m, &format!("LB-{i}"), 100 * (i as i64 + 1)).await;
    }
    let top = app.get("/v1/leaderboard?top=3").await;
    assert_eq!(top.status, StatusCode::OK, "{}", top.body);
    let points: Vec<i64> = top.body["standings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["lifetime"].as_i64().unwrap())
        .collect();
    assert_eq!(points, vec![700, 600, 500]);
    let text = top.body.to_string();
    assert!(
        !text.contains("lb-") && !text.contains(&members[6].to_string()),
        "names reveal nothing: {text}"
    );

    // ALICE has the least (100): rank 7 of the 7 EU members, three above, none below.
    let rank = app.get(&format!("/v1/members/{ALICE}/rank?k=3")).await;
    assert_eq!(rank.body["you"]["rank"], 7, "{}", rank.body);
    let above: Vec<i64> = rank.body["above"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rank"].as_i64().unwrap())
        .collect();
    assert_eq!(above, vec![4, 5, 6]);
    assert!(rank.body["below"].as_array().unwrap().is_empty());
    assert_eq!(rank.body["rank_basis"], "exact", "no bands built");
    assert_eq!(
        app.get("/v1/leaderboard?top=101").await.code(),
        "invalid_limit"
    );
    assert_eq!(
        app.get(&format!("/v1/members/{CARLA}/rank")).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
}
