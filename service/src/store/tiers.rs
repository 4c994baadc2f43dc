//! Tier upgrades, inside the transaction that crosses the threshold, with history.

use chrono::{DateTime, Duration, Utc};
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

/// Reviews a member whose qualifying points may have dropped below their tier's threshold:
/// the first time, starts the grace period (`tier_below_since`); once it has lasted `grace`,
/// lowers the tier to the one the points reach and records why. Back above the threshold,
/// the grace period is cleared. Returns the new tier on a downgrade.
pub async fn review(
    client: &ClientWrapper,
    ctx: &MemberCtx,
    ladder: &TierLadder,
    grace: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Tier>> {
    let current = parse_tier(&ctx.tier);
    let reached = ladder.tier_for(ctx.balance.qualifying);
    let since_stmt = client
        .prepare_cached("SELECT tier_below_since FROM members WHERE id = $1")
        .await?;
    let since: Option<DateTime<Utc>> = client
        .query_one(&since_stmt, &[&ctx.member_id])
        .await?
        .get(0);
    let set_since = client
        .prepare_cached("UPDATE members SET tier_below_since = $2 WHERE id = $1")
        .await?;
    if reached >= current {
        if since.is_some() {
            client
                .execute(&set_since, &[&ctx.member_id, &None::<DateTime<Utc>>])
                .await?;
        }
        return Ok(None);
    }
    match since {
        None => {
            client
                .execute(&set_since, &[&ctx.member_id, &Some(now)])
                .await?;
            Ok(None)
        }
        Some(started) if now - started >= grace => {
            let reason = "qualifying points below the threshold after the grace period";
            change_tier(client, ctx, reached, reason, now).await?;
            Ok(Some(reached))
        }
        Some(_) => Ok(None),
    }
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
    change_tier(
        client,
        ctx,
        reached,
        "qualifying points reached the threshold",
        now,
    )
    .await?;
    Ok(Some(reached))
}

/// Moves the member to `to`, ends any grace period, and records the change and its reason.
async fn change_tier(
    client: &ClientWrapper,
    ctx: &MemberCtx,
    to: Tier,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let update = client
        .prepare_cached("UPDATE members SET tier = $2, tier_below_since = NULL WHERE id = $1")
        .await?;
    client
        .execute(&update, &[&ctx.member_id, &tier_name(to)])
        .await?;
    let history = client
        .prepare_cached(
            "INSERT INTO tier_history (member_id, home_region, from_tier, to_tier, reason, qualifying, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
        &ctx.member_id,
        &ctx.home_region,
        &ctx.tier,
        &tier_name(to),
        &reason,
        &ctx.balance.qualifying,
        &now,
    ];
    client.execute(&history, &params).await?;
    Ok(())
}
