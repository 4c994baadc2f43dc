//! Caps and budgets counted in memory, with the service's cap windows and cut rule
//! ([`loyalty_service::domain::caps::window_start`], [`loyalty_service::domain::caps::grant`]):
//! the service keeps the same counters in `campaign_member_usage` and `campaign_budgets`.
//!
//! Memory grows with members × capped campaigns × cap windows, never with bookings.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalty_crds::campaign::CampaignSpec;
use loyalty_service::domain::caps::{self, Granted, Limit};
use loyalty_service::domain::rules::{CampaignEntry, PlannedAward};

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

    /// The member's cap and the budget as [`caps::grant`] takes them, then the counters
    /// moved as the earn transaction moves them.
    fn grant_one(
        &mut self,
        award: &PlannedAward,
        spec: Option<&CampaignSpec>,
        member: &str,
        at: DateTime<Utc>,
    ) -> Granted {
        let Some(spec) = spec else {
            return caps::grant(award, None, None);
        };
        let campaign = format!("{}/{}", award.namespace, award.name);
        let key = (
            campaign.clone(),
            member.to_owned(),
            caps::window_start(spec, at),
        );
        let member_cap = spec.caps.per_member_points.map(|limit| Limit {
            limit,
            used: self.member.get(&key).copied().unwrap_or(0),
        });
        let budget = spec.caps.budget_points.map(|limit| Limit {
            limit,
            used: self.budget.get(&campaign).copied().unwrap_or(0),
        });
        let granted = caps::grant(award, member_cap, budget);
        if granted.points > 0 {
            if member_cap.is_some() {
                *self.member.entry(key).or_default() += granted.points;
            }
            if budget.is_some() {
                *self.budget.entry(campaign).or_default() += granted.points;
            }
        }
        granted
    }

    /// What each budgeted campaign has granted so far.
    pub fn budgets(&self) -> &HashMap<String, i64> {
        &self.budget
    }
}
