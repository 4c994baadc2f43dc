//! Region fencing and failover (ADR 0004): a fenced region commits nothing, on any write
//! route or sweep; the region serving it takes over its members and their sweeps; every
//! ledger entry records the epoch of the region row its transaction read.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::helpers::{
    ALICE, BRUNO, CARLA, Response, TestApp, spawn_app, spawn_app_on, test_config,
};

const FAILED: &str = "eu-west-1";
const SERVING: &str = "eu-central-1";
const SERVING_ENDPOINT: &str = "http://127.0.0.1:8081";

/// An instance of `region` on `app`'s database, sweeping at most `batch` items per round.
async fn instance(app: &TestApp, region: &str, batch: i64) -> TestApp {
    let mut config = test_config();
    config.region = region.to_owned();
    config.jobs.batch_size = batch;
    spawn_app_on(&app.db_url, config).await
}

/// Puts a hold of `points` on `member` and returns its id.
async fn hold(app: &TestApp, member: Uuid, points: i64) -> Uuid {
    let res = app
        .post(
            &format!("/v1/members/{member}/holds"),
            json!({"points": points, "reference": "H-1"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["hold_id"].as_str().unwrap().parse().unwrap()
}

/// The idempotency key `backlog` stores for `member`'s redemption.
fn old_key(member: Uuid) -> String {
    format!("old-{member}")
}

/// The redemption `backlog` makes with [`old_key`]; sent again, it is a replay.
async fn redeem_with_old_key(app: &TestApp, member: Uuid) -> Response {
    app.post_idem(
        &format!("/v1/members/{member}/redeem"),
        &old_key(member),
        json!({"points": 10, "reference": "R-old"}),
    )
    .await
}

/// Gives `member` one item due for every sweep, each overdue by `overdue_days`: a hold past
/// its expiry, a lot past its expiry, a pending lot past its vesting time, qualifying points
/// past their window, and an idempotency record past its retention. Returns a further hold
/// that stays active, to capture or void.
async fn backlog(app: &TestApp, member: Uuid, overdue_days: i32) -> Uuid {
    app.fund(member, &format!("{member}-1"), 1_000).await;
    app.fund(member, &format!("{member}-2"), 200).await;
    let vests_at = (chrono::Utc::now() + chrono::Duration::days(14)).to_rfc3339();
    let pending = app
        .post(
            &format!("/v1/members/{member}/earn"),
            json!({"source": "hotel-bookings", "booking_ref": format!("{member}-3"), "product": "hotel",
                   "spend": {"amount_minor": 500, "currency": "EUR"}, "vests_at": vests_at}),
        )
        .await;
    assert_eq!(pending.status, StatusCode::CREATED, "{}", pending.body);
    let redeemed = redeem_with_old_key(app, member).await;
    assert_eq!(redeemed.status, StatusCode::CREATED, "{}", redeemed.body);
    let expiring = hold(app, member, 50).await;
    let active = hold(app, member, 100).await;
    let sql = app.sql().await;
    // The first earn's lot fed the redemption and the holds; the second's stays whole. Each
    // statement's first parameter names the row(s), its second is the overdue days.
    let key = format!("c:{}", old_key(member));
    let updates: [(&str, &(dyn ToSql + Sync)); 5] = [
        (
            "UPDATE lots SET expires_at = now() - make_interval(days => $2) WHERE member_id = $1 AND earn_seq = 2",
            &member,
        ),
        (
            "UPDATE lots SET vests_at = now() - make_interval(days => $2) WHERE member_id = $1 AND vests_at IS NOT NULL",
            &member,
        ),
        (
            "UPDATE lots SET qualifying_until = now() - make_interval(days => $2) WHERE member_id = $1 AND earn_seq = 1",
            &member,
        ),
        (
            "UPDATE holds SET expires_at = now() - make_interval(days => $2) WHERE id = $1",
            &expiring,
        ),
        (
            "UPDATE idempotency_keys SET created_at = now() - INTERVAL '73 hours' - make_interval(days => $2) WHERE key = $1",
            &key,
        ),
    ];
    for (statement, row) in updates {
        let changed = sql.execute(statement, &[row, &overdue_days]).await.unwrap();
        assert_eq!(changed, 1, "{statement}");
    }
    active
}

/// A sweep report: holds expired, lots expired, lots vested, members aged, records pruned.
fn swept(holds: u64, expired: u64, vested: u64, aged: u64, pruned: u64) -> Value {
    json!({
        "holds_expired": holds,
        "lots_expired": expired,
        "lots_vested": vested,
        "members_aged": aged,
        "idempotency_keys_pruned": pruned,
        "tiers_downgraded": 0,
        "reviews_expired": 0,
        "expiry_notices": 0,
        "deliveries_pruned": 0,
        "events_pruned": 0,
    })
}

async fn sweep(app: &TestApp) -> Value {
    let res = app.post("/v1/admin/jobs/sweep", Value::Null).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body
}

/// `(written_in, written_epoch)` of every entry of `member`, oldest first.
async fn epochs(app: &TestApp, member: Uuid) -> Vec<(String, Option<i64>)> {
    app.sql()
        .await
        .query(
            "SELECT written_in, written_epoch FROM ledger_entries WHERE member_id = $1 ORDER BY seq",
            &[&member],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn a_fenced_region_refuses_every_write_route_naming_the_serving_region_and_writes_nothing() {
    let app = spawn_app().await;
    let active = backlog(&app, ALICE, 1).await;
    app.transition(FAILED, "fenced", SERVING, "FailedOver")
        .await;
    let alice = format!("/v1/members/{ALICE}");
    let cases: Vec<(&str, String, Value)> = vec![
        (
            "enrol a member homed in the failed region",
            "/v1/members".into(),
            json!({"external_id": "cust-fr", "country": "FR"}),
        ),
        (
            "enrol a member homed in the serving region",
            "/v1/members".into(),
            json!({"external_id": "cust-de", "country": "DE"}),
        ),
        (
            "earn",
            format!("{alice}/earn"),
            json!({"source": "hotel-bookings", "booking_ref": "BK-9", "product": "hotel", "spend": {"amount_minor": 1_000, "currency": "EUR"}}),
        ),
        (
            "earn for a member of the serving region",
            format!("/v1/members/{BRUNO}/earn"),
            json!({"source": "hotel-bookings", "booking_ref": "BK-B", "product": "hotel", "spend": {"amount_minor": 1_000, "currency": "EUR"}}),
        ),
        (
            "reversal",
            format!("{alice}/reversals"),
            json!({"source": "hotel-bookings", "booking_ref": format!("{ALICE}-1"), "points": 10}),
        ),
        (
            "redeem",
            format!("{alice}/redeem"),
            json!({"points": 10, "reference": "R-9"}),
        ),
        (
            "hold",
            format!("{alice}/holds"),
            json!({"points": 10, "reference": "H-9"}),
        ),
        (
            "capture",
            format!("{alice}/holds/{active}/capture"),
            json!({}),
        ),
        ("void", format!("{alice}/holds/{active}/void"), Value::Null),
        (
            "transfer",
            format!("{alice}/transfers"),
            json!({"to_member_id": BRUNO, "points": 10, "reference": "T-9"}),
        ),
    ];
    let before = app.footprint().await;
    for (i, (case, path, body)) in cases.into_iter().enumerate() {
        // A transfer is its sender's own act: only the member's token may ask for it.
        let member = app.as_member(ALICE);
        let caller = if case == "transfer" { &member } else { &app };
        let res = caller.post_idem(&path, &format!("fenced-{i}"), body).await;
        assert_eq!(
            res.status,
            StatusCode::MISDIRECTED_REQUEST,
            "{case}: {}",
            res.body
        );
        assert_eq!(res.code(), "wrong_region", "{case}");
        let details = &res.body["error"]["details"];
        assert_eq!(details["serving_region"], SERVING, "{case}");
        assert_eq!(details["endpoint"], SERVING_ENDPOINT, "{case}");
        assert_eq!(app.footprint().await, before, "{case} wrote something");
    }
}

#[tokio::test]
async fn a_fenced_region_answers_a_replayed_request_with_the_serving_region() {
    let app = spawn_app().await;
    backlog(&app, ALICE, 1).await;
    app.transition(FAILED, "fenced", SERVING, "FailedOver")
        .await;
    let res = redeem_with_old_key(&app, ALICE).await;
    assert_eq!(res.status, StatusCode::MISDIRECTED_REQUEST, "{}", res.body);
    assert_eq!(res.body["error"]["details"]["serving_region"], SERVING);
    let serving = instance(&app, SERVING, 100).await;
    let replay = redeem_with_old_key(&serving, ALICE).await;
    assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.body);
    assert!(replay.replayed);
}

#[tokio::test]
async fn a_fenced_regions_sweeps_commit_nothing_whether_it_failed_over_or_failed_closed() {
    // Failed over, its members are served elsewhere and it finds nothing to sweep; failed
    // closed (no eligible target) it still serves them on paper, so the sweeps find work
    // and their transactions' own read of the fence must refuse it.
    for (shape, served_by, reason) in [
        ("failed over", SERVING, "FailedOver"),
        ("failed closed", FAILED, "ManualFence"),
    ] {
        let app = spawn_app().await;
        backlog(&app, ALICE, 1).await;
        app.transition(FAILED, "fenced", served_by, reason).await;
        let before = app.footprint().await;
        assert_eq!(sweep(&app).await, swept(0, 0, 0, 0, 0), "{shape}");
        assert_eq!(
            app.footprint().await,
            before,
            "{shape}: a sweep wrote something"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_serving_region_serves_and_sweeps_the_failed_regions_members_even_behind_another_groups_backlog()
 {
    let app = spawn_app().await;
    let active = backlog(&app, ALICE, 1).await;
    // Another group's items, overdue for longer, come first in every candidate order.
    let us = instance(&app, "us-east-1", 100).await;
    backlog(&us, CARLA, 2).await;
    app.transition(FAILED, "fenced", SERVING, "FailedOver")
        .await;
    // A batch of one: a single item this region may not act on would starve the round.
    let serving = instance(&app, SERVING, 1).await;
    assert_eq!(sweep(&serving).await, swept(1, 1, 1, 1, 1));
    assert_eq!(
        sweep(&us).await,
        swept(1, 1, 1, 1, 1),
        "Carla's items were left to her region"
    );
    let capture = serving
        .post(
            &format!("/v1/members/{ALICE}/holds/{active}/capture"),
            json!({}),
        )
        .await;
    assert_eq!(capture.status, StatusCode::OK, "{}", capture.body);
    serving.fund(ALICE, "BK-after", 100).await;
    let last_two: Vec<_> = epochs(&serving, ALICE)
        .await
        .into_iter()
        .rev()
        .take(2)
        .collect();
    assert_eq!(last_two, vec![(SERVING.to_owned(), Some(1)); 2]);
    serving.assert_audit_clean().await;
}

#[tokio::test]
async fn every_entry_records_the_epoch_its_transaction_read_and_it_changes_after_an_epoch_bump() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 100).await;
    let fenced = app
        .transition(FAILED, "fenced", SERVING, "FailedOver")
        .await;
    let serving = instance(&app, SERVING, 100).await;
    serving.fund(ALICE, "BK-2", 100).await;
    let back = app.transition(FAILED, "active", FAILED, "FailedBack").await;
    assert_eq!((fenced, back), (2, 3));
    app.fund(ALICE, "BK-3", 100).await;
    assert_eq!(
        epochs(&app, ALICE).await,
        vec![
            (FAILED.to_owned(), Some(1)),
            (SERVING.to_owned(), Some(1)),
            (FAILED.to_owned(), Some(back)),
        ]
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn readiness_of_a_fenced_region_names_its_epoch_and_serving_region() {
    let app = spawn_app().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(
        (&ready.body["epoch"], &ready.body["served_by"]),
        (&json!(1), &json!(FAILED))
    );
    let epoch = app
        .transition(FAILED, "fenced", SERVING, "FailedOver")
        .await;
    let fenced = app.get("/readyz").await;
    assert_eq!(fenced.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        fenced.body,
        json!({"status": "not_ready", "reason": "region_not_active", "region_state": "fenced",
               "epoch": epoch, "served_by": SERVING})
    );
}

#[cfg(feature = "chaos-hooks")]
#[tokio::test]
async fn with_the_fence_check_skipped_a_fenced_instance_commits_an_entry_at_a_fenced_epoch() {
    let mut config = test_config();
    config.chaos.skip_fence_check = true;
    let app = spawn_app_on(&crate::helpers::fresh_database().await, config).await;
    let epoch = app
        .transition(FAILED, "fenced", SERVING, "FailedOver")
        .await;
    app.fund(ALICE, "BK-1", 100).await;
    let written: Option<i64> = epochs(&app, ALICE).await[0].1;
    let state: String = app
        .sql()
        .await
        .query_one(
            "SELECT state FROM region_transitions WHERE region = $1 AND epoch = $2",
            &[&FAILED, &written],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!((written, state.as_str()), (Some(epoch), "fenced"));
    // The production audit catches it: the check fails once the guard is gone.
    let audit = app.get("/v1/admin/audit").await;
    let checks: Vec<&str> = audit.body["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["check"].as_str())
        .collect();
    assert_eq!(checks, ["not_written_while_fenced"], "{:#}", audit.body);
    // The residency group is still enforced.
    let carla = app
        .post(
            &format!("/v1/members/{CARLA}/redeem"),
            json!({"points": 1, "reference": "R"}),
        )
        .await;
    assert_eq!(carla.code(), "wrong_region");
}
