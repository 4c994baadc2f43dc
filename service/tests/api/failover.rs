//! Region fencing and failover (ADR 0004): every ledger entry records the epoch of the
//! region row its transaction read, and readiness reports a fenced region's epoch and
//! serving region.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{ALICE, TestApp, spawn_app, spawn_app_on, test_config};

const FAILED: &str = "eu-west-1";
const SERVING: &str = "eu-central-1";

/// An instance of `region` on `app`'s database, sweeping at most `batch` items per round.
async fn instance(app: &TestApp, region: &str, batch: i64) -> TestApp {
    let mut config = test_config();
    config.region = region.to_owned();
    config.jobs.batch_size = batch;
    spawn_app_on(&app.db_url, config).await
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
