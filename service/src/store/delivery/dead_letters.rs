//! Dead letters (deliveries whose last attempt failed, or whose receiver answered 410), their
//! replay, and the figures the delivery metrics report.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::super::context::region_row;
use super::super::tx::{Tx, settle_pair};
use super::super::{Db, now_micros};
use crate::error::Result;

/// Most dead letters one listing answers.
pub const MAX_DEAD_LETTERS_PAGE: i64 = 500;

/// One dead letter.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The CloudEvent's id, also its `webhook-id`.
    pub event_id: Uuid,
    /// The subscription it was for.
    pub subscription: String,
    /// The CloudEvents type, e.g. `travel.loyalty.points.earned`.
    #[serde(rename = "type")]
    pub kind: String,
    pub member_id: Uuid,
    pub member_seq: i64,
    /// Attempts made.
    pub attempts: i32,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i32>,
    /// What went wrong last (a status line, a timeout, a connection error).
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// A partner's dead letters, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetters {
    pub partner_code: String,
    pub dead_letters: Vec<DeadLetter>,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Dead letters put back in the queue, to be delivered like new events.
    pub replayed: u64,
}

/// The delivery figures for the metrics.
#[derive(Debug, Clone, Default)]
pub struct DeliveryGauges {
    /// Age in seconds of the oldest event still waiting for delivery (0 when none waits).
    pub oldest_pending_s: f64,
    /// Dead letters by partner code.
    pub dead_letters: Vec<(String, i64)>,
}

async fn replay_unit(
    tx: &Tx<'_>,
    region: &str,
    partner_code: &str,
    event_id: Option<Uuid>,
) -> Result<u64> {
    let (me, _) = region_row(tx, region).await?;
    if !me.may_commit() {
        return Ok(0);
    }
    let rows = tx
        .query(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $3, \
             lease_owner = NULL, lease_until = NULL \
             WHERE partner_code = $1 AND state = 'dead' AND ($2::UUID IS NULL OR event_id = $2) \
             AND home_region IN (SELECT name FROM regions WHERE served_by = $4) RETURNING event_id",
            &[&partner_code, &event_id, &now_micros(), &region],
        )
        .await?;
    Ok(rows.len() as u64)
}

impl Db {
    /// `partner_code`'s dead letters homed in the regions `region` serves, oldest first.
    pub async fn dead_letters(
        &self,
        region: &str,
        partner_code: &str,
        limit: i64,
    ) -> Result<DeadLetters> {
        let client = self.conn().await?;
        let rows = client
            .query(
                "SELECT event_id, subscription, type, member_id, member_seq, attempts, last_status, \
                 last_error, last_attempt_at FROM deliveries WHERE partner_code = $1 AND state = 'dead' \
                 AND home_region IN (SELECT name FROM regions WHERE served_by = $2) \
                 ORDER BY last_attempt_at, event_id LIMIT $3",
                &[&partner_code, &region, &limit.clamp(1, MAX_DEAD_LETTERS_PAGE)],
            )
            .await?;
        let dead_letters = rows
            .iter()
            .map(|r| DeadLetter {
                event_id: r.get(0),
                subscription: r.get(1),
                kind: r.get(2),
                member_id: r.get(3),
                member_seq: r.get(4),
                attempts: r.get(5),
                last_status: r.get(6),
                last_error: r.get(7),
                last_attempt_at: r.get(8),
            })
            .collect();
        Ok(DeadLetters {
            partner_code: partner_code.to_owned(),
            dead_letters,
        })
    }

    /// Puts `partner_code`'s dead letters (one, or all with `None`) back in the queue.
    pub async fn replay_dead_letters(
        &self,
        region: &str,
        partner_code: &str,
        event_id: Option<Uuid>,
    ) -> Result<Replayed> {
        let replayed = self
            .serializable("replay_dead_letters", |tx| {
                let (region, code) = (region.to_owned(), partner_code.to_owned());
                Box::pin(async move { replay_unit(tx, &region, &code, event_id).await })
            })
            .await?;
        Ok(Replayed {
            replayed: replayed.unwrap_or(0),
        })
    }

    /// The oldest pending event's age and the dead letters per partner, for the metrics.
    pub async fn delivery_gauges(&self) -> Result<DeliveryGauges> {
        let client = self.conn().await?;
        let oldest = client.query_one(
            "SELECT min(event_at) FROM deliveries WHERE state = 'pending'",
            &[],
        );
        let dead = client.query(
            "SELECT partner_code, count(*) FROM deliveries WHERE state = 'dead' GROUP BY partner_code",
            &[],
        );
        let (oldest, dead) = settle_pair(
            oldest.await.map_err(Into::into),
            dead.await.map_err(Into::into),
        )?;
        let oldest: Option<DateTime<Utc>> = oldest.get(0);
        let age_ms = oldest.map_or(0, |t| (now_micros() - t).num_milliseconds().max(0));
        Ok(DeliveryGauges {
            oldest_pending_s: age_ms as f64 / 1000.0,
            dead_letters: dead.iter().map(|r| (r.get(0), r.get(1))).collect(),
        })
    }
}
