//! Fencing and unfencing by SQL, exactly as the operator's failover does it: in one
//! SERIALIZABLE transaction the region's row gets its new state, epoch + 1 and `served_by`,
//! and a `region_transitions` row records that epoch. Tests use it to drive a fence
//! themselves where the operator does not (yet); every use is reported as such.
//!
//! Reading fences back (transitions and current rows) is here too, since the checker and the
//! report need both whoever wrote them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, IsolationLevel};

use crate::error::{Error, Result};

/// Serialization failures retried before giving up.
const MAX_TX_ATTEMPTS: u32 = 10;
/// SQLSTATE of a serialization failure and of a deadlock.
const RETRYABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];

/// One row of `region_transitions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub region: String,
    pub epoch: i64,
    pub state: String,
    pub served_by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A region's row as the service reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRow {
    pub name: String,
    pub group: String,
    pub state: String,
    pub epoch: i64,
    pub served_by: String,
}

/// Every transition, oldest first.
pub async fn transitions(client: &Client) -> Result<Vec<Transition>> {
    let rows = client
        .query(
            "SELECT region, epoch, state, served_by, reason, at FROM region_transitions ORDER BY at, region, epoch",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Transition {
            region: r.get(0),
            epoch: r.get(1),
            state: r.get(2),
            served_by: r.get(3),
            reason: r.get(4),
            at: r.get(5),
        })
        .collect())
}

/// Every region's current row.
pub async fn region_rows(client: &Client) -> Result<Vec<RegionRow>> {
    let rows = client
        .query(
            "SELECT name, residency_group, state, epoch, served_by FROM regions ORDER BY name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| RegionRow {
            name: r.get(0),
            group: r.get(1),
            state: r.get(2),
            epoch: r.get(3),
            served_by: r.get(4),
        })
        .collect())
}

/// Records the current epoch of every region that has no transition for it yet, as
/// `Created`: what the operator does when it creates a region's row. Only for topologies whose
/// operator does not record transitions yet; returns how many rows it added.
pub async fn record_missing_created(client: &Client) -> Result<u64> {
    Ok(client
        .execute(
            "INSERT INTO region_transitions (region, epoch, state, served_by, reason, at) \
             SELECT r.name, r.epoch, r.state, r.served_by, 'Created', r.updated_at FROM regions r \
             WHERE NOT EXISTS (SELECT 1 FROM region_transitions t WHERE t.region = r.name AND t.epoch = r.epoch)",
            &[],
        )
        .await?)
}

/// Fences `region` with `served_by = target`; returns the new epoch.
pub async fn fence(client: &mut Client, region: &str, target: &str, reason: &str) -> Result<i64> {
    set_state(client, region, "fenced", target, reason).await
}

/// Makes `region` active again, serving itself; returns the new epoch.
pub async fn unfence(client: &mut Client, region: &str, reason: &str) -> Result<i64> {
    set_state(client, region, "active", region, reason).await
}

async fn set_state(
    client: &mut Client,
    region: &str,
    state: &str,
    served_by: &str,
    reason: &str,
) -> Result<i64> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_set_state(client, region, state, served_by, reason).await {
            Err(Error::Db(e))
                if attempt < MAX_TX_ATTEMPTS
                    && e.code()
                        .is_some_and(|c| RETRYABLE_SQLSTATES.contains(&c.code())) => {}
            other => return other,
        }
    }
}

async fn try_set_state(
    client: &mut Client,
    region: &str,
    state: &str,
    served_by: &str,
    reason: &str,
) -> Result<i64> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::Serializable)
        .start()
        .await?;
    let row = tx
        .query_opt(
            "UPDATE regions SET state = $2, epoch = epoch + 1, served_by = $3, updated_at = now() \
             WHERE name = $1 RETURNING epoch",
            &[&region, &state, &served_by],
        )
        .await?
        .ok_or_else(|| Error::UnknownRegion(region.to_owned()))?;
    let epoch: i64 = row.get(0);
    tx.execute(
        "INSERT INTO region_transitions (region, epoch, state, served_by, reason, at) \
         VALUES ($1, $2, $3, $4, $5, now())",
        &[&region, &epoch, &state, &served_by, &reason],
    )
    .await?;
    // As the operator does on every region change: configuration readers see a new version.
    tx.execute(
        "INSERT INTO config_versions (name, version, updated_at) VALUES ('regions', 1, now()) \
         ON CONFLICT (name) DO UPDATE SET version = config_versions.version + 1, updated_at = now()",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(epoch)
}
