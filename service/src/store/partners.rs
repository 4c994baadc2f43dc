//! The partners the operator published (`partners`, one row per Partner resource).

use deadpool_postgres::ClientWrapper;
use loyalty_crds::partner::{BonusRule, RetryPolicy};

use crate::error::Result;

/// A published partner, as the service uses it. No credential: only its fingerprint.
#[derive(Debug, Clone)]
pub struct PartnerRow {
    pub code: String,
    pub display_name: String,
    pub enabled: bool,
    pub bonus_rules: Vec<BonusRule>,
    pub retry_policy: RetryPolicy,
    pub credentials_sha256: String,
}

/// Every partner whose stored rules still parse; others are skipped loudly (the operator
/// validated them, so a failure here means a version skew).
pub async fn load(client: &ClientWrapper) -> Result<Vec<PartnerRow>> {
    let rows = client
        .query(
            "SELECT code, display_name, enabled, bonus_rules, retry_policy, credentials_sha256 \
             FROM partners ORDER BY code",
            &[],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let code: String = row.get(0);
        let rules = serde_json::from_value(row.get(3));
        let policy = serde_json::from_value(row.get(4));
        match (rules, policy) {
            (Ok(bonus_rules), Ok(retry_policy)) => out.push(PartnerRow {
                code,
                display_name: row.get(1),
                enabled: row.get(2),
                bonus_rules,
                retry_policy,
                credentials_sha256: row.get(5),
            }),
            _ => tracing::error!(code, "stored partner does not parse; ignored"),
        }
    }
    Ok(out)
}

/// Publishes a partner row the way the operator does, without an operator: `serve --demo`
/// and the tests. `credentials_sha256` is the fingerprint of the mounted secret file.
pub async fn publish(
    client: &tokio_postgres::Client,
    row: &PartnerRow,
    namespace_name: (&str, &str),
) -> Result<()> {
    let rules = serde_json::to_value(&row.bonus_rules).map_err(invariant)?;
    let policy = serde_json::to_value(&row.retry_policy).map_err(invariant)?;
    client
        .execute(
            "INSERT INTO partners (code, namespace, name, display_name, endpoint, credentials_sha256, \
             retry_policy, bonus_rules, enabled, generation, updated_at) \
             VALUES ($1, $2, $3, $4, 'https://partners.example.invalid', $5, $6, $7, $8, 1, now()) \
             ON CONFLICT (code) DO UPDATE SET display_name = excluded.display_name, \
             credentials_sha256 = excluded.credentials_sha256, retry_policy = excluded.retry_policy, \
             bonus_rules = excluded.bonus_rules, enabled = excluded.enabled, updated_at = now()",
            &[
                &row.code,
                &namespace_name.0,
                &namespace_name.1,
                &row.display_name,
                &row.credentials_sha256,
                &policy,
                &rules,
                &row.enabled,
            ],
        )
        .await?;
    Ok(())
}

fn invariant(e: serde_json::Error) -> crate::error::Error {
    crate::error::Error::Invariant(format!("a partner's rules do not serialize: {e}"))
}
