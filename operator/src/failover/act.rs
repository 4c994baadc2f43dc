//! Carrying a failover plan out for one region: the fence transaction, then status (phase,
//! serving region, epoch, streak starts, the Healthy and FailedOver conditions), an Event per
//! transition and the transition metric.
//!
//! Status is written from a fresh read under the region's status lock, which the region
//! controller takes too, so the two writers of a LoyaltyRegion's status never overwrite each
//! other's fields with stale values.

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::events::EventType;
use loyalty_crds::common::{Condition, ConditionStatus, RegionName, set_condition};
use loyalty_crds::region::{
    FENCE_ANNOTATION, FailoverMode, LoyaltyRegion, LoyaltyRegionStatus, RegionPhase, conditions,
};
use loyalty_schema::RegionState;

use super::decide::{Hold, Plan};
use super::track::Track;
use crate::Result;
use crate::controller::{Context, apply_status, transition};
use crate::db::{FenceRow, MoveRegion};

/// Applies `plan` (if any) and brings the region's status up to date with `track` and its
/// fence row. Most rounds change nothing: that is decided on the cached object, so a quiet
/// region costs no API request; a change is recomputed on a fresh read under the status lock.
pub async fn carry_out(
    ctx: &Context,
    region: &LoyaltyRegion,
    row: &FenceRow,
    track: &Track,
    plan: Option<&Plan>,
    now: DateTime<Utc>,
) -> Result<()> {
    if !moves_row(plan) {
        let (old, new, _) = next_status(region, row, track, plan, now);
        if old == new {
            return Ok(());
        }
    }
    let name = region.name_any();
    let _one_writer = ctx.status_lock(&name).await;
    let row = match plan {
        Some(plan) => move_row(ctx, row, plan)
            .await?
            .unwrap_or_else(|| row.clone()),
        None => row.clone(),
    };
    let api: Api<LoyaltyRegion> = Api::all(ctx.client.clone());
    let fresh = api.get(&name).await?;
    let (old, status, healthy_changed) = next_status(&fresh, &row, track, plan, now);
    if status != old {
        apply_status(&api, &name, &status).await?;
    }
    announce(ctx, &fresh, &old, &status, &row, healthy_changed).await;
    Ok(())
}

/// Whether `plan` fences or unfences the region's row.
fn moves_row(plan: Option<&Plan>) -> bool {
    plan.is_some_and(|p| matches!(p, Plan::Fence { .. } | Plan::Unfence { .. }))
}

/// `region`'s status before and after this round, and whether `Healthy` flipped.
fn next_status(
    region: &LoyaltyRegion,
    row: &FenceRow,
    track: &Track,
    plan: Option<&Plan>,
    now: DateTime<Utc>,
) -> (LoyaltyRegionStatus, LoyaltyRegionStatus, bool) {
    let old = region.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.failing_since = track.failing_since;
    status.healthy_since = track.healthy_since;
    let healthy_changed = set_condition(&mut status.conditions, healthy(track, now));
    let settled = old.phase.is_some_and(|p| {
        !matches!(
            p,
            RegionPhase::Pending | RegionPhase::Placing | RegionPhase::Error
        )
    });
    if settled || moves_row(plan) {
        status.epoch = row.epoch;
        status.serving_region = row.served_by.parse::<RegionName>().ok();
        status.phase = Some(phase(region, row, track, plan, old.phase));
        set_condition(&mut status.conditions, failed_over(row, plan, now));
    }
    (old, status, healthy_changed)
}

/// Runs the fence or unfence of `plan`; `None` when there was nothing to run or the row had
/// already moved (the next round decides again on the new row).
async fn move_row(ctx: &Context, row: &FenceRow, plan: &Plan) -> Result<Option<FenceRow>> {
    let work = match plan {
        Plan::Fence {
            from_epoch,
            served_by,
            reason,
            ..
        } => MoveRegion {
            region: row.name.clone(),
            from_epoch: *from_epoch,
            state: RegionState::Fenced,
            served_by: served_by.clone(),
            reason,
        },
        Plan::Unfence {
            from_epoch, reason, ..
        } => MoveRegion {
            region: row.name.clone(),
            from_epoch: *from_epoch,
            state: RegionState::Active,
            served_by: row.name.clone(),
            reason,
        },
        _ => return Ok(None),
    };
    let Some(epoch) = ctx.db.serializable("move_region", &work).await? else {
        tracing::info!(region = %row.name, "fence row moved meanwhile; deciding again next round");
        return Ok(None);
    };
    tracing::info!(region = %row.name, epoch, state = %work.state, served_by = %work.served_by, reason = work.reason, "region moved");
    Ok(Some(FenceRow {
        state: work.state,
        epoch,
        served_by: work.served_by,
        reason: Some(work.reason.to_owned()),
        ..row.clone()
    }))
}

/// The phase after this round.
fn phase(
    region: &LoyaltyRegion,
    row: &FenceRow,
    track: &Track,
    plan: Option<&Plan>,
    old: Option<RegionPhase>,
) -> RegionPhase {
    match (row.state, plan) {
        (RegionState::Fenced, _) if row.served_by == row.name => RegionPhase::Fenced,
        (RegionState::Fenced, _) if will_fail_back(region) && track.looks_up() => {
            RegionPhase::FailingBack
        }
        (RegionState::Fenced, _) => RegionPhase::FailedOver,
        (RegionState::Active, Some(Plan::FailClosed { .. })) => RegionPhase::FailedClosed,
        (RegionState::Active, Some(Plan::Hold { .. })) => RegionPhase::FailingOver,
        (RegionState::Active, _) => match old {
            Some(p @ (RegionPhase::FailedClosed | RegionPhase::FailingOver))
                if track.looks_down() =>
            {
                p
            }
            _ => RegionPhase::Active,
        },
    }
}

/// Whether the operator will fail this region back by itself once it has recovered.
fn will_fail_back(region: &LoyaltyRegion) -> bool {
    region.spec.failover.mode == FailoverMode::Automatic
        && region.spec.failover.manual_override.is_none()
        && !region.annotations().contains_key(FENCE_ANNOTATION)
}

fn healthy(track: &Track, now: DateTime<Utc>) -> Condition {
    let (status, reason, message) = match &track.last {
        Some(outcome) if outcome.is_up() => {
            (ConditionStatus::True, "ProbeSucceeded", String::new())
        }
        Some(super::probe::ProbeOutcome::Failed(why)) => (
            ConditionStatus::False,
            "ProbeFailed",
            format!("/readyz: {why}"),
        ),
        _ => (ConditionStatus::Unknown, "NotProbed", String::new()),
    };
    Condition::new(conditions::HEALTHY, status, reason, message, None, now)
}

fn failed_over(row: &FenceRow, plan: Option<&Plan>, now: DateTime<Utc>) -> Condition {
    let (status, reason, message) = match (row.state, plan) {
        (RegionState::Fenced, _) if row.served_by == row.name => (
            ConditionStatus::True,
            row.reason.clone().unwrap_or_else(|| "Fenced".into()),
            format!("fenced at epoch {}; no region of group {} serves its members", row.epoch, row.residency_group),
        ),
        (RegionState::Fenced, _) => (
            ConditionStatus::True,
            row.reason.clone().unwrap_or_else(|| "Fenced".into()),
            format!("fenced at epoch {}; members served by {}", row.epoch, row.served_by),
        ),
        (RegionState::Active, Some(Plan::FailClosed { .. })) => (
            ConditionStatus::False,
            "NoEligibleTarget".into(),
            format!(
                "down, and no healthy active region in residency group {}: its members are not served until it returns (they never move to another group)",
                row.residency_group
            ),
        ),
        (RegionState::Active, Some(Plan::Hold { why, .. })) => (
            ConditionStatus::False,
            "FailoverHeld".into(),
            match why {
                Hold::EveryRegionDown => "down, but every region looks down: the operator assumes it is cut off itself and moves nothing".into(),
                Hold::GroupAlreadyFailedOver => "down, but another region of its group is already failed over (one at a time)".into(),
            },
        ),
        (RegionState::Active, Some(Plan::Refused { why, .. })) => {
            (ConditionStatus::False, "OverrideRefused".into(), why.clone())
        }
        (RegionState::Active, _) => (ConditionStatus::False, "Serving".into(), String::new()),
    };
    Condition::new(conditions::FAILED_OVER, status, reason, message, None, now)
}

/// Events and the metric for what changed.
async fn announce(
    ctx: &Context,
    region: &LoyaltyRegion,
    old: &LoyaltyRegionStatus,
    new: &LoyaltyRegionStatus,
    row: &FenceRow,
    healthy_changed: bool,
) {
    if healthy_changed {
        let up = new.healthy_since.is_some();
        let (type_, reason) = if up {
            (EventType::Normal, "ProbeSucceeded")
        } else {
            (EventType::Warning, "ProbeFailed")
        };
        ctx.event(
            region,
            type_,
            reason,
            format!("/readyz of {}", region.spec.endpoint),
        )
        .await;
    }
    if new.phase == old.phase {
        return;
    }
    let name = region.name_any();
    let label = |p: Option<RegionPhase>| p.map_or("None".to_owned(), |p| format!("{p:?}"));
    ctx.metrics
        .failover_transitions
        .with_label_values(&[name.as_str(), &label(old.phase), &label(new.phase)])
        .inc();
    let type_ = match new.phase {
        Some(RegionPhase::Active | RegionPhase::FailingBack) => EventType::Normal,
        _ => EventType::Warning,
    };
    let note = format!(
        "{}: epoch {}, members served by {}",
        transition(old.phase, new.phase),
        row.epoch,
        row.served_by
    );
    ctx.event(region, type_, &label(new.phase), note).await;
}
