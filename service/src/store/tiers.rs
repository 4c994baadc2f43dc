//! Tier upgrades, inside the transaction that crosses the threshold, with history.

use chrono::{DateTime, Duration, Utc};
use loyalty_crds::common::Tier;

use super::context::MemberCtx;
use super::tx::Tx;
use crate::domain::rules::TierLadder;
use crate::error::Result;

/// Reviews a member whose qualifying points may have dropped below their tier's threshold:
/// the first time, starts the grace period (`tier_below_since`); once it has lasted `grace`,
/// lowers the tier to the one the points reach and records why. Back above the threshold,
/// the grace period is cleared. Returns the new tier on a downgrade.
pub async fn review(
    tx: &Tx<'_>,
    ctx: &MemberCtx,
    ladder: &TierLadder,
    grace: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Tier>> {
    let current = ctx.tier;
    let reached = ladder.tier_for(ctx.balance.qualifying);
    let since: Option<DateTime<Utc>> = tx
        .query_one(
            "SELECT tier_below_since FROM members WHERE id = $1",
            &[&ctx.member_id],
        )
        .await?
        .get(0);
    let set_since = |at: Option<DateTime<Utc>>| {
        tx.write(
            "UPDATE members SET tier_below_since = $2 WHERE id = $1",
            super::tx::params![ctx.member_id, at],
        )
    };
    if reached >= current {
        if since.is_some() {
            set_since(None).await?;
        }
        return Ok(None);
    }
    match since {
        None => {
            set_since(Some(now)).await?;
            Ok(None)
        }
        Some(started) if now - started >= grace => {
            let reason = "qualifying points below the threshold after the grace period";
            change_tier(tx, ctx, reached, reason, now).await?;
            Ok(Some(reached))
        }
        Some(_) => Ok(None),
    }
}

/// Raises the member's tier when their qualifying points now reach a higher threshold.
/// Returns the new tier. Downgrades are not done here (see docs/rules.md).
pub async fn upgrade(
    tx: &Tx<'_>,
    ctx: &MemberCtx,
    ladder: &TierLadder,
    now: DateTime<Utc>,
) -> Result<Option<Tier>> {
    let current = ctx.tier;
    let reached = ladder.tier_for(ctx.balance.qualifying);
    if reached <= current {
        return Ok(None);
    }
    change_tier(
        tx,
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
    tx: &Tx<'_>,
    ctx: &MemberCtx,
    to: Tier,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.write(
        "UPDATE members SET tier = $2, tier_below_since = NULL WHERE id = $1",
        super::tx::params![ctx.member_id, to.as_str()],
    )
    .await?;
    tx.write(
        "INSERT INTO tier_history (member_id, home_region, from_tier, to_tier, reason, qualifying, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        super::tx::params![
            ctx.member_id,
            ctx.home_region.clone(),
            ctx.tier.as_str(),
            to.as_str(),
            reason.to_owned(),
            ctx.balance.qualifying,
            now,
        ],
    )
    .await?;
    Ok(())
}
