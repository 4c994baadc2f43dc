//! A Partner's webhook subscriptions (`webhook_subscriptions`) and the delivery figures its
//! status shows. The signing secrets stay in their Secrets: only fingerprints are written.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Transaction;

use super::Work;
use crate::Result;

/// One subscription as the operator publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    pub name: String,
    pub url: String,
    /// Type names without the `travel.loyalty.` prefix, as a JSON array.
    pub event_types: Value,
    pub secret_sha256: String,
}

/// Makes the partner's subscriptions exactly `rows`: deletes the others, upserts these. A
/// subscription disabled by its receiver's 410 is enabled again when the Partner's
/// generation changes (someone edited it, presumably to fix the receiver).
pub struct PublishSubscriptions {
    pub partner_code: String,
    pub generation: i64,
    pub rows: Vec<SubscriptionRow>,
}

impl Work for PublishSubscriptions {
    type Output = ();
    async fn run(&self, tx: &Transaction<'_>) -> Result<()> {
        let names: Vec<String> = self.rows.iter().map(|r| r.name.clone()).collect();
        tx.execute(
            "DELETE FROM webhook_subscriptions WHERE partner_code = $1 AND NOT (name = ANY($2))",
            &[&self.partner_code, &names],
        )
        .await?;
        for row in &self.rows {
            tx.execute(
                "INSERT INTO webhook_subscriptions (partner_code, name, url, event_types, secret_sha256, \
                 generation, subscribed_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, now(), now()) \
                 ON CONFLICT (partner_code, name) DO UPDATE SET url = EXCLUDED.url, \
                 event_types = EXCLUDED.event_types, secret_sha256 = EXCLUDED.secret_sha256, \
                 generation = EXCLUDED.generation, updated_at = EXCLUDED.updated_at, \
                 disabled_at = CASE WHEN webhook_subscriptions.generation = EXCLUDED.generation \
                     THEN webhook_subscriptions.disabled_at END, \
                 disabled_reason = CASE WHEN webhook_subscriptions.generation = EXCLUDED.generation \
                     THEN webhook_subscriptions.disabled_reason END",
                &[
                    &self.partner_code,
                    &row.name,
                    &row.url,
                    &row.event_types,
                    &row.secret_sha256,
                    &self.generation,
                ],
            )
            .await?;
        }
        Ok(())
    }
}

/// Deletes every subscription of a partner (the Partner is being deleted).
pub struct DeleteSubscriptions {
    pub partner_code: String,
}

impl Work for DeleteSubscriptions {
    type Output = ();
    async fn run(&self, tx: &Transaction<'_>) -> Result<()> {
        tx.execute(
            "DELETE FROM webhook_subscriptions WHERE partner_code = $1",
            &[&self.partner_code],
        )
        .await?;
        Ok(())
    }
}

/// A partner's deliveries: pending, dead, and when the last one was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub dead_letters: i64,
    pub last_delivered_at: Option<DateTime<Utc>>,
}

/// Reads [`DeliveryCounts`] for the Partner's status.
pub struct ReadDeliveryCounts {
    pub partner_code: String,
}

impl Work for ReadDeliveryCounts {
    type Output = DeliveryCounts;
    async fn run(&self, tx: &Transaction<'_>) -> Result<DeliveryCounts> {
        let row = tx
            .query_one(
                "SELECT COALESCE(sum(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0)::BIGINT, \
                 COALESCE(sum(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0)::BIGINT, \
                 max(delivered_at) FROM deliveries WHERE partner_code = $1",
                &[&self.partner_code],
            )
            .await?;
        Ok(DeliveryCounts {
            pending: row.get(0),
            dead_letters: row.get(1),
            last_delivered_at: row.get(2),
        })
    }
}
