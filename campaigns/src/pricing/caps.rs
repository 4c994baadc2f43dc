//! Caps and budgets counted in memory, with the service's cap windows and cut rule
//! ([`loyalty_service::store::caps::window_start`], [`loyalty_service::store::caps::cut`]):
//! the service keeps the same counters in `campaign_member_usage` and `campaign_budgets`.
//!
//! Memory grows with members × capped campaigns × cap windows, never with bookings.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalty_crds::campaign::CampaignSpec;
use loyalty_service::domain::rules::{CampaignEntry, PlannedAward};
use loyalty_service::store::caps::{Granted, cut, window_start};

/// Points granted so far per member and cap window, and per campaign budget.
#[derive(Debug, Default)]
pub struct CapBook {
    member: HashMap<(String, String, DateTime<Utc>), i64>,
    budget: HashMap<String, i64>,
}

impl CapBook {
    /// Each planned award cut to what its caps leave, recorded as granted.
    pub fn grant(
        &mut self,
        planned: &[PlannedAward],
        campaigns: &[CampaignEntry],
        member: &str,
        at: DateTime<Utc>,
    ) -> Vec<Granted> {
        planned
            .iter()
            .map(|award| {
                let spec = campaigns
                    .iter()
                    .find(|c| c.namespace == award.namespace && c.name == award.name)
                    .map(|c| &c.spec);
                self.grant_one(award, spec, member, at)
            })
            .collect()
    }

    /// The member cap first, then the budget, as the earn transaction applies them.
    fn grant_one(
        &mut self,
        award: &PlannedAward,
        spec: Option<&CampaignSpec>,
        member: &str,
        at: DateTime<Utc>,
    ) -> Granted {
        let mut points = award.points.max(0);
        let Some(spec) = spec else {
            return Granted::new(award, points, None);
        };
        let campaign = format!("{}/{}", award.namespace, award.name);
        let mut capped_by = None;
        if let Some(cap) = spec.caps.per_member_points {
            let key = (campaign.clone(), member.to_owned(), window_start(spec, at));
            let used = self.member.entry(key).or_default();
            if let Some(left) = cut(points, cap, *used) {
                points = left;
                capped_by = Some("per_member_cap");
            }
            *used += points;
        }
        if let Some(budget) = spec.caps.budget_points {
            let spent = self.budget.entry(campaign).or_default();
            if let Some(left) = cut(points, budget, *spent) {
                points = left;
                capped_by = Some("budget");
            }
            *spent += points;
        }
        Granted::new(award, points, capped_by)
    }

    /// What each budgeted campaign has granted so far.
    pub fn budgets(&self) -> &HashMap<String, i64> {
        &self.budget
    }
}
