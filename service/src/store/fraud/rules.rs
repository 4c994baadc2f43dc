//! Loading the fraud rules into the programme snapshot, like the redemption rules: the
//! `fraud_rules` table is configuration, changed without a release and in effect within one
//! poll (`ledger.config_poll_ms`).

use deadpool_postgres::ClientWrapper;

use crate::domain::fraud::{FraudRule, FraudRules, RuleKind};
use crate::error::Result;

/// The enabled rules, by name. A row the service cannot read is skipped loudly: the CHECK
/// constraints make that a version skew, and a guessed rule would be worse than none.
pub async fn load(client: &ClientWrapper) -> Result<FraudRules> {
    let rows = client
        .query(
            "SELECT name, kind, limit_value, window_s FROM fraud_rules WHERE enabled ORDER BY name",
            &[],
        )
        .await?;
    let mut rules = FraudRules::default();
    for row in rows {
        let (name, kind): (String, String) = (row.get(0), row.get(1));
        let rule = kind
            .parse::<RuleKind>()
            .ok()
            .and_then(|kind| FraudRule::new(name.clone(), kind, row.get(2), row.get(3)));
        match rule {
            Some(rule) => rules.rules.push(rule),
            None => tracing::warn!(name, kind, "fraud rule unknown or out of bounds; ignored"),
        }
    }
    Ok(rules)
}
