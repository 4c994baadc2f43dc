//! Running totals of a backtest, folded one earn at a time: memory grows with days,
//! campaigns, members affected and K, never with the number of earns.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};

use chrono::NaiveDate;
use loyalty_service::domain::caps::CappedBy;
use uuid::Uuid;

use super::At;
use super::source::RecordedEarn;
use crate::pricing::Priced;

/// One campaign's totals, as granted and as proposed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CampaignTotals {
    pub granted_points: i64,
    pub granted_earns: u64,
    pub proposed_points: i64,
    pub proposed_earns: u64,
    /// Proposed grants cut by the per-member cap, and by the budget.
    pub cut_by_member_cap: u64,
    pub cut_by_budget: u64,
}

/// One earn whose points change, for the top-K list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// |proposed − granted| first, so the heap orders by size of change.
    pub magnitude: i64,
    pub at: At,
    pub booking: String,
    pub member: Uuid,
    pub granted: i64,
    pub proposed: i64,
}

/// Everything the report needs.
#[derive(Debug)]
pub struct Tally {
    pub earns: u64,
    pub changed: u64,
    /// Earns the proposed rules could not price (no recorded calculation, unknown rate).
    pub skipped: u64,
    pub granted: i64,
    pub proposed: i64,
    pub campaigns: BTreeMap<String, CampaignTotals>,
    pub daily: BTreeMap<NaiveDate, (i64, i64)>,
    pub members_affected: HashSet<Uuid>,
    top: BinaryHeap<Reverse<Change>>,
    k: usize,
}

impl Tally {
    pub fn new(k: usize) -> Self {
        Self {
            earns: 0,
            changed: 0,
            skipped: 0,
            granted: 0,
            proposed: 0,
            campaigns: BTreeMap::new(),
            daily: BTreeMap::new(),
            members_affected: HashSet::new(),
            top: BinaryHeap::new(),
            k,
        }
    }

    /// Folds in one recorded earn and its re-pricing (`None`: it could not be re-priced).
    pub fn add(&mut self, earn: &RecordedEarn, priced: Option<Priced>) {
        let Some(priced) = priced else {
            self.skipped += 1;
            return;
        };
        self.earns += 1;
        self.granted += earn.points;
        self.proposed += priced.points;
        let day = self.daily.entry(earn.at.date_naive()).or_default();
        day.0 += earn.points;
        day.1 += priced.points;
        for g in &earn.campaigns {
            let t = self.campaigns.entry(g.campaign.clone()).or_default();
            t.granted_points += g.points;
            t.granted_earns += 1;
        }
        for g in &priced.explanation.campaigns {
            let t = self.campaigns.entry(g.campaign.clone()).or_default();
            t.proposed_points += g.points;
            t.proposed_earns += 1;
            match g.capped_by {
                Some(CappedBy::PerMemberCap) => t.cut_by_member_cap += 1,
                Some(CappedBy::Budget) => t.cut_by_budget += 1,
                None => {}
            }
        }
        if priced.points != earn.points {
            self.changed += 1;
            self.members_affected.insert(earn.member);
            self.keep(Change {
                magnitude: (priced.points - earn.points).abs(),
                at: earn.at,
                booking: earn.booking.clone(),
                member: earn.member,
                granted: earn.points,
                proposed: priced.points,
            });
        }
    }

    /// Keeps `change` if it is among the K biggest so far.
    fn keep(&mut self, change: Change) {
        if self.top.len() < self.k {
            self.top.push(Reverse(change));
        } else if self.top.peek().is_some_and(|Reverse(min)| change > *min) {
            self.top.pop();
            self.top.push(Reverse(change));
        }
    }

    /// The biggest changes, biggest first.
    pub fn biggest(&self) -> Vec<Change> {
        let mut out: Vec<Change> = self.top.iter().map(|Reverse(c)| c.clone()).collect();
        out.sort_by(|a, b| b.cmp(a));
        out
    }
}
