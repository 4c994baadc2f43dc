//! Pruning after `delivery.retention_h` (168 h in the tests' configuration), against real
//! deliveries: the sweep deletes delivered rows, then the events no delivery names any more;
//! never a pending or dead delivery or its event, never what a subscription's fan-out may
//! still read, and nothing from a fenced region, whose members' rows the region serving them
//! prunes instead. Ages are made by moving the rows' times back, not by waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery::enrol_here;
use crate::helpers::{ALICE, TestApp, spawn_app_on, test_config};
use crate::receiver::{Reply, policy, spawn_subscribed, spawn_subscribed_with};

/// Older than the default retention of 168 h.
const AGED: &str = "INTERVAL '200 hours'";

async fn sweep(app: &TestApp) -> (u64, u64) {
    let res = app.post("/v1/admin/jobs/sweep", Value::Null).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let count = |field: &str| res.body[field].as_u64().unwrap();
    (count("deliveries_pruned"), count("events_pruned"))
}

/// Deliveries by state, once they are exactly `expected` (polled for up to 30 s).
async fn wait_states(app: &TestApp, expected: &[(&str, i64)]) {
    let sql = app.sql().await;
    let mut expected: Vec<(String, i64)> = expected
        .iter()
        .map(|(s, n)| ((*s).to_owned(), *n))
        .collect();
    expected.sort();
    let mut states = Vec::new();
    for _ in 0..3_000 {
        let rows = sql
            .query(
                "SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state",
                &[],
            )
            .await
            .unwrap();
        states = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        if states == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("deliveries {states:?}, expected {expected:?}");
}

/// Moves every event, and every delivery's event and delivery time, `AGED` back.
async fn age_everything(app: &TestApp) {
    let sql = app.sql().await;
    sql.batch_execute(&format!(
        "UPDATE outbox SET created_at = created_at - {AGED}; \
         UPDATE deliveries SET event_at = event_at - {AGED}, delivered_at = delivered_at - {AGED};"
    ))
    .await
    .unwrap();
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.sql().await.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn the_sweep_prunes_delivered_rows_then_their_events_but_never_pending_or_dead_ones() {
    // One attempt each: Diane's event is dead at once, Erik's stays in flight (pending).
    let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
    let script = replies.clone();
    let s = spawn_subscribed(policy(1, 10, 60_000), move |event, _| {
        let subject = event["subject"].as_str().unwrap_or_default();
        let replies = script.lock().unwrap();
        replies.get(subject).copied().unwrap_or(Reply::Ok)
    })
    .await;
    let diane = enrol_here(&s.app, "prune-diane").await;
    let erik = enrol_here(&s.app, "prune-erik").await;
    replies.lock().unwrap().extend([
        (diane.to_string(), Reply::Status(500)),
        (erik.to_string(), Reply::Hang(Duration::from_secs(600))),
    ]);
    for (member, booking) in [
        (ALICE, "BK-P1"),
        (ALICE, "BK-P2"),
        (diane, "BK-P3"),
        (erik, "BK-P4"),
    ] {
        s.app.fund(member, booking, 100).await;
    }
    s.receiver.wait_for("four attempts", |c| c.len() >= 4).await;
    wait_states(&s.app, &[("delivered", 2), ("dead", 1), ("pending", 1)]).await;
    age_everything(&s.app).await;

    // Fenced, eu-west-1 deletes nothing; eu-central-1, serving its members now, prunes.
    s.app
        .transition("eu-west-1", "fenced", "eu-central-1", "FailedOver")
        .await;
    assert_eq!(sweep(&s.app).await, (0, 0));
    let mut config = test_config();
    config.region = "eu-central-1".to_owned();
    config.delivery.poll_ms = 0;
    let serving = spawn_app_on(&s.app.db_url, config).await;
    // The delivered rows first; their events once no row names them.
    assert_eq!(sweep(&serving).await, (2, 0));
    assert_eq!(sweep(&serving).await, (0, 2));
    assert_eq!(sweep(&serving).await, (0, 0));
    wait_states(&s.app, &[("dead", 1), ("pending", 1)]).await;
    let kept = "SELECT count(*) FROM outbox o JOIN deliveries d ON d.event_id = o.id";
    assert_eq!(
        count(&s.app, kept).await,
        2,
        "the dead and the pending event stay"
    );
}

#[tokio::test]
async fn an_old_event_and_its_delivery_stay_while_the_fan_out_may_still_read_them() {
    let s = spawn_subscribed_with(policy(3, 10, 1_000), |_, _| Reply::Ok, false).await;
    let sql = s.app.sql().await;
    // A subscription older than the event, so the event is for it.
    sql.batch_execute(&format!(
        "UPDATE webhook_subscriptions SET subscribed_at = subscribed_at - {AGED} - {AGED}"
    ))
    .await
    .unwrap();
    s.app.fund(ALICE, "BK-F1", 100).await;
    age_everything(&s.app).await;
    assert_eq!(sweep(&s.app).await, (0, 0), "not fanned out yet");

    let _dispatching = spawn_app_on(&s.app.db_url, s.config.clone()).await;
    let first = s
        .receiver
        .wait_for("the old event", |c| !c.is_empty())
        .await;
    wait_states(&s.app, &[("delivered", 1)]).await;
    // As if the fan-out had read 10 s past the old event: still within its 60 s margin, so the
    // next fan-out re-reads the event and would send it again if its delivered row were gone.
    sql.batch_execute(&format!(
        "UPDATE deliveries SET delivered_at = delivered_at - {AGED}; \
         UPDATE delivery_cursors SET fanned_out_until = fanned_out_until + INTERVAL '10 seconds';"
    ))
    .await
    .unwrap();
    assert_eq!(sweep(&s.app).await, (0, 0), "within the fan-out margin");

    // A new event moves the cursor on; the old one's row, then the old event, can go.
    s.app.fund(ALICE, "BK-F2", 100).await;
    let calls = s.receiver.wait_for("the new event", |c| c.len() >= 2).await;
    wait_states(&s.app, &[("delivered", 2)]).await;
    assert_eq!(sweep(&s.app).await, (1, 0));
    assert_eq!(sweep(&s.app).await, (0, 1));
    assert_eq!(count(&s.app, "SELECT count(*) FROM outbox").await, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids: Vec<Value> = s.receiver.calls().iter().map(|c| json!(c.id)).collect();
    assert_eq!(
        ids,
        [json!(first[0].id), json!(calls[1].id)],
        "each sent once"
    );
}
