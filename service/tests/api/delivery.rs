//! Delivery of outbox events to partners' webhooks, against real HTTP receivers: retries
//! spaced as the Partner's retry policy says (asserted on the receiver's arrival times, with
//! tolerances), the per-attempt timeout, 410 and 429, dead letters and their replay,
//! per-member order, and no loss when a dispatcher's lease runs out mid-delivery.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use loyalty_service::metrics::Metrics;
use loyalty_service::partners::signature::{SignedMessage, verify};
use loyalty_service::store::Db;
use loyalty_service::store::delivery::load_subscriptions;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ALICE, TestApp, spawn_app_on};
use crate::receiver::{
    Call, Reply, failing_first, gaps_ms, of_event, policy, spawn_subscribed, spawn_subscribed_with,
};

/// Scheduling slack on top of a policy's wait: the dispatcher's 10 ms poll, a transaction
/// or two, and a busy machine.
const SLACK_MS: u128 = 400;

async fn delivery_row(app: &TestApp, event_id: &str) -> (String, i32, Option<i32>) {
    let id: Uuid = event_id.parse().unwrap();
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT state, attempts, last_status FROM deliveries WHERE event_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Waits until the delivery of `event_id` is in `state`.
async fn wait_state(app: &TestApp, event_id: &str, state: &str) -> (String, i32, Option<i32>) {
    for _ in 0..3_000 {
        let id: Uuid = event_id.parse().unwrap();
        let rows = app
            .sql()
            .await
            .query(
                "SELECT 1 FROM deliveries WHERE event_id = $1 AND state = $2",
                &[&id, &state],
            )
            .await
            .unwrap();
        if !rows.is_empty() {
            return delivery_row(app, event_id).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("delivery {event_id} never became {state}");
}

/// A new member homed in this instance's region (France: eu-west-1). Bruno is homed in
/// eu-central-1, whose events only that region's dispatcher sends.
pub async fn enrol_here(app: &TestApp, external_id: &str) -> Uuid {
    let res = app
        .post(
            "/v1/members",
            json!({"external_id": external_id, "country": "FR"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["member_id"].as_str().unwrap().parse().unwrap()
}

fn first_id(calls: &[Call]) -> String {
    calls[0].id.clone()
}

fn assert_spaced(gaps: &[u128], waits_ms: &[u128]) {
    assert_eq!(gaps.len(), waits_ms.len(), "gaps {gaps:?}");
    for (gap, wait) in gaps.iter().zip(waits_ms) {
        assert!(
            *gap + 2 >= *wait && *gap <= wait + SLACK_MS,
            "gap {gap} ms, the policy waits {wait} ms (all gaps {gaps:?})"
        );
    }
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_one_signed_event_three_times_spaced_by_the_policy() {
    let s = spawn_subscribed(policy(5, 100, 1_000), failing_first(2, Reply::Status(503))).await;
    s.app.fund(ALICE, "BK-D1", 100).await;
    let calls = s
        .receiver
        .wait_for("three attempts", |c| c.len() >= 3)
        .await;
    let id = first_id(&calls);
    let attempts = of_event(&calls, &id);
    assert_eq!(attempts.len(), 3, "{calls:#?}");
    // Waits before attempts 2 and 3: 100 ms, then 100 * 2.
    assert_spaced(&gaps_ms(&attempts), &[100, 200]);
    for call in &attempts {
        assert_eq!(
            call.event["id"],
            json!(id),
            "webhook-id is the CloudEvent id"
        );
        assert_eq!(call.event["type"], "travel.loyalty.points.earned");
        let message = SignedMessage {
            id: &call.id,
            timestamp_s: call.timestamp.parse().unwrap(),
            signatures: &call.signature,
            body: &call.body,
        };
        let now = Utc::now().timestamp();
        assert_eq!(
            verify(std::slice::from_ref(&s.secret), &message, now, 300),
            Ok(())
        );
    }
    assert_eq!(
        wait_state(&s.app, &id, "delivered").await,
        ("delivered".to_owned(), 3, Some(204))
    );
    let metrics = s.app.get("/metrics").await.body;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains(r#"loyalty_webhook_deliveries_total{outcome="retried",partner="AF"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"loyalty_webhook_deliveries_total{outcome="delivered",partner="AF"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_receiver_hanging_past_the_timeout_is_retried_and_dead_lettered_after_the_last_attempt() {
    let s = spawn_subscribed(policy(3, 50, 150), |_, _| {
        Reply::Hang(Duration::from_secs(5))
    })
    .await;
    s.app.fund(ALICE, "BK-D2", 100).await;
    let calls = s
        .receiver
        .wait_for("three attempts", |c| c.len() >= 3)
        .await;
    let id = first_id(&calls);
    let (state, attempts, status) = wait_state(&s.app, &id, "dead").await;
    assert_eq!((state.as_str(), attempts, status), ("dead", 3, None));
    // Each wait starts when the attempt gave up: the 150 ms timeout, then 50 and 100 ms.
    assert_spaced(&gaps_ms(&of_event(&calls, &id)), &[150 + 50, 150 + 100]);
    let listed = s.app.get("/v1/admin/partners/AF/dead-letters").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let letters = listed.body["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["event_id"], json!(id));
    assert_eq!(letters[0]["attempts"], 3);
    assert_eq!(letters[0]["last_error"], "no answer within 150 ms");
    // No fourth attempt, however long we look.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(of_event(&s.receiver.calls(), &id).len(), 3);
}

#[tokio::test]
async fn a_410_dead_letters_the_event_and_disables_the_subscription_so_later_events_wait() {
    let s = spawn_subscribed(policy(5, 20, 1_000), |_, _| Reply::Status(410)).await;
    s.app.fund(ALICE, "BK-D3", 100).await;
    let calls = s
        .receiver
        .wait_for("the first event", |c| !c.is_empty())
        .await;
    let id = first_id(&calls);
    assert_eq!(wait_state(&s.app, &id, "dead").await.1, 1);
    let diane = enrol_here(&s.app, "delivery-diane").await;
    s.app.fund(diane, "BK-D4", 100).await;
    let sql = s.app.sql().await;
    let reason: Option<String> = sql
        .query_one(
            "SELECT disabled_reason FROM webhook_subscriptions WHERE name = 'hooks'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reason.as_deref(), Some("the receiver answered 410 Gone"));
    // Diane's events are fanned out and wait: nothing more reaches the receiver.
    let mut waiting = 0;
    for _ in 0..1_000 {
        waiting = sql
            .query_one(
                "SELECT count(*) FROM deliveries WHERE state = 'pending'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if waiting >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(waiting >= 1, "Diane's events are not waiting");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.receiver.calls().len(), 1, "{:#?}", s.receiver.calls());
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_not_the_policy_backoff() {
    let s = spawn_subscribed(policy(5, 10, 1_000), failing_first(1, Reply::Throttle(1))).await;
    s.app.fund(ALICE, "BK-D5", 100).await;
    let calls = s.receiver.wait_for("the retry", |c| c.len() >= 2).await;
    let id = first_id(&calls);
    assert_spaced(&gaps_ms(&of_event(&calls, &id)), &[1_000]);
    assert_eq!(wait_state(&s.app, &id, "delivered").await.1, 2);
}

#[tokio::test]
async fn replaying_a_dead_letter_delivers_it_exactly_once() {
    let s = spawn_subscribed(policy(1, 10, 1_000), failing_first(1, Reply::Status(500))).await;
    s.app.fund(ALICE, "BK-D6", 100).await;
    let calls = s.receiver.wait_for("the attempt", |c| !c.is_empty()).await;
    let id = first_id(&calls);
    wait_state(&s.app, &id, "dead").await;
    let res = s
        .app
        .post(
            &format!("/v1/admin/partners/AF/dead-letters/{id}/replay"),
            Value::Null,
        )
        .await;
    assert_eq!(
        (res.status, res.body["replayed"].clone()),
        (StatusCode::OK, json!(1))
    );
    assert_eq!(wait_state(&s.app, &id, "delivered").await.1, 1);
    // Neither the same replay again nor a replay of all finds anything left.
    let again = s
        .app
        .post(
            &format!("/v1/admin/partners/AF/dead-letters/{id}/replay"),
            Value::Null,
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "dead_letter_not_found")
    );
    let all = s
        .app
        .post("/v1/admin/partners/AF/dead-letters/replay", Value::Null)
        .await;
    assert_eq!(all.body["replayed"], 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts = of_event(&s.receiver.calls(), &id).len();
    assert_eq!(attempts, 2, "one failed attempt, one replayed delivery");
    let unknown = s.app.get("/v1/admin/partners/ZZ/dead-letters").await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "partner_not_found")
    );
}

#[tokio::test]
async fn one_members_events_arrive_in_order_and_none_is_sent_before_the_previous_succeeded() {
    // Every event's first attempt fails: each must wait for its predecessor's retry.
    let s = spawn_subscribed(policy(5, 50, 1_000), failing_first(1, Reply::Status(503))).await;
    for i in 0..4 {
        s.app.fund(ALICE, &format!("BK-O{i}"), 100).await;
    }
    let calls = s
        .receiver
        .wait_for("eight attempts", |c| c.len() >= 8)
        .await;
    let seqs: Vec<i64> = calls
        .iter()
        .filter(|c| c.attempt == 2)
        .map(|c| c.event["memberseq"].as_i64().unwrap())
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(seqs, sorted, "delivered out of order: {seqs:?}");
    assert_eq!(seqs.len(), 4);
    // Each event's first request comes after its predecessor's successful one.
    let successes: Vec<&Call> = calls.iter().filter(|c| c.attempt == 2).collect();
    for pair in successes.windows(2) {
        let next_first = calls.iter().find(|c| c.id == pair[1].id).unwrap();
        assert!(
            next_first.at >= pair[0].at,
            "sent before its predecessor was delivered"
        );
    }
}

#[tokio::test]
async fn a_refused_operation_sends_nothing() {
    let s = spawn_subscribed(policy(3, 10, 1_000), |_, _| Reply::Ok).await;
    let refused = s
        .app
        .post(
            &format!("/v1/members/{ALICE}/redeem"),
            json!({"points": 1_000_000, "reference": "R-X"}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    s.app.fund(ALICE, "BK-D7", 100).await;
    let calls = s.receiver.wait_for("the earn", |c| !c.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let types: Vec<Value> = s
        .receiver
        .calls()
        .iter()
        .map(|c| c.event["type"].clone())
        .collect();
    assert_eq!(types, [json!("travel.loyalty.points.earned")], "{calls:#?}");
}

#[tokio::test]
async fn a_delivery_whose_dispatcher_died_mid_attempt_is_taken_over_when_its_lease_expires() {
    // A dispatcher claims the event (as a replica killed mid-request would have) and never
    // answers; a live instance started afterwards must wait out that lease, then deliver.
    let s = spawn_subscribed_with(policy(5, 10, 100), |_, _| Reply::Ok, false).await;
    s.app.fund(ALICE, "BK-D8", 100).await;
    let dead = Db::connect(&s.app.db_url, 2, Duration::from_secs(2), Metrics::new()).unwrap();
    let subscriptions = load_subscriptions(&dead.conn().await.unwrap())
        .await
        .unwrap();
    let margin = chrono::Duration::seconds(60);
    assert_eq!(
        dead.fan_out("eu-west-1", &subscriptions, 100, margin)
            .await
            .unwrap(),
        1
    );
    let leases = HashMap::from([("AF".to_owned(), 600)]);
    let claimed = dead
        .claim_deliveries("eu-west-1", Uuid::new_v4(), &leases, 10)
        .await
        .unwrap();
    let claimed_at = Instant::now();
    assert_eq!(claimed.len(), 1);
    let _live = spawn_app_on(&s.app.db_url, s.config.clone()).await;
    let calls = s
        .receiver
        .wait_for("the taken-over event", |c| !c.is_empty())
        .await;
    assert_eq!(calls[0].id, claimed[0].key.event_id.to_string());
    let waited = calls[0].at.duration_since(claimed_at).as_millis();
    assert!(
        waited >= 590,
        "sent while another dispatcher held the lease ({waited} ms)"
    );
    let (state, attempts, _) = wait_state(&s.app, &calls[0].id, "delivered").await;
    assert_eq!((state.as_str(), attempts), ("delivered", 2));
    assert_eq!(s.receiver.calls().len(), 1);
}

#[tokio::test]
async fn two_dispatchers_on_one_database_send_each_event_once() {
    let s = spawn_subscribed(policy(5, 10, 1_000), |_, _| {
        Reply::Hang(Duration::from_millis(30))
    })
    .await;
    let second = spawn_app_on(&s.app.db_url, s.config.clone()).await;
    let members = [ALICE, enrol_here(&s.app, "delivery-erik").await];
    for i in 0..12 {
        let app = if i % 2 == 0 { &s.app } else { &second };
        app.fund(members[i % 2], &format!("BK-T{i}"), 100).await;
    }
    s.receiver
        .wait_for("twelve events", |c| c.len() >= 12)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = s.receiver.calls();
    let mut ids: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (ids.len(), calls.len()),
        (12, 12),
        "an event was sent twice"
    );
}
