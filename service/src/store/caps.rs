//! Campaign caps and budgets, applied inside the earn transaction to the awards the rules
//! planned: the counters are read, the grant is cut by [`caps::grant`](crate::domain::caps),
//! and both counters are written in the same SERIALIZABLE transaction, so concurrent earns
//! can never exceed either.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::tx::Tx;
use crate::domain::caps::{self, Granted, Limit};
use crate::domain::rules::{CampaignEntry, PlannedAward};
use crate::error::Result;

/// Cuts each planned award to its caps and records what was granted.
pub async fn apply(
    tx: &Tx<'_>,
    member_id: Uuid,
    home_region: &str,
    planned: &[PlannedAward],
    campaigns: &[CampaignEntry],
    at: DateTime<Utc>,
) -> Result<Vec<Granted>> {
    let mut out = Vec::with_capacity(planned.len());
    for award in planned {
        let Some(spec) = campaigns
            .iter()
            .find(|c| c.namespace == award.namespace && c.name == award.name)
            .map(|c| &c.spec)
        else {
            out.push(caps::grant(award, None, None));
            continue;
        };
        let window = caps::window_start(spec, at);
        let member_cap = match spec.caps.per_member_points {
            Some(limit) => Some(Limit {
                limit,
                used: member_usage(tx, award, member_id, window).await?,
            }),
            None => None,
        };
        let budget = match spec.caps.budget_points {
            Some(limit) => Some(Limit {
                limit,
                used: budget_spent(tx, award).await?,
            }),
            None => None,
        };
        let granted = caps::grant(award, member_cap, budget);
        if granted.points > 0 {
            if let Some(cap) = member_cap {
                let total = cap.used + granted.points;
                record_usage(tx, award, member_id, window, home_region, total).await?;
            }
            if let Some(budget) = budget {
                record_budget(tx, award, budget.used + granted.points).await?;
            }
        }
        out.push(granted);
    }
    Ok(out)
}

async fn member_usage(
    tx: &Tx<'_>,
    a: &PlannedAward,
    member: Uuid,
    start: DateTime<Utc>,
) -> Result<i64> {
    Ok(tx
        .query_opt(
            "SELECT points FROM campaign_member_usage \
             WHERE namespace = $1 AND name = $2 AND member_id = $3 AND window_start = $4",
            &[&a.namespace, &a.name, &member, &start],
        )
        .await?
        .map_or(0, |r| r.get(0)))
}

async fn record_usage(
    tx: &Tx<'_>,
    a: &PlannedAward,
    member: Uuid,
    start: DateTime<Utc>,
    home_region: &str,
    total: i64,
) -> Result<()> {
    tx.write(
        "INSERT INTO campaign_member_usage (namespace, name, member_id, window_start, home_region, points) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (namespace, name, member_id, window_start) DO UPDATE SET points = excluded.points",
        super::tx::params![
            a.namespace.clone(),
            a.name.clone(),
            member,
            start,
            home_region.to_owned(),
            total,
        ],
    )
    .await
}

async fn budget_spent(tx: &Tx<'_>, a: &PlannedAward) -> Result<i64> {
    Ok(tx
        .query_opt(
            "SELECT spent FROM campaign_budgets WHERE namespace = $1 AND name = $2",
            &[&a.namespace, &a.name],
        )
        .await?
        .map_or(0, |r| r.get(0)))
}

async fn record_budget(tx: &Tx<'_>, a: &PlannedAward, total: i64) -> Result<()> {
    tx.write(
        "INSERT INTO campaign_budgets (namespace, name, spent) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace, name) DO UPDATE SET spent = excluded.spent",
        super::tx::params![a.namespace.clone(), a.name.clone(), total],
    )
    .await
}
