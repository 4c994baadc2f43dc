//! Claiming due deliveries under a lease, and recording what each attempt got.
//!
//! A delivery is due when it is pending, its next attempt time has come, nobody holds a live
//! lease on it, its subscription is enabled, and no earlier event of the same member is still
//! pending for the same subscription: one member's events reach a receiver in order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::super::context::unless_fenced;
use super::super::tx::{Tx, params};
use super::super::{Db, now_micros};
use super::DeliveryKey;
use crate::error::Result;

const DUE: &str = "SELECT d.partner_code, d.subscription, d.event_id, d.attempts, s.url, o.event \
     FROM deliveries d \
     JOIN webhook_subscriptions s ON s.partner_code = d.partner_code AND s.name = d.subscription \
     JOIN outbox o ON o.id = d.event_id \
     WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
     AND (d.lease_until IS NULL OR d.lease_until <= $1) AND s.disabled_at IS NULL \
     AND d.home_region IN (SELECT name FROM regions WHERE served_by = $2) \
     AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.partner_code = d.partner_code \
         AND e.subscription = d.subscription AND e.member_id = d.member_id AND e.state = 'pending' \
         AND (e.member_seq, e.event_at, e.type, e.event_id) < (d.member_seq, d.event_at, d.type, d.event_id)) \
     ORDER BY d.next_attempt_at LIMIT $3";

/// A delivery this instance holds the lease of, ready to send.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub key: DeliveryKey,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub url: String,
    /// The CloudEvent, as stored.
    pub event: Value,
}

/// What an attempt amounted to, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Delivered {
        status: u16,
    },
    Retry {
        at: DateTime<Utc>,
        error: String,
        status: Option<u16>,
    },
    Dead {
        error: String,
        status: Option<u16>,
    },
    /// 410: dead, and the subscription disabled.
    Gone,
}

async fn claim_unit(
    tx: &Tx<'_>,
    region: &str,
    owner: Uuid,
    leases_ms: &HashMap<String, i64>,
    batch: i64,
) -> Result<Vec<Claimed>> {
    let now = now_micros();
    let due = async { tx.query(DUE, &[&now, &region, &batch]).await };
    let Some(rows) = unless_fenced(tx, region, due).await? else {
        return Ok(Vec::new());
    };
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let key = DeliveryKey {
            partner_code: row.get(0),
            subscription: row.get(1),
            event_id: row.get(2),
        };
        // A subscription whose partner this instance has not loaded yet waits for the poll.
        let Some(lease_ms) = leases_ms.get(&key.partner_code) else {
            continue;
        };
        let until = now + chrono::Duration::milliseconds(*lease_ms);
        tx.write(
            "UPDATE deliveries SET attempts = attempts + 1, lease_owner = $4, lease_until = $5 \
             WHERE partner_code = $1 AND subscription = $2 AND event_id = $3",
            params![
                key.partner_code.clone(),
                key.subscription.clone(),
                key.event_id,
                owner,
                until
            ],
        )
        .await?;
        let attempts: i32 = row.get(3);
        claimed.push(Claimed {
            key,
            attempt: u32::try_from(attempts).unwrap_or(0).saturating_add(1),
            url: row.get(4),
            event: row.get(5),
        });
    }
    Ok(claimed)
}

async fn record_unit(
    tx: &Tx<'_>,
    owner: Uuid,
    key: &DeliveryKey,
    recorded: &Recorded,
) -> Result<()> {
    let now = now_micros();
    let (state, next, status, error) = match recorded {
        Recorded::Delivered { status } => ("delivered", now, Some(*status), None),
        Recorded::Retry { at, error, status } => ("pending", *at, *status, Some(error.clone())),
        Recorded::Dead { error, status } => ("dead", now, *status, Some(error.clone())),
        Recorded::Gone => ("dead", now, Some(410), Some("410 Gone".to_owned())),
    };
    let delivered_at = (state == "delivered").then_some(now);
    tx.write(
        "UPDATE deliveries SET state = $5, next_attempt_at = $6, last_status = $7, last_error = $8, \
         last_attempt_at = $9, delivered_at = $10, lease_owner = NULL, lease_until = NULL \
         WHERE partner_code = $1 AND subscription = $2 AND event_id = $3 AND lease_owner = $4",
        params![
            key.partner_code.clone(),
            key.subscription.clone(),
            key.event_id,
            owner,
            state,
            next,
            status.map(i32::from),
            error,
            now,
            delivered_at
        ],
    )
    .await?;
    if *recorded == Recorded::Gone {
        tx.write(
            "UPDATE webhook_subscriptions SET disabled_at = $3, \
             disabled_reason = 'the receiver answered 410 Gone' \
             WHERE partner_code = $1 AND name = $2 AND disabled_at IS NULL",
            params![key.partner_code.clone(), key.subscription.clone(), now],
        )
        .await?;
    }
    Ok(())
}

impl Db {
    /// Claims up to `batch` due deliveries for `owner`, each under a lease of its partner's
    /// `leases_ms` (the per-attempt timeout plus slack); partners missing from it are skipped.
    pub async fn claim_deliveries(
        &self,
        region: &str,
        owner: Uuid,
        leases_ms: &HashMap<String, i64>,
        batch: i64,
    ) -> Result<Vec<Claimed>> {
        let claimed = self
            .serializable("claim_deliveries", |tx| {
                let (region, leases) = (region.to_owned(), leases_ms.clone());
                Box::pin(async move { claim_unit(tx, &region, owner, &leases, batch).await })
            })
            .await?;
        // An ambiguous commit: the leases may or may not be held; they expire either way.
        Ok(claimed.unwrap_or_default())
    }

    /// Records an attempt, if `owner` still holds the delivery's lease (an instance whose
    /// lease expired mid-attempt leaves the delivery to the one that took it over).
    pub async fn record_delivery(
        &self,
        owner: Uuid,
        key: &DeliveryKey,
        recorded: &Recorded,
    ) -> Result<()> {
        self.serializable("record_delivery", |tx| {
            let (key, recorded) = (key.clone(), recorded.clone());
            Box::pin(async move { record_unit(tx, owner, &key, &recorded).await })
        })
        .await?;
        Ok(())
    }
}
