//! Points for activities other than bookings: a referral, a review, a streak of visits.
//! Pure: the programme's rule for the activity and what the member already earned under it
//! go in; the points granted (cut by the daily, monthly and lifetime caps) come out.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::caps::{Limit, cut};

pub use loyalty_crds::common::ActivityKind;

/// An activity's name as a request or a rule spells it.
pub fn parse_kind(name: &str) -> Result<ActivityKind, Invalid> {
    name.parse().map_err(|_| {
        Invalid::new(
            "unknown_activity",
            "kind must be one of referral, review, streak",
        )
    })
}

/// How the programme rewards one activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityRule {
    pub points: i64,
    pub daily_cap: Option<i64>,
    pub monthly_cap: Option<i64>,
    pub lifetime_cap: Option<i64>,
    /// Referrals: points for the referred member too (0 for none).
    pub referred_points: i64,
    /// Streaks: the consecutive days of visits that earn the points.
    pub streak_days: i64,
}

/// The programme's activity rules; an activity without a rule earns nothing.
pub type ActivityRules = HashMap<ActivityKind, ActivityRule>;

/// Points a member already earned under one activity's rule, by cap window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityUsage {
    pub today: i64,
    pub this_month: i64,
    pub lifetime: i64,
}

/// The cap that cut an activity's grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityCap {
    DailyCap,
    MonthlyCap,
    LifetimeCap,
}

/// The points the rule grants given what was already earned: cut by every cap that bites,
/// the tightest one named.
pub fn grant(rule: &ActivityRule, used: ActivityUsage) -> (i64, Option<ActivityCap>) {
    let mut points = rule.points;
    let mut capped_by = None;
    for (cap, used, by) in [
        (rule.daily_cap, used.today, ActivityCap::DailyCap),
        (rule.monthly_cap, used.this_month, ActivityCap::MonthlyCap),
        (rule.lifetime_cap, used.lifetime, ActivityCap::LifetimeCap),
    ] {
        if let Some(left) = cap.and_then(|limit| cut(points, Limit { limit, used })) {
            points = left;
            capped_by = Some(by);
        }
    }
    (points, capped_by)
}

/// The length of the run of consecutive days ending on `day` among `days` (the member's visit
/// days since their last streak award, in any order).
pub fn run_ending(day: NaiveDate, days: &[NaiveDate]) -> i64 {
    let mut run = 0;
    let mut expected = day;
    let mut sorted: Vec<NaiveDate> = days.iter().copied().filter(|d| *d <= day).collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    for d in sorted {
        if d != expected {
            break;
        }
        run += 1;
        expected = d - Duration::days(1);
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> ActivityRule {
        ActivityRule {
            points: 100,
            daily_cap: Some(150),
            monthly_cap: Some(1_000),
            lifetime_cap: Some(5_000),
            referred_points: 0,
            streak_days: 0,
        }
    }

    #[test]
    fn each_cap_bites_at_its_boundary() {
        let used = |today, this_month, lifetime| ActivityUsage {
            today,
            this_month,
            lifetime,
        };
        let cases = [
            (used(0, 0, 0), (100, None)),
            (used(50, 50, 50), (100, None)),
            (used(51, 51, 51), (99, Some(ActivityCap::DailyCap))),
            (used(150, 150, 150), (0, Some(ActivityCap::DailyCap))),
            (used(0, 950, 950), (50, Some(ActivityCap::MonthlyCap))),
            (used(0, 0, 4_990), (10, Some(ActivityCap::LifetimeCap))),
            (used(100, 960, 4_999), (1, Some(ActivityCap::LifetimeCap))),
        ];
        for (usage, expected) in cases {
            assert_eq!(grant(&rule(), usage), expected, "{usage:?}");
        }
    }

    #[test]
    fn a_run_counts_consecutive_days_back_from_the_day() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
        assert_eq!(run_ending(d(10), &[d(10), d(9), d(8)]), 3);
        assert_eq!(run_ending(d(10), &[d(8), d(10), d(9), d(9)]), 3);
        assert_eq!(run_ending(d(10), &[d(10), d(8), d(7)]), 1);
        assert_eq!(run_ending(d(10), &[d(9), d(8)]), 0);
        assert_eq!(run_ending(d(9), &[d(10), d(9), d(8)]), 2);
        // Across a month end.
        let feb28 = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        assert_eq!(run_ending(d(1), &[d(1), feb28]), 2);
    }

    #[test]
    fn an_unknown_kind_is_refused_with_a_code() {
        assert_eq!(parse_kind("review"), Ok(ActivityKind::Review));
        assert_eq!(parse_kind("login").unwrap_err().code, "unknown_activity");
    }
}
