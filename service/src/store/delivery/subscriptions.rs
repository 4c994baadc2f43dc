//! The webhook subscriptions the operator publishes (`webhook_subscriptions`).

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;

use crate::domain::events::TYPE_PREFIX;
use crate::error::Result;

/// A published subscription. The signing secret is mounted, never here: only its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub partner_code: String,
    pub name: String,
    pub url: String,
    /// Type names without [`TYPE_PREFIX`]; empty is every type.
    pub event_types: Vec<String>,
    pub secret_sha256: String,
    pub subscribed_at: DateTime<Utc>,
}

impl Subscription {
    /// The full CloudEvents types the subscription takes (empty: every type).
    pub fn full_types(&self) -> Vec<String> {
        self.event_types
            .iter()
            .map(|t| format!("{TYPE_PREFIX}{t}"))
            .collect()
    }

    /// The name of its secret file in `partners.secrets_dir`: `<PARTNER_CODE>.<name>`.
    pub fn secret_file(&self) -> String {
        format!("{}.{}", self.partner_code, self.name)
    }
}

/// Every published subscription, disabled ones included (their events are fanned out and
/// wait; the claim skips them). One whose event types do not parse
/// is skipped loudly (a version skew with the operator).
pub async fn load(client: &ClientWrapper) -> Result<Vec<Subscription>> {
    let rows = client
        .query(
            "SELECT partner_code, name, url, event_types, secret_sha256, subscribed_at \
             FROM webhook_subscriptions ORDER BY partner_code, name",
            &[],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (partner_code, name): (String, String) = (row.get(0), row.get(1));
        match serde_json::from_value(row.get(3)) {
            Ok(event_types) => out.push(Subscription {
                partner_code,
                name,
                url: row.get(2),
                event_types,
                secret_sha256: row.get(4),
                subscribed_at: row.get(5),
            }),
            Err(_) => tracing::error!(partner_code, name, "stored subscription does not parse"),
        }
    }
    Ok(out)
}

/// Publishes a subscription the way the operator does, without an operator: `serve --demo`
/// and the tests.
pub async fn publish_subscription(
    client: &tokio_postgres::Client,
    subscription: &Subscription,
) -> Result<()> {
    let types = serde_json::Value::from(subscription.event_types.clone());
    client
        .execute(
            "INSERT INTO webhook_subscriptions (partner_code, name, url, event_types, secret_sha256, \
             generation, subscribed_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, now()) \
             ON CONFLICT (partner_code, name) DO UPDATE SET url = excluded.url, \
             event_types = excluded.event_types, secret_sha256 = excluded.secret_sha256, \
             disabled_at = NULL, disabled_reason = NULL, updated_at = now()",
            &[
                &subscription.partner_code,
                &subscription.name,
                &subscription.url,
                &types,
                &subscription.secret_sha256,
                &subscription.subscribed_at,
            ],
        )
        .await?;
    Ok(())
}
