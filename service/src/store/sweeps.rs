//! Background sweeps: hold expiry, lot expiry and vesting of pending points.
//!
//! Each sweep picks candidates with a plain read, then handles one member per SERIALIZABLE
//! transaction that re-reads the rows it changes. Two replicas running the same sweep at once
//! therefore cannot both act on a row: one commits, the other's transaction conflicts,
//! re-runs, and finds nothing left to do. Every sweep is idempotent.

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::context::member_ctx;
use super::ledger::{Deltas, Draft, EntryKind};
use super::lots::{self, Allocation};
use super::{Db, now_micros, tiers};
use crate::domain::rules::TierLadder;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub holds_expired: u64,
    pub lots_expired: u64,
    pub lots_vested: u64,
    pub idempotency_keys_pruned: u64,
}

/// Bounds of one sweep round.
#[derive(Debug, Clone, Copy)]
pub struct SweepLimits {
    pub batch: i64,
    pub idempotency_retention: chrono::Duration,
}

impl SweepLimits {
    pub fn from_config(jobs: &crate::config::JobsConfig) -> Self {
        let hours = i64::try_from(jobs.idempotency_retention_h).unwrap_or(24 * 365);
        Self {
            batch: jobs.batch_size,
            idempotency_retention: chrono::Duration::hours(hours),
        }
    }
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Members with lots due: expired (`vests_at IS NULL AND expires_at <= now`) or vesting.
async fn due_members(
    client: &ClientWrapper,
    vesting: bool,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<Uuid>> {
    let sql = if vesting {
        "SELECT DISTINCT member_id FROM lots WHERE vests_at IS NOT NULL AND vests_at <= $1 LIMIT $2"
    } else {
        "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND vests_at IS NULL AND expires_at <= $1 LIMIT $2"
    };
    let stmt = client.prepare_cached(sql).await?;
    Ok(client
        .query(&stmt, &[&now, &batch])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Expires every due lot of one member: one `expire` entry per lot, for exactly its remainder.
async fn expire_member_lots(client: &ClientWrapper, region: &str, member_id: Uuid) -> Result<u64> {
    let mut ctx = member_ctx(client, region, member_id).await?;
    let now = now_micros();
    let stmt = client
        .prepare_cached(
            "SELECT id, remaining, expires_at FROM lots \
             WHERE member_id = $1 AND remaining > 0 AND vests_at IS NULL AND expires_at <= $2 ORDER BY expires_at, id",
        )
        .await?;
    let rows = client.query(&stmt, &[&member_id, &now]).await?;
    let mut expired = Vec::with_capacity(rows.len());
    for row in &rows {
        let (lot, points, expires_at): (Uuid, i64, DateTime<Utc>) =
            (row.get(0), row.get(1), row.get(2));
        ctx.append(
            client,
            now,
            Draft {
                kind: EntryKind::Expire,
                deltas: Deltas {
                    available: -points,
                    ..Deltas::default()
                },
                reason: "points expired",
                source: None,
                reference: None,
                hold_id: None,
                details: json!({ "lot": lot, "expired_at": expires_at }),
            },
        )
        .await?;
        expired.push(Allocation { lot, points });
    }
    lots::adjust(client, &expired, -1).await?;
    ctx.write_balance(client, now).await?;
    Ok(expired.len() as u64)
}

/// Vests every due pending lot of one member: pending becomes available and starts counting
/// towards lifetime and qualifying points (which may raise the tier).
async fn vest_member_lots(
    client: &ClientWrapper,
    region: &str,
    member_id: Uuid,
    ladder: &TierLadder,
) -> Result<u64> {
    let mut ctx = member_ctx(client, region, member_id).await?;
    let now = now_micros();
    let stmt = client
        .prepare_cached(
            "SELECT id, remaining FROM lots WHERE member_id = $1 AND vests_at IS NOT NULL AND vests_at <= $2 ORDER BY id",
        )
        .await?;
    let rows = client.query(&stmt, &[&member_id, &now]).await?;
    let mut vested = Vec::with_capacity(rows.len());
    for row in &rows {
        let (lot, points): (Uuid, i64) = (row.get(0), row.get(1));
        ctx.append(
            client,
            now,
            Draft {
                kind: EntryKind::Adjust,
                deltas: Deltas {
                    pending: -points,
                    available: points,
                    lifetime: points,
                    qualifying: points,
                    held: 0,
                },
                reason: "pending points vested",
                source: None,
                reference: None,
                hold_id: None,
                details: json!({ "lot": lot }),
            },
        )
        .await?;
        vested.push(lot);
    }
    let update = client
        .prepare_cached("UPDATE lots SET vests_at = NULL WHERE id = ANY($1)")
        .await?;
    client.execute(&update, &[&vested]).await?;
    tiers::upgrade(client, &ctx, ladder, now).await?;
    ctx.write_balance(client, now).await?;
    Ok(vested.len() as u64)
}

impl Db {
    /// One round of every sweep, each bounded by `batch`.
    pub async fn run_sweeps(
        &self,
        region: &str,
        limits: SweepLimits,
        ladder: &TierLadder,
    ) -> Result<SweepReport> {
        let batch = limits.batch;
        let before = now_micros() - limits.idempotency_retention;
        Ok(SweepReport {
            holds_expired: self.expire_holds(region, batch).await?,
            lots_expired: self.sweep_lots(region, batch, false, ladder).await?,
            lots_vested: self.sweep_lots(region, batch, true, ladder).await?,
            idempotency_keys_pruned: self.prune_idempotency_keys(before, batch).await?,
        })
    }

    /// Deletes up to `batch` idempotency records created before `before`: a single-table
    /// delete of rows nobody writes again, so the statement alone is the transaction.
    async fn prune_idempotency_keys(&self, before: DateTime<Utc>, batch: i64) -> Result<u64> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM idempotency_keys WHERE key IN \
                 (SELECT key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
            )
            .await?;
        Ok(client.execute(&stmt, &[&before, &batch]).await?)
    }

    async fn sweep_lots(
        &self,
        region: &str,
        batch: i64,
        vesting: bool,
        ladder: &TierLadder,
    ) -> Result<u64> {
        let members = due_members(&*self.conn().await?, vesting, now_micros(), batch).await?;
        let mut done = 0;
        for member_id in members {
            let _queue = self.member_lock(member_id).await;
            let operation = if vesting { "vest_lots" } else { "expire_lots" };
            let outcome = self
                .serializable(operation, |client| {
                    let (region, ladder) = (region.to_owned(), ladder.clone());
                    Box::pin(async move {
                        if vesting {
                            vest_member_lots(client, &region, member_id, &ladder).await
                        } else {
                            expire_member_lots(client, &region, member_id).await
                        }
                    })
                })
                .await;
            match outcome {
                Ok(n) => done += n.unwrap_or(0),
                // A member this region does not serve: its own region sweeps it.
                Err(Error::Api(e)) => {
                    tracing::debug!(%member_id, code = e.code, "lots not swept here")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}
