//! Tier upgrades, inside the transaction that crosses the threshold, with history.

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;
use loyalty_crds::common::Tier;

use super::context::MemberCtx;
use super::earn::parse_tier;
use crate::domain::rules::TierLadder;
use crate::error::Result;

/// The wire name of a tier (`basic`, `silver`, `gold`, `genius`).
pub fn tier_name(tier: Tier) -> String {
    serde_json::to_value(tier)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Raises the member's tier when their qualifying points now reach a higher threshold.
/// Returns the new tier. Downgrades are not done here (see docs/rules.md).
pub async fn upgrade(
    client: &ClientWrapper,
    ctx: &MemberCtx,
    ladder: &TierLadder,
    now: DateTime<Utc>,
) -> Result<Option<Tier>> {
    let current = parse_tier(&ctx.tier);
    let reached = ladder.tier_for(ctx.balance.qualifying);
    if reached <= current {
        return Ok(None);
    }
    let update = client
        .prepare_cached("UPDATE members SET tier = $2 WHERE id = $1")
        .await?;
    client
        .execute(&update, &[&ctx.member_id, &tier_name(reached)])
        .await?;
    let history = client
        .prepare_cached(
            "INSERT INTO tier_history (member_id, home_region, from_tier, to_tier, reason, qualifying, changed_at) \
             VALUES ($1, $2, $3, $4, 'qualifying points reached the threshold', $5, $6)",
        )
        .await?;
    client
        .execute(
            &history,
            &[
                &ctx.member_id,
                &ctx.home_region,
                &ctx.tier,
                &tier_name(reached),
                &ctx.balance.qualifying,
                &now,
            ],
        )
        .await?;
    Ok(Some(reached))
}
