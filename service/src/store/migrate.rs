//! Schema migrations, owned by the service alone (the operator writes rows, never tables).
//!
//! Each migration is a SQL file compiled into the binary and applied once, in order,
//! recorded in `schema_migrations`. A migration must be idempotent (`IF NOT EXISTS`) so
//! that two instances starting at once cannot break each other; the version row's primary
//! key decides which one records it.

use tokio_postgres::Client;

use crate::error::Result;

/// (version, name, SQL), in order. Never edit a released migration: add a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "ledger",
        include_str!("../../migrations/0001_ledger.sql"),
    ),
    (
        2,
        "declarative_config",
        include_str!("../../migrations/0002_declarative_config.sql"),
    ),
    (
        3,
        "programme_rules",
        include_str!("../../migrations/0003_programme_rules.sql"),
    ),
    (
        4,
        "transfers_leaderboard",
        include_str!("../../migrations/0004_transfers_leaderboard.sql"),
    ),
    (
        5,
        "qualifying_window",
        include_str!("../../migrations/0005_qualifying_window.sql"),
    ),
    (
        6,
        "failover",
        include_str!("../../migrations/0006_failover.sql"),
    ),
    (
        7,
        "typed_responses",
        include_str!("../../migrations/0007_typed_responses.sql"),
    ),
    (
        8,
        "redemption_rules",
        include_str!("../../migrations/0008_redemption_rules.sql"),
    ),
    (
        9,
        "activities",
        include_str!("../../migrations/0009_activities.sql"),
    ),
    (
        10,
        "outbox",
        include_str!("../../migrations/0010_outbox.sql"),
    ),
    (
        11,
        "delivery",
        include_str!("../../migrations/0011_delivery.sql"),
    ),
    (
        12,
        "personal_data_keys",
        include_str!("../../migrations/0012_personal_data_keys.sql"),
    ),
    (
        13,
        "fraud_reviews",
        include_str!("../../migrations/0013_fraud_reviews.sql"),
    ),
    (
        14,
        "leaderboard_bands",
        include_str!("../../migrations/0014_leaderboard_bands.sql"),
    ),
    (
        15,
        "leaderboard_live_index",
        include_str!("../../migrations/0015_leaderboard_live_index.sql"),
    ),
    (
        16,
        "delivery_retention",
        include_str!("../../migrations/0016_delivery_retention.sql"),
    ),
];

/// Applies every migration the database has not seen; returns how many were applied.
pub async fn run(client: &Client) -> Result<usize> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS {
        let done = client
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[version],
            )
            .await?
            .is_some();
        if done {
            continue;
        }
        client.batch_execute(sql).await?;
        client
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING",
                &[version, name],
            )
            .await?;
        tracing::info!(version, name, "migration applied");
        applied += 1;
    }
    Ok(applied)
}
