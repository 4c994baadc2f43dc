//! Balance reads share a few connections (`store::readers`): each request gets its own
//! member's row however many are in flight, the number of connections is what the
//! configuration says (0: the pool), and a connection the database drops is replaced.

use std::time::Duration;

use futures::future::join_all;
use loyalty_service::config::Config;

use crate::helpers::{ALICE, BRUNO, TestApp, fresh_database, spawn_app_on, test_config};

const SHARED: &str = "loyalty-shared-reads";

fn with_readers(n: usize) -> Config {
    let mut config = test_config();
    config.database.read_connections = n;
    config
}

/// Backends of the shared read connections on this test's database.
async fn shared_backends(app: &TestApp) -> i64 {
    app.sql()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = $1",
            &[&SHARED],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn concurrent_reads_each_get_their_own_member_over_the_configured_connections() {
    let db = fresh_database().await;
    let app = spawn_app_on(&db, with_readers(3)).await;
    app.fund(ALICE, "SHARED-A", 7).await;
    app.fund(BRUNO, "SHARED-B", 11).await;
    let expected = [
        (ALICE, app.balance(ALICE).await["available"].clone()),
        (BRUNO, app.balance(BRUNO).await["available"].clone()),
    ];
    assert_ne!(expected[0].1, expected[1].1);
    let reads = (0..200).map(|i| {
        let (member, available) = expected[i % 2].clone();
        let app = &app;
        async move {
            let body = app.balance(member).await;
            assert_eq!(body["member_id"], member.to_string());
            assert_eq!(body["available"], available, "read {i}");
        }
    });
    join_all(reads).await;
    assert_eq!(shared_backends(&app).await, 3);

    let pooled = spawn_app_on(&fresh_database().await, with_readers(0)).await;
    pooled.balance(ALICE).await;
    assert_eq!(
        shared_backends(&pooled).await,
        0,
        "0 sends reads through the pool"
    );
}

#[tokio::test]
async fn a_shared_connection_the_database_drops_is_replaced() {
    let db = fresh_database().await;
    let app = spawn_app_on(&db, with_readers(2)).await;
    let before = app.balance(ALICE).await;
    app.balance(ALICE).await;
    let killed: i64 = app
        .sql()
        .await
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1) t",
            &[&SHARED],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 2);
    // The connections notice the termination by themselves; every read after that opens a
    // new one instead of failing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..10 {
        assert_eq!(app.balance(ALICE).await, before);
    }
    assert_eq!(shared_backends(&app).await, 2);
}
