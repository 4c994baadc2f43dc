//! Campaign caps and budgets as arithmetic: the window a per-member cap counts in, and how a
//! planned award is cut by what is left of the cap and of the budget. The store reads the
//! counters, calls [`grant`], and writes the counters back in the same transaction.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use loyalty_crds::campaign::{CampaignSpec, CapWindow, StackingMode};
use serde::{Deserialize, Serialize};

use super::rules::PlannedAward;

/// A campaign's grant after caps, as recorded on the ledger entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = GrantedCampaign)]
pub struct Granted {
    /// `namespace/name` of the campaign.
    pub campaign: String,
    #[schema(schema_with = super::schema::stacking_mode)]
    pub mode: StackingMode,
    pub multiplier_milli: i64,
    pub bonus_points: i64,
    pub planned: i64,
    pub points: i64,
    /// When a limit cut the grant, which one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capped_by: Option<CappedBy>,
}

/// The limit that cut a grant.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CappedBy {
    PerMemberCap,
    Budget,
}

/// A limit and how much of it is already granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub limit: i64,
    pub used: i64,
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

/// The grant left under `limit` when it is less than `points`; `None` when the limit does
/// not bite.
pub fn cut(points: i64, limit: Limit) -> Option<i64> {
    let left = limit.limit.saturating_sub(limit.used).max(0);
    (points > left).then_some(left)
}

/// Cuts a planned award to the member's cap, then to the campaign's budget.
pub fn grant(award: &PlannedAward, member_cap: Option<Limit>, budget: Option<Limit>) -> Granted {
    let mut points = award.points.max(0);
    let mut capped_by = None;
    for (limit, by) in [
        (member_cap, CappedBy::PerMemberCap),
        (budget, CappedBy::Budget),
    ] {
        if let Some(left) = limit.and_then(|l| cut(points, l)) {
            points = left;
            capped_by = Some(by);
        }
    }
    Granted {
        campaign: format!("{}/{}", award.namespace, award.name),
        mode: award.mode,
        multiplier_milli: award.multiplier_milli,
        bonus_points: award.bonus_points,
        planned: award.points,
        points,
        capped_by,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn award(points: i64) -> PlannedAward {
        PlannedAward {
            namespace: "marketing".into(),
            name: "summer".into(),
            mode: StackingMode::Additive,
            multiplier_milli: 1000,
            bonus_points: points,
            points,
        }
    }

    #[test]
    fn the_tighter_limit_wins_and_is_named() {
        let cap = |limit, used| Some(Limit { limit, used });
        let g = grant(&award(500), cap(1000, 800), cap(10_000, 0));
        assert_eq!((g.points, g.capped_by), (200, Some(CappedBy::PerMemberCap)));
        let g = grant(&award(500), cap(1000, 0), cap(10_000, 9_900));
        assert_eq!((g.points, g.capped_by), (100, Some(CappedBy::Budget)));
        let g = grant(&award(500), None, None);
        assert_eq!((g.points, g.capped_by), (500, None));
        let g = grant(&award(500), cap(100, 150), None);
        assert_eq!(g.points, 0);
    }

    proptest! {
        #[test]
        fn a_grant_never_exceeds_either_limit(
            points in 0i64..1_000_000,
            cap in 0i64..1_000_000, used in 0i64..1_000_000,
            budget in 0i64..1_000_000, spent in 0i64..1_000_000,
        ) {
            let g = grant(&award(points), Some(Limit { limit: cap, used }), Some(Limit { limit: budget, used: spent }));
            prop_assert!(g.points >= 0);
            prop_assert!(g.points <= points);
            prop_assert!(g.points == 0 || used + g.points <= cap);
            prop_assert!(g.points == 0 || spent + g.points <= budget);
        }
    }
}
