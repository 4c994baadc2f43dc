//! The checker's verdicts on crafted ledgers in a real, migrated PostgreSQL database: each
//! check is shown to fail on the rows it exists to catch.

use loyalty_chaos::checker::{fences, writes};
use loyalty_chaos::workload::{History, Op, OpKind, Outcome};
use loyalty_service::store::migrate;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

const MEMBER: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_00e1);

/// A fresh migrated database with three regions, eu-west-1's epoch 2 fenced, and one eu member.
async fn ledger() -> Client {
    let name = format!("chaos_{}", Uuid::new_v4().simple());
    let db = name.clone();
    tokio::task::spawn_blocking(move || pgharness::shared().create_database(&db, None))
        .await
        .unwrap()
        .unwrap();
    let (client, conn) = tokio_postgres::connect(&pgharness::shared().url(&name), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    migrate::run(&client).await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO regions (name, residency_group, state, epoch, endpoint, served_by) VALUES
               ('eu-west-1', 'eu', 'fenced', 2, 'http://127.0.0.1:1', 'eu-central-1'),
               ('eu-central-1', 'eu', 'active', 1, 'http://127.0.0.1:2', 'eu-central-1'),
               ('us-east-1', 'us', 'active', 1, 'http://127.0.0.1:3', 'us-east-1');
             INSERT INTO region_transitions (region, epoch, state, served_by, reason) VALUES
               ('eu-west-1', 1, 'active', 'eu-west-1', 'Created'),
               ('eu-west-1', 2, 'fenced', 'eu-central-1', 'FailedOver'),
               ('eu-central-1', 1, 'active', 'eu-central-1', 'Created'),
               ('us-east-1', 1, 'active', 'us-east-1', 'Created');
             INSERT INTO members (id, external_id, country, home_region, residency_group, created_at)
               VALUES ('{MEMBER}', 'm1', 'FR', 'eu-west-1', 'eu', now());"
        ))
        .await
        .unwrap();
    client
}

/// Appends a ledger entry of `kind` with `reference`, written by `region` at `epoch`.
async fn entry(
    client: &Client,
    seq: i64,
    kind: &str,
    reference: &str,
    region: &str,
    epoch: Option<i64>,
) {
    client
        .execute(
            "INSERT INTO ledger_entries (member_id, seq, home_region, kind, available_delta, pending_delta, \
             held_delta, lifetime_delta, qualifying_delta, reason, source, reference, details, written_in, \
             written_epoch, created_at, entry_hash) \
             VALUES ($1, $2, 'eu-west-1', $3, 0, 0, 0, 0, 0, 'test', 'chaos-bookings', $4, '{}', $5, $6, now(), '\\x00')",
            &[&MEMBER, &seq, &kind, &reference, &region, &epoch],
        )
        .await
        .unwrap();
}

fn op(id: u64, kind: OpKind, outcome: Outcome) -> Op {
    Op {
        id,
        client: 0,
        member: MEMBER,
        home: "eu-west-1".into(),
        kind,
        idempotency_key: format!("s1-c0-{id}"),
        invoke_ms: 0,
        complete_ms: 1,
        outcome,
        acked_by: None,
        response: None,
        attempts: Vec::new(),
    }
}

#[tokio::test]
async fn a_lost_acknowledged_write_a_present_refusal_and_a_duplicate_are_each_reported() {
    let client = ledger().await;
    entry(&client, 1, "redeem", "s1-c0-2", "eu-west-1", Some(1)).await;
    entry(&client, 2, "redeem", "s1-c0-3", "eu-west-1", Some(1)).await;
    entry(&client, 3, "redeem", "s1-c0-3", "eu-west-1", Some(1)).await;
    entry(&client, 4, "redeem", "s1-c0-4", "eu-west-1", Some(1)).await;
    let history = History {
        ops: vec![
            op(
                1,
                OpKind::Redeem {
                    reference: "s1-c0-1".into(),
                },
                Outcome::Ok,
            ),
            op(
                2,
                OpKind::Redeem {
                    reference: "s1-c0-2".into(),
                },
                Outcome::Fail,
            ),
            op(
                3,
                OpKind::Redeem {
                    reference: "s1-c0-3".into(),
                },
                Outcome::Unknown,
            ),
            op(
                4,
                OpKind::Redeem {
                    reference: "s1-c0-4".into(),
                },
                Outcome::Ok,
            ),
        ],
    };
    let mut violations = Vec::new();
    let stats = writes::check(&history, &client, &mut violations)
        .await
        .unwrap();
    let checks: Vec<&str> = violations.iter().map(|v| v.check.as_str()).collect();
    assert_eq!(
        checks,
        [
            "acknowledged_write_lost",
            "refused_write_present",
            "write_duplicated"
        ],
        "{violations:#?}"
    );
    assert_eq!(stats.acknowledged_lost, 1);
}

#[tokio::test]
async fn a_write_no_client_asked_for_is_reported() {
    let client = ledger().await;
    entry(&client, 1, "redeem", "s1-c9-99", "eu-west-1", Some(1)).await;
    let mut violations = Vec::new();
    writes::check(&History::default(), &client, &mut violations)
        .await
        .unwrap();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert_eq!(violations[0].check, "write_never_invoked");
}

#[tokio::test]
async fn an_entry_at_a_fenced_epoch_is_a_violation_and_one_without_an_epoch_is_only_unverifiable() {
    let client = ledger().await;
    entry(&client, 1, "redeem", "a", "eu-west-1", Some(1)).await;
    entry(&client, 2, "redeem", "b", "eu-west-1", Some(2)).await;
    entry(&client, 3, "redeem", "c", "eu-west-1", None).await;
    let mut violations = Vec::new();
    let stats = fences::check_fences(&client, &mut violations)
        .await
        .unwrap();
    assert_eq!((stats.verified, stats.without_epoch), (1, 1), "{stats:?}");
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert_eq!(violations[0].check, "committed_while_fenced");
    assert_eq!(violations[0].evidence["entries"][0]["reference"], "b");
}

#[tokio::test]
async fn an_eu_members_entry_written_in_the_us_is_a_residency_violation() {
    let client = ledger().await;
    entry(&client, 1, "redeem", "a", "us-east-1", Some(1)).await;
    let mut violations = Vec::new();
    fences::check_residency(&client, &mut violations)
        .await
        .unwrap();
    let checks: Vec<&str> = violations.iter().map(|v| v.check.as_str()).collect();
    assert_eq!(
        checks,
        ["written_outside_residency_group"],
        "{violations:#?}"
    );
}
