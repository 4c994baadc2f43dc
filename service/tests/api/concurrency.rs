//! Many concurrent clients against the real PostgreSQL: nothing lost, duplicated or
//! negative, every request answered definitely, the audit clean afterwards.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use loyalty_service::auth::Scope;

use crate::helpers::{
    ALICE, BRUNO, builder_with, client_with, spawn_app, spawn_app_on, test_config, token,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_redemptions_never_overdraw() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let path = format!("/v1/members/{ALICE}/redeem");
    // Each asks for 37 points: the balance covers 27 of the 64.
    let results = join_all((0..64).map(|i| {
        let (app, path) = (&app, &path);
        async move {
            app.post(path, json!({"points": 37, "reference": format!("R-{i}")}))
                .await
        }
    }))
    .await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count() as i64;
    let refused = results
        .iter()
        .filter(|r| r.code() == "insufficient_points")
        .count() as i64;
    assert_eq!(
        ok + refused,
        64,
        "every request gets a definite answer: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(ok, 1_000 / 37);
    let balance = app.balance(ALICE).await;
    assert_eq!(balance["available"].as_i64().unwrap(), 1_000 - ok * 37);
    app.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_redeeming_from_one_member_never_overdraw() {
    // Two processes' worth of service (separate pools and in-process queues) on one
    // database: only SERIALIZABLE keeps them apart, and the retries absorb the conflicts.
    let a = spawn_app().await;
    let b = spawn_app_on(&a.db_url, test_config()).await;
    a.fund(BRUNO, "BK-1", 2_000).await;
    let results = join_all((0..48).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let path = format!("/v1/members/{BRUNO}/redeem");
        async move {
            app.post(&path, json!({"points": 100, "reference": format!("R-{i}")}))
                .await
        }
    }))
    .await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count() as i64;
    let refused = results
        .iter()
        .filter(|r| r.code() == "insufficient_points")
        .count() as i64;
    assert_eq!(
        ok + refused,
        48,
        "{:?}",
        results
            .iter()
            .map(|r| (r.status, r.code().to_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(ok, 20);
    assert_eq!(a.balance(BRUNO).await["available"], 0);
    a.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_booking_earned_concurrently_over_separate_connections_is_earned_once() {
    let a = spawn_app().await;
    let b = spawn_app_on(&a.db_url, test_config()).await;
    let body = json!({"source": "hotel-bookings", "booking_ref": "BK-RACE", "product": "hotel",
                      "spend": {"amount_minor": 50_000, "currency": "EUR"}});
    let results = join_all((0..16).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        // A fresh client per request: separate HTTP connections, separate pooled DB connections.
        let http = client_with(Some(&token("hotel-bookings", &[Scope::Earn])));
        let url = format!("{}/v1/members/{ALICE}/earn", app.base);
        let body = body.clone();
        async move { app.send(http.post(url).json(&body)).await }
    }))
    .await;
    for r in &results {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(
            r.body, results[0].body,
            "every caller sees the original response"
        );
    }
    let sql = a.sql().await;
    let n: i64 = sql
        .query_one("SELECT COUNT(*)::BIGINT FROM ledger_entries WHERE kind = 'earn' AND reference = 'BK-RACE'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert_eq!(a.balance(ALICE).await["available"], 5_000);
    a.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interleaved_holds_captures_voids_and_expiry_keep_the_ledger_exact() {
    let a = spawn_app().await;
    let b = spawn_app_on(&a.db_url, test_config()).await;
    a.fund(ALICE, "BK-1", 5_000).await;
    let flows = join_all((0..24).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        async move {
            let ttl = if i % 4 == 3 { 1 } else { 600 };
            let res = app
                .post(
                    &format!("/v1/members/{ALICE}/holds"),
                    json!({"points": 150 + i, "reference": format!("H-{i}"), "ttl_s": ttl}),
                )
                .await;
            if res.status != StatusCode::CREATED {
                assert_eq!(res.code(), "insufficient_points", "{}", res.body);
                return;
            }
            let id = res.body["hold_id"].as_str().unwrap().to_owned();
            let base = format!("/v1/members/{ALICE}/holds/{id}");
            match i % 4 {
                0 => assert_eq!(
                    app.post(&format!("{base}/capture"), json!({})).await.status,
                    StatusCode::OK
                ),
                1 => assert_eq!(
                    app.post(&format!("{base}/capture"), json!({"points": 50}))
                        .await
                        .status,
                    StatusCode::OK
                ),
                2 => {
                    let res = app
                        .send(app.http.post(format!("{}{base}/void", app.base)))
                        .await;
                    assert_eq!(res.status, StatusCode::OK);
                }
                _ => {}
            }
        }
    }));
    // Expiry sweeps run from both instances while the flows are in progress.
    let sweeps = async {
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (x, y) = tokio::join!(
                a.post("/v1/admin/jobs/sweep", json!(null)),
                b.post("/v1/admin/jobs/sweep", json!(null))
            );
            assert_eq!(x.status, StatusCode::OK);
            assert_eq!(y.status, StatusCode::OK);
        }
    };
    tokio::join!(flows, sweeps);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    a.post("/v1/admin/jobs/sweep", json!(null)).await;
    let balance = a.balance(ALICE).await;
    assert_eq!(balance["held"], 0, "{balance}");
    a.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forced_serialization_failure_is_retried_and_the_request_succeeds() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 100).await;
    let sql = app.sql().await;
    // A concurrent writer holds the balance row while the service's transaction starts; when
    // it commits, the service's snapshot is stale and PostgreSQL raises 40001.
    sql.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap();
    sql.execute(
        "UPDATE balances SET updated_at = now() WHERE member_id = $1",
        &[&ALICE],
    )
    .await
    .unwrap();
    let path = format!("/v1/members/{ALICE}/redeem");
    let request = app.post(&path, json!({"points": 10, "reference": "R-1"}));
    let interfere = async {
        let watcher = app.sql().await;
        // Wait until the service's transaction is blocked on the row lock.
        for _ in 0..200 {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT COUNT(*)::BIGINT FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sql.batch_execute("COMMIT").await.unwrap();
    };
    let (res, ()) = tokio::join!(request, interfere);
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let metrics = app.get("/metrics").await.body;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("loyalty_tx_retries_total{sqlstate=\"40001\"} 1"),
        "{text}"
    );
    assert_eq!(app.balance(ALICE).await["available"], 90);
    app.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_hanging_up_mid_transaction_leaves_no_transaction_open() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 100).await;
    // Hold Alice's balance row so the service's redemption waits inside its transaction.
    let sql = app.sql().await;
    sql.batch_execute("BEGIN").await.unwrap();
    sql.execute(
        "SELECT 1 FROM balances WHERE member_id = $1 FOR UPDATE",
        &[&ALICE],
    )
    .await
    .unwrap();
    let impatient = builder_with(Some(&token("checkout", &[Scope::Bookings])))
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let path = format!("/v1/members/{ALICE}/redeem");
    let body = json!({"points": 10, "reference": "R-1"});
    let gave_up = impatient
        .post(format!("{}{path}", app.base))
        .header("Idempotency-Key", "R-1")
        .json(&body)
        .send()
        .await;
    assert!(gave_up.is_err(), "the request should time out on the lock");
    sql.batch_execute("COMMIT").await.unwrap();
    // The abandoned transaction must end rather than wait in the pool for the next request
    // to run (and commit) inside it.
    let mut open: i64 = -1;
    for _ in 0..100 {
        open = sql
            .query_one(
                "SELECT COUNT(*)::BIGINT FROM pg_stat_activity \
                 WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0, "a pooled connection was left inside a transaction");
    // Nothing of the abandoned attempt was written; the client's retry redeems exactly once.
    assert_eq!(app.balance(ALICE).await["available"], 100);
    let retried = app.post_idem(&path, "R-1", body.clone()).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    let again = app.post_idem(&path, "R-1", body).await;
    assert!(again.replayed);
    assert_eq!(app.balance(ALICE).await["available"], 90);
    app.assert_audit_clean().await;
}
