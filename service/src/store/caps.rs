//! Campaign caps and budgets, applied inside the earn transaction to the awards the rules
//! planned. A campaign's grant is cut to what is left of the member's cap in the current
//! cap window and of the campaign's global budget; both counters are written in the same
//! SERIALIZABLE transaction, so concurrent earns can never exceed either.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use loyalty_crds::campaign::{CampaignSpec, CapWindow};
use serde::Serialize;
use uuid::Uuid;

use super::tx::Tx;
use crate::domain::rules::{CampaignEntry, PlannedAward};
use crate::error::Result;

/// A campaign's grant after caps, as recorded on the ledger entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = GrantedCampaign)]
pub struct Granted {
    /// `namespace/name` of the campaign.
    pub campaign: String,
    #[schema(schema_with = crate::domain::schema::stacking_mode)]
    pub mode: loyalty_crds::campaign::StackingMode,
    pub multiplier_milli: i64,
    pub bonus_points: i64,
    pub planned: i64,
    pub points: i64,
    /// `per_member_cap` or `budget` when a limit cut the grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub capped_by: Option<&'static str>,
}

impl Granted {
    /// `award` as granted: `points` after its caps, and the limit that cut it, if one did.
    pub fn new(award: &PlannedAward, points: i64, capped_by: Option<&'static str>) -> Self {
        Self {
            campaign: format!("{}/{}", award.namespace, award.name),
            mode: award.mode,
            multiplier_milli: award.multiplier_milli,
            bonus_points: award.bonus_points,
            planned: award.points,
            points,
            capped_by,
        }
    }
}

fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    // Where a DST change skips midnight, the day starts at the first instant that exists.
    tz.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(
            || Utc.from_utc_datetime(&midnight),
            |t| t.with_timezone(&Utc),
        )
}

/// The start of the cap window containing `at`, in the campaign's timezone.
pub fn window_start(spec: &CampaignSpec, at: DateTime<Utc>) -> DateTime<Utc> {
    let tz = spec.timezone().unwrap_or(Tz::UTC);
    let local = at.with_timezone(&tz).date_naive();
    match spec.caps.per_member_window {
        CapWindow::Campaign => spec.window.start,
        CapWindow::Day => local_midnight(tz, local),
        CapWindow::Week => {
            let monday = local - Duration::days(i64::from(local.weekday().num_days_from_monday()));
            local_midnight(tz, monday)
        }
        CapWindow::Month => local_midnight(tz, local.with_day(1).expect("day 1 exists")),
    }
}

/// The grant left under a `limit` of which `used` is already granted, when it is less than
/// `points`; `None` when the limit does not bite.
pub fn cut(points: i64, limit: i64, used: i64) -> Option<i64> {
    let left = limit.saturating_sub(used).max(0);
    (points > left).then_some(left)
}

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
        let spec = campaigns
            .iter()
            .find(|c| c.namespace == award.namespace && c.name == award.name)
            .map(|c| &c.spec);
        let mut points = award.points.max(0);
        let mut capped_by = None;
        if let Some(spec) = spec {
            if let Some(cap) = spec.caps.per_member_points {
                let start = window_start(spec, at);
                let used = member_usage(tx, award, member_id, start).await?;
                if let Some(cut) = cut(points, cap, used) {
                    points = cut;
                    capped_by = Some("per_member_cap");
                }
                if points > 0 {
                    record_usage(tx, award, member_id, start, home_region, used + points).await?;
                }
            }
            if let Some(budget) = spec.caps.budget_points {
                let spent = budget_spent(tx, award).await?;
                if let Some(cut) = cut(points, budget, spent) {
                    points = cut;
                    capped_by = Some("budget");
                }
                if points > 0 {
                    record_budget(tx, award, spent + points).await?;
                }
            }
        }
        out.push(Granted::new(award, points, capped_by));
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::cut;

    proptest! {
        #[test]
        fn a_cut_grant_never_exceeds_the_limit(points in 0i64..1_000_000, limit in 0i64..1_000_000, used in 0i64..1_000_000) {
            let granted = cut(points, limit, used).unwrap_or(points);
            prop_assert!(granted >= 0);
            prop_assert!(granted <= points);
            if used <= limit {
                prop_assert!(used + granted <= limit || cut(points, limit, used).is_none() && used + points <= limit);
            } else {
                prop_assert_eq!(granted, 0);
            }
        }
    }
}
