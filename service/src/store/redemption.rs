//! Loading the redemption rules and the value of a point into the programme snapshot.

use deadpool_postgres::ClientWrapper;
use loyalty_crds::common::Tier;

use crate::domain::parse_product;
use crate::domain::valuation::{FULL_SHARE_BP, RedemptionRule, RedemptionRules};
use crate::error::Result;

/// The rules as stored; a row the service cannot read is skipped loudly (the points stay
/// unredeemable for that product or tier, never valued by a guess).
pub async fn load(client: &ClientWrapper) -> Result<RedemptionRules> {
    let mut rules = RedemptionRules::default();
    let rows = client
        .query(
            "SELECT product, redeemable, min_points, step_points, max_share_bp FROM redemption_rules",
            &[],
        )
        .await?;
    for row in rows {
        let product: String = row.get(0);
        let rule = RedemptionRule {
            redeemable: row.get(1),
            min_points: row.get(2),
            step_points: row.get(3),
            max_share_bp: i64::from(row.get::<_, i32>(4)),
        };
        match parse_product(&product) {
            Ok(p) if rule.step_points > 0 && rule.max_share_bp <= FULL_SHARE_BP => {
                rules.products.insert(p, rule);
            }
            _ => tracing::warn!(product, "redemption rule unknown or out of bounds; ignored"),
        }
    }
    for row in client
        .query("SELECT tier, eur_micro_per_point FROM point_values", &[])
        .await?
    {
        let (tier, value): (String, i64) = (row.get(0), row.get(1));
        match tier.parse::<Tier>() {
            Ok(t) if value > 0 => {
                rules.eur_micro_per_point.insert(t, value);
            }
            _ => tracing::warn!(tier, "point value unknown or out of bounds; ignored"),
        }
    }
    Ok(rules)
}
