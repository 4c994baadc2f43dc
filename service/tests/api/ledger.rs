use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ALICE, BRUNO, spawn_app};

fn hotel(booking_ref: &str, amount_minor: i64, currency: &str) -> serde_json::Value {
    json!({"source": "hotel-bookings", "booking_ref": booking_ref, "product": "hotel",
           "spend": {"amount_minor": amount_minor, "currency": currency}})
}

#[tokio::test]
async fn earning_a_booking_credits_points_and_explains_them() {
    let app = spawn_app().await;
    let res = app
        .post(
            &format!("/v1/members/{ALICE}/earn"),
            hotel("BK-1", 12_399, "EUR"),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    // 123.99 EUR at 10 points per EUR, rounded down.
    assert_eq!(res.body["points"], 1_239);
    assert_eq!(res.body["calculation"]["points_per_eur_milli"], 10_000);
    assert_eq!(res.body["balance"]["available"], 1_239);
    let balance = app.balance(ALICE).await;
    assert_eq!(balance["available"], 1_239);
    assert_eq!(balance["lifetime"], 1_239);
    let history = app.get(&format!("/v1/members/{ALICE}/history")).await;
    let entry = &history.body["entries"][0];
    assert_eq!(entry["kind"], "earn");
    assert_eq!(entry["points"], 1_239);
    assert_eq!(entry["reference"], "BK-1");
    assert_eq!(entry["details"]["calculation"]["base_points"], 1_239);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn a_quote_matches_the_earn_and_writes_nothing() {
    let app = spawn_app().await;
    let before = app.footprint().await;
    let quote = app
        .post(
            "/v1/quote",
            json!({"product": "flight", "spend": {"amount_minor": 54_321, "currency": "JPY"}}),
        )
        .await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    assert_eq!(app.footprint().await, before);
    let earn = app
        .post(
            &format!("/v1/members/{ALICE}/earn"),
            json!({"source": "flights", "booking_ref": "FL-9", "product": "flight",
                   "spend": {"amount_minor": 54_321, "currency": "JPY"}}),
        )
        .await;
    assert_eq!(earn.body["points"], quote.body["points"]);
    assert_eq!(earn.body["calculation"], quote.body["calculation"]);
}

#[tokio::test]
async fn earning_the_same_booking_twice_returns_the_original_response_and_one_entry() {
    let app = spawn_app().await;
    let first = app
        .post(
            &format!("/v1/members/{ALICE}/earn"),
            hotel("BK-7", 10_000, "EUR"),
        )
        .await;
    let second = app
        .post(
            &format!("/v1/members/{ALICE}/earn"),
            hotel("BK-7", 10_000, "EUR"),
        )
        .await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.body, first.body);
    assert!(second.replayed);
    assert_eq!(app.balance(ALICE).await["available"], 1_000);
    let other = app
        .post(
            &format!("/v1/members/{BRUNO}/earn"),
            hotel("BK-7", 10_000, "EUR"),
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.code(), "booking_already_earned");
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_response_and_refuses_a_different_body() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 500).await;
    let path = format!("/v1/members/{ALICE}/redeem");
    let first = app
        .post_idem(&path, "key-1", json!({"points": 100, "reference": "R-1"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let replay = app
        .post_idem(&path, "key-1", json!({"reference": "R-1", "points": 100}))
        .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.body, first.body);
    assert!(replay.replayed);
    let before = app.footprint().await;
    let reused = app
        .post_idem(&path, "key-1", json!({"points": 101, "reference": "R-1"}))
        .await;
    assert_eq!(reused.status, StatusCode::CONFLICT);
    assert_eq!(reused.code(), "idempotency_key_reused");
    assert_eq!(app.footprint().await, before);
    assert_eq!(app.balance(ALICE).await["available"], 400);
}

#[tokio::test]
async fn redemptions_consume_the_earliest_expiring_lots_first() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 100).await;
    app.fund(ALICE, "BK-2", 100).await;
    let sql = app.sql().await;
    // Make the second lot expire first.
    sql.execute(
        "UPDATE lots SET expires_at = expires_at - INTERVAL '200 days' WHERE earn_seq = 2",
        &[],
    )
    .await
    .unwrap();
    let res = app
        .post(
            &format!("/v1/members/{ALICE}/redeem"),
            json!({"points": 150, "reference": "R-1"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let rows = sql
        .query(
            "SELECT earn_seq, remaining FROM lots ORDER BY earn_seq",
            &[],
        )
        .await
        .unwrap();
    let remaining: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(remaining, vec![(1, 50), (2, 0)]);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn reversing_an_unspent_earn_takes_its_points_back() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 300).await;
    let path = format!("/v1/members/{ALICE}/reversals");
    let partial = app
        .post(
            &path,
            json!({"source": "hotel-bookings", "booking_ref": "BK-1", "points": 100}),
        )
        .await;
    assert_eq!(partial.status, StatusCode::CREATED, "{}", partial.body);
    assert_eq!(partial.body["clawed_back"], 100);
    assert_eq!(partial.body["shortfall"], 0);
    let rest = app
        .post(
            &path,
            json!({"source": "hotel-bookings", "booking_ref": "BK-1"}),
        )
        .await;
    assert_eq!(rest.body["reversed"], 200);
    let balance = app.balance(ALICE).await;
    assert_eq!(balance["available"], 0);
    assert_eq!(balance["lifetime"], 0);
    let again = app
        .post(
            &path,
            json!({"source": "hotel-bookings", "booking_ref": "BK-1"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "already_reversed");
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn reversing_an_earn_whose_points_were_spent_records_a_shortfall_and_never_goes_negative() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 300).await;
    app.fund(ALICE, "BK-2", 100).await;
    let redeem = app
        .post(
            &format!("/v1/members/{ALICE}/redeem"),
            json!({"points": 350, "reference": "R-1"}),
        )
        .await;
    assert_eq!(redeem.status, StatusCode::CREATED);
    let res = app
        .post(
            &format!("/v1/members/{ALICE}/reversals"),
            json!({"source": "hotel-bookings", "booking_ref": "BK-1"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["reversed"], 300);
    assert_eq!(res.body["clawed_back"], 50);
    assert_eq!(res.body["shortfall"], 250);
    let balance = app.balance(ALICE).await;
    assert_eq!(balance["available"], 0);
    assert_eq!(balance["lifetime"], 100);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn history_pages_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.fund(ALICE, &format!("BK-{i}"), 10 + i).await;
    }
    let path = format!("/v1/members/{ALICE}/history?limit=2");
    let first = app.get(&path).await;
    let seqs = |r: &crate::helpers::Response| -> Vec<i64> {
        r.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&first), vec![5, 4]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("{path}&cursor={cursor}")).await;
    assert_eq!(seqs(&second), vec![3, 2]);
    let cursor = second.body["next_cursor"].as_str().unwrap().to_owned();
    let last = app.get(&format!("{path}&cursor={cursor}")).await;
    assert_eq!(seqs(&last), vec![1]);
    assert!(last.body["next_cursor"].is_null());
}

#[tokio::test]
async fn the_audit_detects_a_tampered_entry() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 100).await;
    app.assert_audit_clean().await;
    let sql = app.sql().await;
    sql.execute(
        "UPDATE ledger_entries SET reason = 'edited' WHERE member_id = $1",
        &[&ALICE],
    )
    .await
    .unwrap();
    sql.execute(
        "UPDATE balances SET available = available + 1 WHERE member_id = $1",
        &[&ALICE],
    )
    .await
    .unwrap();
    let report = app.get("/v1/admin/audit").await.body;
    let checks: Vec<&str> = report["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["check"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"chain_verifies"), "{report}");
    assert!(checks.contains(&"balance_equals_ledger"), "{report}");
    assert!(checks.contains(&"lots_equal_available"), "{report}");
}

#[tokio::test]
async fn a_broken_internal_invariant_answers_500_internal_and_writes_nothing() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 100).await;
    let sql = app.sql().await;
    // The lots no longer cover the balance: a redemption cannot say where its points came
    // from. That is the service's fault, never the caller's: no 4xx code, nothing written.
    sql.execute(
        "UPDATE lots SET remaining = 0 WHERE member_id = $1",
        &[&ALICE],
    )
    .await
    .unwrap();
    let before = app.footprint().await;
    let res = app
        .post(
            &format!("/v1/members/{ALICE}/redeem"),
            json!({"points": 50, "reference": "ORDER-1"}),
        )
        .await;
    assert_internal(&res);
    assert_eq!(app.footprint().await, before);
}

/// A bare 500 that names no internals and no client error code.
fn assert_internal(res: &crate::helpers::Response) {
    assert_eq!(
        res.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        res.body
    );
    assert_eq!(res.code(), "internal");
    assert_eq!(res.body["error"]["message"], "internal error");
}

#[tokio::test]
async fn a_stored_tier_the_service_does_not_know_is_an_internal_error_not_basic() {
    let app = spawn_app().await;
    let sql = app.sql().await;
    sql.execute(
        "UPDATE members SET tier = 'platinum' WHERE id = $1",
        &[&ALICE],
    )
    .await
    .unwrap();
    let before = app.footprint().await;
    for res in [
        app.get(&format!("/v1/members/{ALICE}/balance")).await,
        app.post(
            &format!("/v1/members/{ALICE}/earn"),
            hotel("BK-T", 1_000, "EUR"),
        )
        .await,
    ] {
        assert_internal(&res);
    }
    assert_eq!(app.footprint().await, before);
}

#[tokio::test]
async fn a_replay_reads_the_stored_outcome_back_into_its_type() {
    let app = spawn_app().await;
    let path = format!("/v1/members/{ALICE}/earn");
    let first = app
        .post_idem(&path, "K-1", hotel("BK-R", 1_000, "EUR"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app
        .post_idem(&path, "K-1", hotel("BK-R", 1_000, "EUR"))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert!(again.replayed);
    // A record the service cannot read back is its own fault: 500, not the caller's error.
    let sql = app.sql().await;
    sql.execute(
        "UPDATE idempotency_keys SET response = '{\"points\": \"many\"}' WHERE key = 'c:K-1'",
        &[],
    )
    .await
    .unwrap();
    let unreadable = app
        .post_idem(&path, "K-1", hotel("BK-R", 1_000, "EUR"))
        .await;
    assert_internal(&unreadable);
}
