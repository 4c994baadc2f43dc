//! The failover decision rules, as a pure function of what the operator sees: every region's
//! declaration, its fence row and its probe history. No I/O here, so every rule is unit-tested
//! (decide/tests.rs) and the same inputs always give the same plans.
//!
//! Rules (ADR 0010, docs/failover.md):
//! - Automatic mode: a region that is down (see [`Track::is_down`]) and serving its own members
//!   is fenced with `served_by` = the best eligible target of its residency group; with no
//!   eligible target it fails closed (nothing moves, nobody crosses a group).
//! - A region fenced by automatic failover fails back once it has recovered
//!   ([`Track::is_recovered`]).
//! - Sanity: when every region looks down the operator is the likelier casualty (a partition
//!   around it), so nothing fails over; and at most one region of a group is failed over at a
//!   time, so a flapping probe path cannot fence a whole group region by region.
//! - Manual controls in every mode: the fence annotation fences (served by the best target, or
//!   by nobody); `spec.failover.manualOverride.serveFrom` switches the region's members to
//!   another region of its group (or, naming the region itself, keeps it serving). Withdrawn,
//!   a manual fence is lifted at once in Manual mode and after recovery in Automatic mode.
//! - Manual mode never fails over or back on probes.

use chrono::{DateTime, Utc};
use loyalty_crds::region::{FailoverMode, FailoverPolicy};
use loyalty_schema::RegionState;

use super::track::Track;
use crate::db::FenceRow;

/// Why a region's row moved to its current epoch: the `region_transitions.reason` texts the
/// failover logic writes and reads back.
pub mod reasons {
    pub const FAILED_OVER: &str = "FailedOver";
    pub const FAILED_BACK: &str = "FailedBack";
    pub const MANUAL_FENCE: &str = "ManualFence";
    pub const MANUAL_UNFENCE: &str = "ManualUnfence";
    pub const SWITCHOVER: &str = "Switchover";
}

/// What the operator sees of one region.
#[derive(Debug, Clone)]
pub struct RegionView<'a> {
    pub name: &'a str,
    pub group: &'a str,
    pub policy: &'a FailoverPolicy,
    /// Being deleted: the region controller fences it; failover leaves it alone.
    pub deleting: bool,
    /// The fence annotation is set.
    pub fence_requested: bool,
    /// `manualOverride.serveFrom`, when set.
    pub serve_from: Option<&'a str>,
    /// Its fence row; `None` until the region controller created it.
    pub row: Option<&'a FenceRow>,
    pub track: &'a Track,
}

/// One change the operator should make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Fence `region` (from `from_epoch`) with its members served by `served_by`.
    Fence {
        region: String,
        from_epoch: i64,
        served_by: String,
        reason: &'static str,
    },
    /// Make `region` active and serving its own members again.
    Unfence {
        region: String,
        from_epoch: i64,
        reason: &'static str,
    },
    /// `region` is down and no region of its group can take its members: they stay where they
    /// are and are not served until it returns.
    FailClosed { region: String },
    /// `region` is down but a sanity rule holds failover back.
    Hold { region: String, why: Hold },
    /// A manual override cannot be applied as written.
    Refused { region: String, why: String },
}

/// Which sanity rule held a failover back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Every region looks down: the operator assumes it is the one cut off.
    EveryRegionDown,
    /// Another region of the group is already failed over.
    GroupAlreadyFailedOver,
}

impl Plan {
    /// The region the plan is about.
    pub fn region(&self) -> &str {
        match self {
            Plan::Fence { region, .. }
            | Plan::Unfence { region, .. }
            | Plan::FailClosed { region }
            | Plan::Hold { region, .. }
            | Plan::Refused { region, .. } => region,
        }
    }
}

/// The plans for one round, at most one per region, in region-name order.
pub fn decide(views: &[RegionView<'_>], now: DateTime<Utc>) -> Vec<Plan> {
    let mut sorted: Vec<&RegionView<'_>> = views.iter().collect();
    sorted.sort_by_key(|v| v.name);
    let every_region_down = sorted.len() > 1 && sorted.iter().all(|v| v.track.looks_down());
    let mut plans: Vec<Plan> = Vec::new();
    for view in &sorted {
        let Some(row) = view.row else { continue };
        if view.deleting {
            continue;
        }
        let plan = match manual(view, row, &sorted) {
            Some(plan) => plan,
            None if view.policy.mode == FailoverMode::Manual => withdrawn_manual_fence(view, row),
            None => automatic(view, row, &sorted, &plans, every_region_down, now),
        };
        plans.extend(plan);
    }
    plans
}

/// The plan the manual controls ask for, when one is set.
fn manual(view: &RegionView<'_>, row: &FenceRow, all: &[&RegionView<'_>]) -> Option<Option<Plan>> {
    if let Some(target) = view.serve_from {
        return Some(switchover(view, row, target, all));
    }
    if !view.fence_requested {
        return None;
    }
    if row.state == RegionState::Fenced {
        return Some(None);
    }
    let served_by = best_target(view, all).unwrap_or(view.name);
    Some(Some(fence(row, served_by, reasons::MANUAL_FENCE)))
}

/// `serveFrom`: the region itself keeps (or gets back) its members; another region of the
/// group takes them.
fn switchover(
    view: &RegionView<'_>,
    row: &FenceRow,
    target: &str,
    all: &[&RegionView<'_>],
) -> Option<Plan> {
    if target == view.name {
        return (row.state == RegionState::Fenced).then(|| unfence(row, reasons::MANUAL_UNFENCE));
    }
    if row.state == RegionState::Fenced && row.served_by == target {
        return None;
    }
    let eligible = all
        .iter()
        .any(|o| o.name == target && is_eligible(o, view.group));
    if !eligible {
        return Some(Plan::Refused {
            region: view.name.to_owned(),
            why: format!(
                "manualOverride.serveFrom {target} is not an active, healthy region of residency group {}",
                view.group
            ),
        });
    }
    // Already fenced but served elsewhere, or active: one epoch bump moves the members.
    Some(fence(row, target, reasons::SWITCHOVER))
}

/// In Manual mode, a fence whose manual cause is gone is lifted at once.
fn withdrawn_manual_fence(view: &RegionView<'_>, row: &FenceRow) -> Option<Plan> {
    let manual = matches!(
        row.reason.as_deref(),
        Some(reasons::MANUAL_FENCE | reasons::SWITCHOVER)
    );
    (row.state == RegionState::Fenced && manual && view.serve_from.is_none())
        .then(|| unfence(row, reasons::MANUAL_UNFENCE))
}

fn automatic(
    view: &RegionView<'_>,
    row: &FenceRow,
    all: &[&RegionView<'_>],
    planned: &[Plan],
    every_region_down: bool,
    now: DateTime<Utc>,
) -> Option<Plan> {
    if row.state == RegionState::Fenced {
        let failover_fence = matches!(
            row.reason.as_deref(),
            Some(reasons::FAILED_OVER | reasons::MANUAL_FENCE | reasons::SWITCHOVER)
        );
        let recovered = view.track.is_recovered(view.policy, now);
        return (failover_fence && recovered).then(|| unfence(row, reasons::FAILED_BACK));
    }
    if row.served_by != view.name || !view.track.is_down(view.policy, now) {
        return None;
    }
    let region = view.name.to_owned();
    if every_region_down {
        return Some(Plan::Hold {
            region,
            why: Hold::EveryRegionDown,
        });
    }
    if group_already_failed_over(view, all, planned) {
        return Some(Plan::Hold {
            region,
            why: Hold::GroupAlreadyFailedOver,
        });
    }
    Some(match best_target(view, all) {
        Some(target) => fence(row, target, reasons::FAILED_OVER),
        None => Plan::FailClosed { region },
    })
}

fn group_already_failed_over(
    view: &RegionView<'_>,
    all: &[&RegionView<'_>],
    planned: &[Plan],
) -> bool {
    let fenced = all.iter().any(|o| {
        o.name != view.name
            && o.group == view.group
            && o.row
                .is_some_and(|r| r.state == RegionState::Fenced && r.served_by != o.name)
    });
    let fencing = planned.iter().any(|p| match p {
        Plan::Fence { region, .. } => all
            .iter()
            .any(|o| o.name == region && o.group == view.group),
        _ => false,
    });
    fenced || fencing
}

/// A region that may take another's members: same group, not being deleted or fenced on
/// request, active and serving itself, and up at its newest probe.
fn is_eligible(candidate: &RegionView<'_>, group: &str) -> bool {
    candidate.group == group
        && !candidate.deleting
        && !candidate.fence_requested
        && candidate
            .row
            .is_some_and(|r| r.state == RegionState::Active && r.served_by == candidate.name)
        && candidate.track.looks_up()
}

/// The eligible region of `view`'s group that serves the fewest other regions' members, then
/// the first by name: deterministic, and it spreads a group's failed regions.
fn best_target<'a>(view: &RegionView<'_>, all: &[&RegionView<'a>]) -> Option<&'a str> {
    all.iter()
        .filter(|o| o.name != view.name && is_eligible(o, view.group))
        .min_by_key(|o| {
            let load = all
                .iter()
                .filter(|x| x.name != o.name && x.row.is_some_and(|r| r.served_by == o.name))
                .count();
            (load, o.name)
        })
        .map(|o| o.name)
}

fn fence(row: &FenceRow, served_by: &str, reason: &'static str) -> Plan {
    Plan::Fence {
        region: row.name.clone(),
        from_epoch: row.epoch,
        served_by: served_by.to_owned(),
        reason,
    }
}

fn unfence(row: &FenceRow, reason: &'static str) -> Plan {
    Plan::Unfence {
        region: row.name.clone(),
        from_epoch: row.epoch,
        reason,
    }
}

#[cfg(test)]
mod tests;
