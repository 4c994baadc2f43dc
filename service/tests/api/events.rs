//! The transactional outbox: every ledger movement's CloudEvent is written in the movement's
//! own transaction, in per-member order, without personal data, and only when it commits.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ALICE, BRUNO, TestApp, spawn_app, spawn_app_on, test_config};

/// `(member_seq, type, event)` of `member`'s outbox rows, in order.
async fn events(app: &TestApp, member: Uuid) -> Vec<(i64, String, Value)> {
    let rows = app
        .sql()
        .await
        .query(
            "SELECT member_seq, type, event FROM outbox WHERE member_id = $1 ORDER BY member_seq, type = 'travel.loyalty.tier.changed'",
            &[&member],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn entry_seqs(app: &TestApp, member: Uuid) -> Vec<i64> {
    let rows = app
        .sql()
        .await
        .query(
            "SELECT seq FROM ledger_entries WHERE member_id = $1 ORDER BY seq",
            &[&member],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

fn types(events: &[(i64, String, Value)]) -> Vec<&str> {
    events
        .iter()
        .map(|(_, t, _)| t.trim_start_matches("travel.loyalty."))
        .collect()
}

#[tokio::test]
async fn every_movement_writes_one_cloudevent_in_member_order_without_personal_data() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-E1", 6_000).await;
    let hold = app
        .post(
            &format!("/v1/members/{ALICE}/holds"),
            json!({"points": 500, "reference": "BK-H"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let hold_id = hold.body["hold_id"].as_str().unwrap();
    let capture = app
        .post(
            &format!("/v1/members/{ALICE}/holds/{hold_id}/capture"),
            json!({"points": 300}),
        )
        .await;
    assert_eq!(capture.status, StatusCode::OK, "{}", capture.body);
    let redeem = json!({"points": 100, "reference": "BK-R"});
    let redeemed = app
        .as_member(ALICE)
        .post(&format!("/v1/members/{ALICE}/redeem"), redeem)
        .await;
    assert_eq!(redeemed.status, StatusCode::CREATED, "{}", redeemed.body);
    let reversal = json!({"source": "hotel-bookings", "booking_ref": "BK-E1", "points": 10});
    let reversed = app
        .post(&format!("/v1/members/{ALICE}/reversals"), reversal)
        .await;
    assert_eq!(reversed.status, StatusCode::CREATED, "{}", reversed.body);
    let alice = events(&app, ALICE).await;
    assert_eq!(
        types(&alice),
        [
            "points.earned",
            "tier.changed",
            "hold.created",
            "hold.captured",
            "hold.voided",
            "points.redeemed",
            "points.reversed",
        ]
    );
    // Entries' events carry their seq, gap-free; the tier change follows its earn.
    let seqs: Vec<i64> = alice
        .iter()
        .filter(|(_, t, _)| !t.ends_with("tier.changed"))
        .map(|(s, _, _)| *s)
        .collect();
    assert_eq!(seqs, entry_seqs(&app, ALICE).await);
    for (seq, kind, event) in &alice {
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(&event["type"], kind);
        assert_eq!(event["subject"], json!(ALICE));
        assert_eq!(event["source"], "/regions/eu-west-1");
        assert_eq!(&event["memberseq"], seq);
        assert!(event["id"].as_str().unwrap().parse::<Uuid>().is_ok());
        let text = event.to_string();
        for personal in ["demo-alice", "\"FR\"", "platform-tests", "actor"] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
    }
    assert_eq!(alice[0].2["data"]["deltas"]["available"], 6_000);
    assert_eq!(alice[0].2["data"]["reference"], "BK-E1");
}

#[tokio::test]
async fn a_transfer_writes_an_event_for_each_member() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-T", 1_000).await;
    let sent = app
        .as_member(ALICE)
        .post(
            &format!("/v1/members/{ALICE}/transfers"),
            json!({"to_member_id": BRUNO, "points": 200, "reference": "T-1"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let alice = events(&app, ALICE).await;
    let bruno = events(&app, BRUNO).await;
    assert_eq!(types(&alice), ["points.earned", "points.transferred"]);
    assert_eq!(types(&bruno), ["points.transferred"]);
    assert_eq!(bruno[0].2["subject"], json!(BRUNO));
    assert_eq!(bruno[0].2["data"]["deltas"]["available"], 200);
}

#[tokio::test]
async fn a_refused_operation_writes_no_event() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-N", 100).await;
    let before = events(&app, ALICE).await;
    let refused = app
        .post(
            &format!("/v1/members/{ALICE}/redeem"),
            json!({"points": 101, "reference": "R-X"}),
        )
        .await;
    assert_eq!(refused.code(), "insufficient_points");
    let again = app.fund(ALICE, "BK-N", 100).await;
    assert!(again.body["entry_id"].is_string());
    assert_eq!(
        events(&app, ALICE).await,
        before,
        "a refusal or replay wrote an event"
    );
}

/// Two instances on one database: only SERIALIZABLE orders them, and the losers of each
/// conflict are rolled back and retried. Every committed entry has exactly one event and no
/// rolled-back attempt left one behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_and_rolled_back_transactions_leave_exactly_one_event_per_entry() {
    let a = spawn_app().await;
    let b = spawn_app_on(&a.db_url, test_config()).await;
    a.fund(BRUNO, "BK-C", 2_000).await;
    let results = join_all((0..40).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let path = format!("/v1/members/{BRUNO}/redeem");
        async move {
            app.post(&path, json!({"points": 70, "reference": format!("R-{i}")}))
                .await
        }
    }))
    .await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(ok, 2_000 / 70);
    let bruno = events(&a, BRUNO).await;
    let seqs: Vec<i64> = bruno.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(seqs, entry_seqs(&a, BRUNO).await);
    assert_eq!(bruno.len(), 1 + ok);
}

/// `(lot, days_before)` of every `points.expiring` event of `member`, in order.
async fn expiry_notices(app: &TestApp, member: Uuid) -> Vec<(String, i64)> {
    events(app, member)
        .await
        .iter()
        .filter(|(_, t, _)| t == "travel.loyalty.points.expiring")
        .map(|(_, _, e)| {
            let data = &e["data"];
            (
                data["lot_id"].as_str().unwrap().to_owned(),
                data["days_before"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_lot_is_announced_expiring_in_30_7_and_1_days_once_per_threshold() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-EXP", 400).await;
    let sql = app.sql().await;
    let lot: Uuid = sql
        .query_one(
            "SELECT id FROM lots WHERE member_id = $1 ORDER BY created_at DESC LIMIT 1",
            &[&ALICE],
        )
        .await
        .unwrap()
        .get(0);
    let sweep_with_expiry_in = async |interval: &str| {
        sql.execute(
            &format!("UPDATE lots SET expires_at = now() + INTERVAL '{interval}' WHERE id = $1"),
            &[&lot],
        )
        .await
        .unwrap();
        for _ in 0..2 {
            let res = app.post("/v1/admin/jobs/sweep", Value::Null).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        }
    };
    sweep_with_expiry_in("40 days").await;
    assert_eq!(expiry_notices(&app, ALICE).await, []);
    sweep_with_expiry_in("20 days").await;
    sweep_with_expiry_in("25 days").await;
    sweep_with_expiry_in("6 days").await;
    sweep_with_expiry_in("12 hours").await;
    sweep_with_expiry_in("2 hours").await;
    let id = lot.to_string();
    assert_eq!(
        expiry_notices(&app, ALICE).await,
        [(id.clone(), 30), (id.clone(), 7), (id, 1)]
    );
    app.assert_audit_clean().await;
}
