//! Background sweeps: hold expiry, lot expiry, vesting of pending points, ageing of
//! qualifying points with the tier review, pruning of idempotency records, and pruning of
//! delivered webhook deliveries and their outbox events (`store::delivery`).
//!
//! Each sweep picks candidates with a plain read, then handles one member per SERIALIZABLE
//! transaction that re-reads the rows it changes. Two replicas running the same sweep at once
//! therefore cannot both act on a row: one commits, the other's transaction conflicts,
//! re-runs, and finds nothing left to do. Every sweep is idempotent.
//!
//! A region sweeps the members homed in the regions it serves (`regions.served_by`): its own
//! and, after a failover, the failed region's, which have no other sweeper while their home
//! is fenced. Candidates are chosen among those members only, so another group's backlog can
//! never fill a batch this region may not act on. Every sweep transaction reads this
//! region's row like any write (ADR 0004): a fenced region's sweeps commit nothing.

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::context::{member_ctx, unless_fenced};
use super::delivery::{Pruned, Retention};
use super::ledger::{Deltas, Draft, EntryKind};
use super::lots::{self, Allocation};
use super::tx::Tx;
use super::{Db, now_micros, tiers};
use crate::domain::rules::TierLadder;
use crate::error::{Error, Result};

/// Whether a sweep's unit ended its row (a hold, a review). A refusal is not an error here:
/// someone else ended the row first, or this region does not serve its member.
pub(super) fn ended_here<T>(outcome: Result<T>, what: &str, id: Uuid) -> Result<bool> {
    match outcome {
        Ok(_) => Ok(true),
        Err(Error::Refused(r)) => {
            tracing::debug!(%id, code = r.code(), what, "not ended here");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SweepReport {
    pub holds_expired: u64,
    pub reviews_expired: u64,
    pub lots_expired: u64,
    pub lots_vested: u64,
    pub idempotency_keys_pruned: u64,
    pub members_aged: u64,
    pub tiers_downgraded: u64,
    /// "Points expiring in 30, 7 and 1 days" events written.
    pub expiry_notices: u64,
    /// Delivered webhook deliveries deleted after `delivery.retention_h`.
    pub deliveries_pruned: u64,
    /// Outbox events deleted after `delivery.retention_h`, none still needed by a delivery.
    pub events_pruned: u64,
}

/// Bounds of one sweep round.
#[derive(Debug, Clone, Copy)]
pub struct SweepLimits {
    pub batch: i64,
    pub idempotency_retention: chrono::Duration,
    pub qualifying_window: chrono::Duration,
    pub tier_grace: chrono::Duration,
    /// `None` when delivered rows and events are kept forever (`delivery.retention_h = 0`).
    pub delivery_retention: Option<Retention>,
}

impl SweepLimits {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let hours = i64::try_from(config.jobs.idempotency_retention_h).unwrap_or(24 * 365);
        Self {
            batch: config.jobs.batch_size,
            idempotency_retention: chrono::Duration::hours(hours),
            qualifying_window: chrono::Duration::days(i64::from(
                config.ledger.qualifying_window_days,
            )),
            tier_grace: chrono::Duration::days(i64::from(config.ledger.tier_grace_days)),
            delivery_retention: delivery_retention(config),
        }
    }
}

/// `delivery.retention_h` as the pruning's bounds, batched like every sweep.
fn delivery_retention(config: &crate::config::Config) -> Option<Retention> {
    let hours = i64::try_from(config.delivery.retention_h)
        .ok()
        .filter(|h| *h > 0)?;
    Some(Retention {
        keep: chrono::Duration::hours(hours),
        fanout_margin: config.delivery.fanout_margin(),
        batch: config.jobs.batch_size,
    })
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Members served by `region` with lots due: expired (`vests_at IS NULL AND expires_at <=
/// now`) or vesting.
async fn due_members(
    client: &ClientWrapper,
    region: &str,
    vesting: bool,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<Uuid>> {
    let sql = if vesting {
        "SELECT DISTINCT member_id FROM lots WHERE vests_at IS NOT NULL AND vests_at <= $1 \
         AND home_region IN (SELECT name FROM regions WHERE served_by = $3) LIMIT $2"
    } else {
        "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND vests_at IS NULL AND expires_at <= $1 \
         AND home_region IN (SELECT name FROM regions WHERE served_by = $3) LIMIT $2"
    };
    let stmt = client.prepare_cached(sql).await?;
    Ok(client
        .query(&stmt, &[&now, &batch, &region])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Expires every due lot of one member: one `expire` entry per lot, for exactly its remainder.
async fn expire_member_lots(tx: &Tx<'_>, region: &str, member_id: Uuid) -> Result<u64> {
    let mut ctx = member_ctx(tx, region, member_id).await?;
    let now = now_micros();
    let rows = tx
        .query(
            "SELECT id, remaining, expires_at FROM lots \
             WHERE member_id = $1 AND remaining > 0 AND vests_at IS NULL AND expires_at <= $2 ORDER BY expires_at, id",
            &[&member_id, &now],
        )
        .await?;
    let mut expired = Vec::with_capacity(rows.len());
    for row in &rows {
        let (lot, points, expires_at): (Uuid, i64, DateTime<Utc>) =
            (row.get(0), row.get(1), row.get(2));
        ctx.append(
            tx,
            now,
            Draft::new(
                EntryKind::Expire,
                Deltas {
                    available: -points,
                    ..Deltas::default()
                },
                "points expired",
                json!({ "lot": lot, "expired_at": expires_at }),
            ),
        )
        .await?;
        expired.push(Allocation { lot, points });
    }
    lots::adjust(tx, &expired, -1).await?;
    ctx.write_balance(tx, now).await?;
    Ok(expired.len() as u64)
}

/// Vests every due pending lot of one member: pending becomes available and starts counting
/// towards lifetime and qualifying points (which may raise the tier).
async fn vest_member_lots(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    ladder: &TierLadder,
    qualifying_window: chrono::Duration,
) -> Result<u64> {
    let mut ctx = member_ctx(tx, region, member_id).await?;
    let now = now_micros();
    let rows = tx
        .query(
            "SELECT id, remaining FROM lots WHERE member_id = $1 AND vests_at IS NOT NULL AND vests_at <= $2 ORDER BY id",
            &[&member_id, &now],
        )
        .await?;
    let mut vested = Vec::with_capacity(rows.len());
    for row in &rows {
        let (lot, points): (Uuid, i64) = (row.get(0), row.get(1));
        ctx.append(
            tx,
            now,
            Draft::new(
                EntryKind::Adjust,
                Deltas {
                    pending: -points,
                    available: points,
                    lifetime: points,
                    qualifying: points,
                    held: 0,
                },
                "pending points vested",
                json!({ "lot": lot }),
            ),
        )
        .await?;
        vested.push(lot);
    }
    tx.write(
        "UPDATE lots SET vests_at = NULL, qualifying_until = $2 WHERE id = ANY($1)",
        super::tx::params![vested.clone(), now + qualifying_window],
    )
    .await?;
    tiers::upgrade(tx, &ctx, ladder, now).await?;
    ctx.write_balance(tx, now).await?;
    Ok(vested.len() as u64)
}

/// Ages one member's qualifying points whose window is over (one `adjust` entry), then
/// reviews their tier. Returns (whether points aged, whether the tier was lowered).
async fn age_member(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    ladder: &TierLadder,
    grace: chrono::Duration,
) -> Result<(bool, bool)> {
    let mut ctx = member_ctx(tx, region, member_id).await?;
    let now = now_micros();
    let rows = tx
        .query(
            "SELECT id, qualifying FROM lots WHERE member_id = $1 AND qualifying > 0 AND qualifying_until <= $2",
            &[&member_id, &now],
        )
        .await?;
    let lots: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    let total: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
    let aged = total.min(ctx.balance.qualifying);
    if aged > 0 {
        ctx.append(
            tx,
            now,
            Draft::new(
                EntryKind::Adjust,
                Deltas {
                    qualifying: -aged,
                    ..Deltas::default()
                },
                "qualifying points left the rolling window",
                json!({ "lots": lots }),
            ),
        )
        .await?;
    }
    if !lots.is_empty() {
        tx.write(
            "UPDATE lots SET qualifying = 0 WHERE id = ANY($1)",
            super::tx::params![lots.clone()],
        )
        .await?;
    }
    let downgraded = tiers::review(tx, &ctx, ladder, grace, now).await?.is_some();
    if aged > 0 {
        ctx.write_balance(tx, now).await?;
    }
    Ok((aged > 0, downgraded))
}

/// Deletes up to `batch` idempotency records created before `before` of members homed in
/// regions this region serves. Deleting is a write like any other: the transaction reads
/// this region's row in the same round trip as the candidates, and a fenced region deletes
/// nothing (ADR 0004).
async fn prune_unit(tx: &Tx<'_>, region: &str, before: DateTime<Utc>, batch: i64) -> Result<u64> {
    let candidates = async {
        tx.query(
            "SELECT key FROM idempotency_keys WHERE created_at < $1 \
             AND home_region IN (SELECT name FROM regions WHERE served_by = $3) \
             ORDER BY created_at LIMIT $2",
            &[&before, &batch, &region],
        )
        .await
    };
    let Some(rows) = unless_fenced(tx, region, candidates).await? else {
        return Ok(0);
    };
    if rows.is_empty() {
        return Ok(0);
    }
    let keys: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    tx.write(
        "DELETE FROM idempotency_keys WHERE key = ANY($1)",
        super::tx::params![keys.clone()],
    )
    .await?;
    Ok(keys.len() as u64)
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
        let window = limits.qualifying_window;
        let (members_aged, tiers_downgraded) =
            self.sweep_qualifying(region, &limits, ladder).await?;
        let pruned = match limits.delivery_retention {
            Some(retention) => self.prune_deliveries(region, retention).await?,
            None => Pruned::default(),
        };
        Ok(SweepReport {
            holds_expired: self.expire_holds(region, batch).await?,
            reviews_expired: self.expire_reviews(region, batch).await?,
            lots_expired: self
                .sweep_lots(region, batch, false, ladder, window)
                .await?,
            lots_vested: self.sweep_lots(region, batch, true, ladder, window).await?,
            idempotency_keys_pruned: self.prune_idempotency_keys(region, before, batch).await?,
            members_aged,
            tiers_downgraded,
            expiry_notices: self.notice_expiring_lots(region, batch).await?,
            deliveries_pruned: pruned.deliveries,
            events_pruned: pruned.events,
        })
    }

    /// Ages qualifying points out of the rolling window and reviews tiers: members with lots
    /// whose qualifying time is over, and members whose grace period has run out.
    async fn sweep_qualifying(
        &self,
        region: &str,
        limits: &SweepLimits,
        ladder: &TierLadder,
    ) -> Result<(u64, u64)> {
        let now = now_micros();
        let members: Vec<Uuid> = {
            let client = self.conn().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT DISTINCT member_id FROM lots WHERE qualifying > 0 AND qualifying_until <= $1 \
                     AND home_region IN (SELECT name FROM regions WHERE served_by = $3) LIMIT $2",
                )
                .await?;
            let graced = client
                .prepare_cached(
                    "SELECT id FROM members WHERE tier_below_since <= $1 \
                     AND home_region IN (SELECT name FROM regions WHERE served_by = $3) LIMIT $2",
                )
                .await?;
            let mut ids: Vec<Uuid> = client
                .query(&stmt, &[&now, &limits.batch, &region])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let due = now - limits.tier_grace;
            ids.extend(
                client
                    .query(&graced, &[&due, &limits.batch, &region])
                    .await?
                    .iter()
                    .map(|r| r.get::<_, Uuid>(0)),
            );
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let (mut aged, mut downgraded) = (0, 0);
        for member_id in members {
            let _queue = self.member_lock(member_id).await;
            let outcome = self
                .serializable("age_qualifying", |tx| {
                    let (region, ladder, grace) =
                        (region.to_owned(), ladder.clone(), limits.tier_grace);
                    Box::pin(
                        async move { age_member(tx, &region, member_id, &ladder, grace).await },
                    )
                })
                .await;
            match outcome {
                Ok(Some((a, d))) => {
                    aged += u64::from(a);
                    downgraded += u64::from(d);
                }
                Ok(None) => {}
                Err(Error::Refused(r)) => {
                    tracing::debug!(%member_id, code = r.code(), "qualifying not swept here")
                }
                Err(e) => return Err(e),
            }
        }
        Ok((aged, downgraded))
    }

    /// Deletes up to `batch` idempotency records created before `before` (see
    /// [`prune_unit`]); an ambiguous commit counts as nothing pruned, and the next round
    /// finds whatever is left.
    async fn prune_idempotency_keys(
        &self,
        region: &str,
        before: DateTime<Utc>,
        batch: i64,
    ) -> Result<u64> {
        let pruned = self
            .serializable("prune_idempotency_keys", |tx| {
                let region = region.to_owned();
                Box::pin(async move { prune_unit(tx, &region, before, batch).await })
            })
            .await?;
        Ok(pruned.unwrap_or(0))
    }

    async fn sweep_lots(
        &self,
        region: &str,
        batch: i64,
        vesting: bool,
        ladder: &TierLadder,
        window: chrono::Duration,
    ) -> Result<u64> {
        let members =
            due_members(&*self.conn().await?, region, vesting, now_micros(), batch).await?;
        let mut done = 0;
        for member_id in members {
            let _queue = self.member_lock(member_id).await;
            let operation = if vesting { "vest_lots" } else { "expire_lots" };
            let outcome = self
                .serializable(operation, |tx| {
                    let (region, ladder) = (region.to_owned(), ladder.clone());
                    Box::pin(async move {
                        if vesting {
                            vest_member_lots(tx, &region, member_id, &ladder, window).await
                        } else {
                            expire_member_lots(tx, &region, member_id).await
                        }
                    })
                })
                .await;
            match outcome {
                Ok(n) => done += n.unwrap_or(0),
                // Refused (this region is fenced, or the member is out of its reach):
                // nothing was written; the region serving the member sweeps it.
                Err(Error::Refused(r)) => {
                    tracing::debug!(%member_id, code = r.code(), "lots not swept here")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}
