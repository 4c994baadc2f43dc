//! No event lost when the service *process* dies mid-delivery (issue 12): `loyalty-service
//! serve` runs as a child process with a production configuration against the harness
//! PostgreSQL, delivering over https to a receiver it trusts through `delivery.ca_file`. The
//! receiver holds one attempt unanswered; the process is SIGKILLed with that attempt in flight
//! and started again on the same database. Also: a bad `delivery.ca_file` stops the start.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loyalty_service::startup::Application;
use serde_json::Value;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::delivery::enrol_here;
use crate::helpers::{TestApp, fresh_database, test_config};
use crate::process::ServiceProcess;
use crate::receiver::{Call, Reply, policy, subscribe};
use crate::tls_receiver::start_tls;

/// Long enough that the held attempt is still in flight when the process is killed; its lease
/// (this plus the slack below) is what the restarted process must wait out.
const PER_ATTEMPT_TIMEOUT_MS: i64 = 5_000;
/// Generous bound on everything settling after the restart; no duration is asserted.
const SETTLE_DEADLINE: Duration = Duration::from_secs(120);

/// The settings of both processes, on top of the production ones `ServiceProcess` sets.
fn settings(
    secrets_dir: &std::path::Path,
    ca_file: &std::path::Path,
) -> Vec<(&'static str, String)> {
    vec![
        ("LOYALTY_REGION", "eu-west-1".to_owned()),
        (
            "LOYALTY_PARTNERS__SECRETS_DIR",
            secrets_dir.display().to_string(),
        ),
        ("LOYALTY_DELIVERY__CA_FILE", ca_file.display().to_string()),
        ("LOYALTY_DELIVERY__POLL_MS", "20".to_owned()),
        ("LOYALTY_DELIVERY__LEASE_SLACK_MS", "500".to_owned()),
        ("LOYALTY_LEDGER__CONFIG_POLL_MS", "50".to_owned()),
        ("LOYALTY_JOBS__INTERVAL_MS", "0".to_owned()),
        ("LOYALTY_LEADERBOARD__BANDS_INTERVAL_S", "0".to_owned()),
    ]
}

/// Earns 100 points for each member, `rounds` times, through `app`'s HTTP API.
async fn earn(app: &TestApp, members: &[Uuid], label: &str, rounds: usize) {
    for round in 0..rounds {
        for member in members {
            app.fund(*member, &format!("RS-{label}-{round}-{member}"), 100)
                .await;
        }
    }
}

async fn outbox_ids(sql: &Client) -> BTreeSet<String> {
    let rows = sql.query("SELECT id FROM outbox", &[]).await.unwrap();
    rows.iter()
        .map(|r| r.get::<_, Uuid>(0).to_string())
        .collect()
}

/// Waits until every outbox event has a delivery and every delivery is delivered.
async fn wait_all_delivered(sql: &Client) {
    let polls = SETTLE_DEADLINE.as_millis() / 50;
    for _ in 0..polls {
        let row = sql
            .query_one(
                "SELECT (SELECT count(*) FROM outbox), \
                 (SELECT count(*) FROM deliveries WHERE state = 'delivered'), \
                 (SELECT count(*) FROM deliveries)",
                &[],
            )
            .await
            .unwrap();
        let (events, delivered, all): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if events == delivered && delivered == all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let states = sql
        .query(
            "SELECT state, attempts, last_error FROM deliveries WHERE state <> 'delivered'",
            &[],
        )
        .await
        .unwrap();
    let states: Vec<(String, i32, Option<String>)> = states
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    panic!("not everything was delivered: {states:?}");
}

/// The held attempt's delivery: (state, attempts, whether a lease is held).
async fn delivery_of(sql: &Client, event_id: &str) -> (String, i32, bool) {
    let id: Uuid = event_id.parse().unwrap();
    let row = sql
        .query_one(
            "SELECT state, attempts, lease_owner IS NOT NULL FROM deliveries WHERE event_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Whether the receiver answered `call`: every call but the held attempt (event id, attempt).
fn is_answered(call: &Call, unanswered: (&str, usize)) -> bool {
    (call.id.as_str(), call.attempt) != unanswered
}

/// ADR 0020's order, per member: events are answered in `memberseq` order, and none is sent
/// before its predecessor was answered. `unanswered` is the held attempt (event id, attempt).
fn assert_member_order(calls: &[Call], unanswered: (&str, usize)) {
    let answered = |c: &Call| is_answered(c, unanswered);
    let mut members: HashMap<String, Vec<&Call>> = HashMap::new();
    for call in calls {
        let subject = call.event["subject"].as_str().unwrap().to_owned();
        members.entry(subject).or_default().push(call);
    }
    for (member, calls) in members {
        let mut firsts: Vec<&Call> = Vec::new();
        for call in calls.iter().filter(|c| answered(c)) {
            if !firsts.iter().any(|f| f.id == call.id) {
                firsts.push(call);
            }
        }
        let seqs: Vec<i64> = firsts
            .iter()
            .map(|c| c.event["memberseq"].as_i64().unwrap())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{member}: answered out of order: {seqs:?}"
        );
        for pair in firsts.windows(2) {
            let next_sent = calls.iter().find(|c| c.id == pair[1].id).unwrap();
            assert!(
                next_sent.at >= pair[0].at,
                "{member}: seq {} sent before seq {} was answered",
                pair[1].event["memberseq"],
                pair[0].event["memberseq"]
            );
        }
    }
}

#[tokio::test]
async fn no_event_is_lost_when_the_service_process_is_killed_mid_delivery_and_restarted() {
    let db_url = fresh_database().await;
    // The member whose first event the receiver holds unanswered, once it is known.
    let held_member: Arc<Mutex<Option<String>>> = Arc::default();
    let hold = held_member.clone();
    let receiver = start_tls(move |event: &Value, attempt| {
        let subject = event["subject"].as_str().map(str::to_owned);
        if attempt == 1 && subject.is_some() && *hold.lock().unwrap() == subject {
            Reply::Hang(Duration::from_secs(3_600))
        } else {
            Reply::Ok
        }
    })
    .await;
    let (secrets_dir, _) = subscribe(
        &db_url,
        policy(10, 50, PER_ATTEMPT_TIMEOUT_MS),
        &receiver.receiver.url,
    )
    .await;
    let env = settings(&secrets_dir, &receiver.ca_file);
    let receiver = receiver.receiver;

    let first = ServiceProcess::start(&db_url, &env).await;
    let sql = first.app.sql().await;
    let mut members = Vec::new();
    for name in ["restart-ana", "restart-ben", "restart-cleo"] {
        members.push(enrol_here(&first.app, name).await);
    }
    let held = members[1].to_string();
    *held_member.lock().unwrap() = Some(held.clone());
    earn(&first.app, &members, "before", 3).await;
    let is_held = |c: &Call| c.event["subject"] == held.as_str();
    let calls = receiver
        .wait_for_within("the held attempt", SETTLE_DEADLINE, |calls| {
            calls.iter().any(is_held)
        })
        .await;
    let held_id = calls.iter().find(|c| is_held(c)).unwrap().id.clone();

    first.kill();
    // Killed with the attempt in flight: its lease is still held, nothing was recorded, and
    // none of the member's later events was sent past it.
    assert_eq!(
        delivery_of(&sql, &held_id).await,
        ("pending".to_owned(), 1, true)
    );
    assert_eq!(receiver.calls().iter().filter(|c| is_held(c)).count(), 1);

    let second = ServiceProcess::start(&db_url, &env).await;
    earn(&second.app, &members, "after", 1).await;
    wait_all_delivered(&sql).await;

    let events = outbox_ids(&sql).await;
    assert!(events.len() >= 12, "{} events", events.len());
    // Only answered requests count as received: the held one never got its 2xx.
    let calls = receiver.calls();
    let received: BTreeSet<String> = calls
        .iter()
        .filter(|c| is_answered(c, (&held_id, 1)))
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(
        received, events,
        "deduplicated by webhook-id, the receiver has the outbox"
    );
    assert_member_order(&calls, (&held_id, 1));
}

#[tokio::test]
async fn a_missing_or_unparsable_ca_file_stops_the_start_naming_the_setting_and_the_file() {
    let db_url = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("loyalty-ca-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("missing.pem", None, "cannot be read"),
        (
            "text.pem",
            Some("not a certificate\n"),
            "holds no PEM certificate",
        ),
        (
            "corrupt.pem",
            Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            "does not parse",
        ),
    ];
    for (name, contents, expected) in cases {
        let path = dir.join(name);
        if let Some(contents) = contents {
            std::fs::write(&path, contents).unwrap();
        }
        let mut config = test_config();
        config.delivery.ca_file = Some(path.clone());
        let refused = Application::build(config, &db_url).await.err();
        let message = format!("{:#}", refused.expect("the start is refused"));
        let file = path.display().to_string();
        assert!(
            message.contains("delivery.ca_file")
                && message.contains(&file)
                && message.contains(expected),
            "{name}: {message}"
        );
    }
}
