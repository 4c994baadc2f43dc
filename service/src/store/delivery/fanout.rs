//! The fan-out: one `deliveries` row for each outbox event a subscription takes.
//!
//! A cursor per (subscription, home region) records how far the outbox has been read. Outbox
//! rows carry the time their transaction wrote them, not the time it committed, so a row can
//! become visible after a later one; every fan-out therefore re-reads `fanout_margin` before
//! its cursor and skips the events that already have a row. An event is missed only if its
//! transaction committed more than the margin after a later event's (ADR 0020).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::super::context::unless_fenced;
use super::super::tx::{Tx, params};
use super::super::{Db, now_micros};
use super::{RoundLimits, Subscription};
use crate::error::Result;

const FAN_OUT: &str = "INSERT INTO deliveries (partner_code, subscription, event_id, member_id, \
     member_seq, type, home_region, event_at, state, attempts, next_attempt_at, created_at) \
     SELECT $1, $2, o.id, o.member_id, o.member_seq, o.type, o.home_region, o.created_at, \
     'pending', 0, o.created_at, $7 FROM outbox o \
     WHERE o.home_region = $3 AND o.created_at > $4 AND o.created_at >= $5 \
     AND (cardinality($6::TEXT[]) = 0 OR o.type = ANY($6::TEXT[])) \
     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.partner_code = $1 \
         AND d.subscription = $2 AND d.event_id = o.id) \
     ORDER BY o.created_at LIMIT $8 \
     ON CONFLICT (partner_code, subscription, event_id) DO NOTHING RETURNING event_at";

/// Creates the deliveries of one subscription's events homed in `home`; returns how many.
async fn fan_out_unit(
    tx: &Tx<'_>,
    region: &str,
    sub: &Subscription,
    home: &str,
    limits: RoundLimits,
) -> Result<u64> {
    let cursor = async {
        tx.query_opt(
            "SELECT fanned_out_until FROM delivery_cursors \
             WHERE partner_code = $1 AND subscription = $2 AND home_region = $3",
            &[&sub.partner_code, &sub.name, &home],
        )
        .await
    };
    let Some(cursor) = unless_fenced(tx, region, cursor).await? else {
        return Ok(0);
    };
    let from: DateTime<Utc> = cursor.map_or(sub.subscribed_at, |r| r.get(0));
    let lower = from - limits.fanout_margin;
    let types = sub.full_types();
    let rows = tx
        .query(
            FAN_OUT,
            &[
                &sub.partner_code,
                &sub.name,
                &home,
                &lower,
                &sub.subscribed_at,
                &types,
                &limits.now,
                &limits.batch,
            ],
        )
        .await?;
    let until = next_cursor(tx, home, from, &rows, limits.batch).await?;
    if until > from {
        tx.write(
            "INSERT INTO delivery_cursors (partner_code, subscription, home_region, fanned_out_until) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (partner_code, subscription, home_region) \
             DO UPDATE SET fanned_out_until = excluded.fanned_out_until",
            params![sub.partner_code.clone(), sub.name.clone(), home.to_owned(), until],
        )
        .await?;
    }
    Ok(rows.len() as u64)
}

/// Where the cursor moves: to the newest event fanned out when the batch was full (more may
/// follow), else to the newest event of the region (every visible one has been considered).
async fn next_cursor(
    tx: &Tx<'_>,
    home: &str,
    from: DateTime<Utc>,
    inserted: &[Row],
    batch: i64,
) -> Result<DateTime<Utc>> {
    let newest_inserted = inserted.iter().map(|r| r.get::<_, DateTime<Utc>>(0)).max();
    if inserted.len() as i64 >= batch {
        return Ok(newest_inserted.unwrap_or(from).max(from));
    }
    let newest: Option<DateTime<Utc>> = tx
        .query_one(
            "SELECT max(created_at) FROM outbox WHERE home_region = $1 AND created_at > $2",
            &[&home, &from],
        )
        .await?
        .get(0);
    Ok(newest.unwrap_or(from).max(from))
}

impl Db {
    /// Fans out every subscription over the outbox of the home regions `region` serves;
    /// returns the deliveries created. A disabled subscription's deliveries are created too
    /// and wait (the claim skips them) until it is enabled again.
    pub async fn fan_out(
        &self,
        region: &str,
        subscriptions: &[Subscription],
        batch: i64,
        fanout_margin: chrono::Duration,
    ) -> Result<u64> {
        let homes = self.served_homes(region).await?;
        let mut created = 0;
        for sub in subscriptions {
            for home in &homes {
                let limits = RoundLimits {
                    batch,
                    fanout_margin,
                    now: now_micros(),
                };
                let n = self
                    .serializable("fan_out", |tx| {
                        let (region, sub, home) = (region.to_owned(), sub.clone(), home.clone());
                        Box::pin(
                            async move { fan_out_unit(tx, &region, &sub, &home, limits).await },
                        )
                    })
                    .await?;
                created += n.unwrap_or(0);
            }
        }
        Ok(created)
    }

    /// The home regions `region` serves (its own, and a failed region's after a failover).
    pub(super) async fn served_homes(&self, region: &str) -> Result<Vec<String>> {
        let client = self.conn().await?;
        let rows = client
            .query("SELECT name FROM regions WHERE served_by = $1", &[&region])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
