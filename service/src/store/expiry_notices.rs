//! The sweep's "points expiring in 30, 7 and 1 days" events (`points.expiring`), once per lot
//! and threshold: a `lot_expiry_notices` row per (lot, threshold) is written with the event in
//! the same transaction, so a notice exists exactly when its event does. Like the other
//! sweeps, candidates come from a plain read and each member is handled in a SERIALIZABLE
//! transaction of its own that reads this region's fence row (`member_ctx`).

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::context::member_ctx;
use super::tx::{Tx, params};
use super::{Db, now_micros, outbox};
use crate::domain::events::{Event, EventType};
use crate::domain::expiry_notice::{THRESHOLDS_DAYS, due, recorded_with};
use crate::error::{Error, Result};

/// The widest threshold, as a duration.
fn horizon() -> chrono::Duration {
    chrono::Duration::days(i64::from(THRESHOLDS_DAYS[0]))
}

/// Members served by `region` with a lot inside a threshold it has not been noticed for.
async fn candidates(db: &Db, region: &str, now: DateTime<Utc>, batch: i64) -> Result<Vec<Uuid>> {
    let client = db.conn().await?;
    let rows = client
        .query(
            "SELECT DISTINCT l.member_id FROM lots l \
             WHERE l.remaining > 0 AND l.vests_at IS NULL AND l.expires_at > $1 AND l.expires_at <= $2 \
             AND l.home_region IN (SELECT name FROM regions WHERE served_by = $3) \
             AND NOT EXISTS (SELECT 1 FROM lot_expiry_notices n WHERE n.lot_id = l.id AND n.days_before = \
                 CASE WHEN l.expires_at <= $5 THEN 1 WHEN l.expires_at <= $6 THEN 7 ELSE 30 END) \
             LIMIT $4",
            &[
                &now,
                &(now + horizon()),
                &region,
                &batch,
                &(now + chrono::Duration::days(1)),
                &(now + chrono::Duration::days(7)),
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Writes the due notices of one member's lots; returns how many events.
async fn notice_member(tx: &Tx<'_>, region: &str, member_id: Uuid) -> Result<u64> {
    let ctx = member_ctx(tx, region, member_id).await?;
    let now = now_micros();
    let lots = tx
        .query(
            "SELECT l.id, l.remaining, l.expires_at, \
             (SELECT array_agg(n.days_before) FROM lot_expiry_notices n WHERE n.lot_id = l.id) \
             FROM lots l WHERE l.member_id = $1 AND l.remaining > 0 AND l.vests_at IS NULL \
             AND l.expires_at > $2 AND l.expires_at <= $3 ORDER BY l.expires_at, l.id",
            &[&member_id, &now, &(now + horizon())],
        )
        .await?;
    let mut events = 0;
    for row in &lots {
        let (lot, points, expires_at): (Uuid, i64, DateTime<Utc>) =
            (row.get(0), row.get(1), row.get(2));
        let noticed: Vec<i32> = row.get::<_, Option<Vec<i32>>>(3).unwrap_or_default();
        let Some(days) = due(expires_at, now, &noticed) else {
            continue;
        };
        for d in recorded_with(days).filter(|d| !noticed.contains(d)) {
            tx.write(
                "INSERT INTO lot_expiry_notices (lot_id, days_before, member_id, home_region, noticed_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                params![lot, d, member_id, ctx.home_region.clone(), now],
            )
            .await?;
        }
        let event = Event {
            id: Uuid::new_v4(),
            kind: EventType::PointsExpiring,
            member_id,
            member_seq: ctx.balance.last_seq,
            region: ctx.region.clone(),
            time: now,
            data: json!({ "lot_id": lot, "points": points, "expires_at": expires_at, "days_before": days }),
        };
        outbox::record(tx, &event, &ctx.home_region).await?;
        events += 1;
    }
    Ok(events)
}

impl Db {
    /// One round of expiry notices for up to `batch` members; returns the events written.
    pub(super) async fn notice_expiring_lots(&self, region: &str, batch: i64) -> Result<u64> {
        let mut written = 0;
        for member_id in candidates(self, region, now_micros(), batch).await? {
            let _queue = self.member_lock(member_id).await;
            let outcome = self
                .serializable("notice_expiring_lots", |tx| {
                    let region = region.to_owned();
                    Box::pin(async move { notice_member(tx, &region, member_id).await })
                })
                .await;
            match outcome {
                Ok(n) => written += n.unwrap_or(0),
                Err(Error::Refused(r)) => {
                    tracing::debug!(%member_id, code = r.code(), "expiry notices not swept here")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }
}
