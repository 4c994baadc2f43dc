//! Pruning after `delivery.retention_h`: delivered deliveries, then the outbox events no
//! delivery needs any more (ADR 0020).
//!
//! What is never deleted: a pending delivery (it is still to be sent) or a dead one (it may be
//! replayed), and an event that such a row names. Nor an event, or a delivered row, that a
//! subscription's fan-out may still read: the fan-out re-reads `fanout_margin` before its
//! cursor and re-creates a delivery whose row is missing, so deleting a delivered row inside
//! that window would send its event again. Everything deleted is therefore older than the
//! retention *and* than every subscription's fan-out horizon in its home region.
//!
//! Each home region this region serves is pruned in one SERIALIZABLE transaction that reads
//! this region's row like any write: a fenced region deletes nothing (ADR 0004). Two replicas
//! pruning at once conflict and one re-runs against what the other left. An event's last
//! delivered rows and the event itself go in successive rounds: the event's candidates are
//! read before this round's deletions.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::super::context::unless_fenced;
use super::super::tx::{Tx, params, settle_pair};
use super::super::{Db, now_micros};
use crate::error::Result;

/// What a prune round deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub events: u64,
}

/// How far back a prune round may delete.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Delivered rows and events are kept this long.
    pub keep: chrono::Duration,
    /// `delivery.fanout_margin_ms`: how far before its cursor the fan-out re-reads.
    pub fanout_margin: chrono::Duration,
    /// Rows deleted per table and home region, at most.
    pub batch: i64,
}

/// Each subscription's fan-out start and cursor in one home region.
const FANOUT_POSITIONS: &str = "SELECT s.subscribed_at, c.fanned_out_until \
     FROM webhook_subscriptions s LEFT JOIN delivery_cursors c \
     ON c.partner_code = s.partner_code AND c.subscription = s.name AND c.home_region = $1";

const DELIVERED: &str = "SELECT partner_code, subscription, event_id FROM deliveries \
     WHERE state = 'delivered' AND home_region = $1 AND delivered_at < $2 AND event_at < $3 \
     ORDER BY delivered_at LIMIT $4";

const UNNEEDED_EVENTS: &str = "SELECT o.id FROM outbox o \
     WHERE o.home_region = $1 AND o.created_at < $2 \
     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = o.id) \
     ORDER BY o.created_at LIMIT $3";

/// The time before which no subscription's fan-out reads an event again, or `None` without
/// subscriptions. A subscription reads events from its `subscribed_at` on, and from its
/// cursor less the margin once it has one.
pub fn fanout_horizon(
    positions: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    margin: chrono::Duration,
) -> Option<DateTime<Utc>> {
    positions
        .iter()
        .map(|(subscribed_at, cursor)| {
            cursor.map_or(*subscribed_at, |c| (c - margin).max(*subscribed_at))
        })
        .min()
}

/// The newest an event or delivery may be to be deleted now, in `home`; `None` when fenced.
async fn prunable_before(
    tx: &Tx<'_>,
    region: &str,
    home: &str,
    retention: Retention,
) -> Result<Option<DateTime<Utc>>> {
    let positions = async { tx.query(FANOUT_POSITIONS, &[&home]).await };
    let Some(rows) = unless_fenced(tx, region, positions).await? else {
        return Ok(None);
    };
    let positions: Vec<_> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let cutoff = now_micros() - retention.keep;
    let horizon = fanout_horizon(&positions, retention.fanout_margin);
    Ok(Some(horizon.map_or(cutoff, |h| h.min(cutoff))))
}

async fn prune_unit(tx: &Tx<'_>, region: &str, home: &str, retention: Retention) -> Result<Pruned> {
    let Some(before) = prunable_before(tx, region, home, retention).await? else {
        return Ok(Pruned::default());
    };
    let batch = retention.batch;
    let (delivered, events) = tokio::join!(
        async {
            tx.query(DELIVERED, &[&home, &before, &before, &batch])
                .await
        },
        async { tx.query(UNNEEDED_EVENTS, &[&home, &before, &batch]).await },
    );
    let (delivered, events) = settle_pair(delivered, events)?;
    delete_deliveries(tx, &delivered).await?;
    let ids: Vec<Uuid> = events.iter().map(|r| r.get(0)).collect();
    if !ids.is_empty() {
        tx.write(
            "DELETE FROM outbox WHERE id = ANY($1)",
            params![ids.clone()],
        )
        .await?;
    }
    Ok(Pruned {
        deliveries: delivered.len() as u64,
        events: ids.len() as u64,
    })
}

/// Queues the deletion of the deliveries `rows` name (partner, subscription, event).
async fn delete_deliveries(tx: &Tx<'_>, rows: &[Row]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let partners: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let subscriptions: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    let events: Vec<Uuid> = rows.iter().map(|r| r.get(2)).collect();
    tx.write(
        "DELETE FROM deliveries WHERE (partner_code, subscription, event_id) IN \
         (SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::UUID[]))",
        params![partners, subscriptions, events],
    )
    .await
}

impl Db {
    /// Prunes every home region `region` serves (see the module docs); an ambiguous commit
    /// counts as nothing pruned, and the next round finds whatever is left.
    pub async fn prune_deliveries(&self, region: &str, retention: Retention) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        for home in self.served_homes(region).await? {
            let done = self
                .serializable("prune_deliveries", |tx| {
                    let (region, home) = (region.to_owned(), home.clone());
                    Box::pin(async move { prune_unit(tx, &region, &home, retention).await })
                })
                .await?
                .unwrap_or_default();
            pruned.deliveries += done.deliveries;
            pruned.events += done.events;
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn the_horizon_is_the_slowest_subscriptions_cursor_less_the_margin() {
        let margin = chrono::Duration::seconds(60);
        assert_eq!(fanout_horizon(&[], margin), None);
        let fast = (at(0), Some(at(1_000)));
        let slow = (at(0), Some(at(500)));
        assert_eq!(fanout_horizon(&[fast, slow], margin), Some(at(440)));
    }

    #[test]
    fn a_subscription_without_a_cursor_holds_back_the_events_from_its_start() {
        let margin = chrono::Duration::seconds(60);
        let fresh = (at(300), None);
        let caught_up = (at(0), Some(at(1_000)));
        assert_eq!(fanout_horizon(&[fresh, caught_up], margin), Some(at(300)));
        // A cursor still within the margin of the start: nothing before the start is read.
        assert_eq!(
            fanout_horizon(&[(at(300), Some(at(320)))], margin),
            Some(at(300))
        );
    }
}
