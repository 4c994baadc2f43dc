//! The LoyaltyRegion controller: the region's row and country homes, database placement
//! through the [`PlacementBackend`](crate::placement::PlacementBackend), the region's service
//! workloads, and status with Placed, ServiceReady and Ready conditions.
//!
//! Countries: when two LoyaltyRegions list the same country, the one created first (then by
//! name) keeps it and the other is refused with no database change. A country homed in the
//! database by a region that no LoyaltyRegion declares it for (seed data, or a region that
//! dropped it) is taken over, with an Event. Deleting a LoyaltyRegion removes its country
//! homes and placement record, fences its row (state `fenced`, epoch + 1) and deletes its
//! workloads; member data is never touched.

pub mod service_config;
pub mod workloads;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};
use loyalty_crds::common::{Condition, RegionName, set_condition};
use loyalty_crds::describe_issues;
use loyalty_crds::region::{
    LoyaltyRegion, LoyaltyRegionSpec, LoyaltyRegionStatus, PlacementStatus, RegionPhase,
    SurvivalGoal, conditions,
};
use loyalty_schema::RegionState;

use super::{Context, apply_status, back_off, object_key, transition};
use crate::db::{FenceRegion, RegionRow, UpsertRegion};
use crate::placement;
use crate::{Error, Result};

/// The finalizer that keeps a LoyaltyRegion until its row is fenced and its workloads gone.
pub const FINALIZER: &str = "loyalty.travel.example/region-cleanup";
const CONTROLLER: &str = "region";
/// A ready region is re-checked this often (placement drift, the Deployment's readiness).
pub const RESYNC: Duration = Duration::from_secs(300);
/// A region that is not ready yet is looked at again this soon.
pub const NOT_READY_RESYNC: Duration = Duration::from_secs(30);

/// Reconciles one LoyaltyRegion.
#[tracing::instrument(skip_all, fields(region = %obj.name_any()))]
pub async fn reconcile(obj: Arc<LoyaltyRegion>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started(CONTROLLER);
    let api: Api<LoyaltyRegion> = Api::all(ctx.client.clone());
    let key = object_key(CONTROLLER, &*obj);
    let action = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(r) => {
                // Other regions' changes trigger this reconcile too, sometimes before the
                // cache holds the status this controller just wrote; reading the region
                // afresh keeps conditions (and their Events) from flapping back.
                // The status lock keeps failover from moving this region's status between
                // this read and the status write below.
                let _one_writer = ctx.status_lock(&r.name_any()).await;
                let fresh = api.get(&r.name_any()).await?;
                // The cache can lag a deletion: a region being deleted is the cleanup's to
                // fence, never this apply's to revive.
                if fresh.metadata.deletion_timestamp.is_some() {
                    return Ok(Action::await_change());
                }
                apply(&fresh, &api, &ctx).await
            }
            FinalizerEvent::Cleanup(r) => cleanup(&r, &ctx).await,
        }
    })
    .await?;
    ctx.backoff.reset(&key);
    Ok(action)
}

/// Retries a failed reconcile with per-object exponential backoff.
pub fn error_policy(obj: Arc<LoyaltyRegion>, error: &Error, ctx: Arc<Context>) -> Action {
    back_off(CONTROLLER, &*obj, error, &ctx)
}

fn precedence(r: &LoyaltyRegion) -> (Option<DateTime<Utc>>, String) {
    let created = r
        .meta()
        .creation_timestamp
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0));
    (created, r.name_any())
}

/// Countries of `this` that an earlier LoyaltyRegion also lists: `(country, other region)`.
pub fn country_conflicts(
    this: &LoyaltyRegion,
    all: &[Arc<LoyaltyRegion>],
) -> Vec<(String, String)> {
    let mine = precedence(this);
    let mut out = Vec::new();
    for other in all {
        if other.name_any() == this.name_any() || other.meta().deletion_timestamp.is_some() {
            continue;
        }
        if precedence(other) >= mine {
            continue;
        }
        for c in &this.spec.countries {
            if other.spec.serves_country(c) {
                out.push((c.to_string(), other.spec.region.to_string()));
            }
        }
    }
    out.sort();
    out
}

/// The declared regions that take part in the database plan.
fn declared(ctx: &Context) -> Vec<LoyaltyRegionSpec> {
    ctx.regions
        .state()
        .iter()
        .filter(|r| r.meta().deletion_timestamp.is_none())
        .map(|r| r.spec.clone())
        .collect()
}

/// What a reconcile found, before it is written to status.
struct Outcome {
    /// `(reason, message)` when the region cannot be served as declared (invalid spec,
    /// country conflict): nothing was written.
    blocked: Option<(&'static str, String)>,
    /// Whether placement is applied, with the Placed condition's reason and message.
    placed: Option<(bool, &'static str, String)>,
    service: Option<workloads::Readiness>,
    db: Option<RegionRow>,
    placement: Option<PlacementStatus>,
    /// An error to hand to the error policy after status is written.
    error: Option<Error>,
}

/// Why the region cannot be served as declared, if it cannot: an invalid spec, or countries
/// an earlier LoyaltyRegion already homes.
fn blocked(r: &LoyaltyRegion, ctx: &Context) -> Option<(&'static str, String)> {
    if let Err(issues) = r.spec.validate() {
        return Some(("ValidationFailed", describe_issues(&issues)));
    }
    let conflicts = country_conflicts(r, &ctx.regions.state());
    if conflicts.is_empty() {
        return None;
    }
    let list: Vec<String> = conflicts
        .iter()
        .map(|(c, o)| format!("{c} (homed by {o})"))
        .collect();
    Some((
        "CountryConflict",
        format!(
            "countries already homed by an earlier LoyaltyRegion: {}",
            list.join(", ")
        ),
    ))
}

/// Writes the region's rows and announces countries that moved here.
async fn upsert_rows(r: &LoyaltyRegion, ctx: &Context) -> Result<RegionRow> {
    let work = UpsertRegion {
        name: r.spec.region.to_string(),
        residency_group: r.spec.residency_group.to_string(),
        endpoint: r.spec.endpoint.clone(),
        countries: r.spec.countries.iter().map(ToString::to_string).collect(),
    };
    let state = ctx.db.serializable("upsert_region", &work).await?;
    for (country, from) in &state.rehomed {
        ctx.event(
            r,
            EventType::Normal,
            "CountryRehomed",
            format!("new members from {country} are homed here instead of {from}"),
        )
        .await;
    }
    Ok(state)
}

/// Plans and applies the database placement; records the Placed outcome, the placement
/// status and any error in `out`.
async fn place(r: &LoyaltyRegion, ctx: &Context, now: DateTime<Utc>, out: &mut Outcome) {
    let mut placement_status = PlacementStatus {
        desired: Some(r.spec.database.clone()),
        ..Default::default()
    };
    match placement::plan(&declared(ctx), &r.spec) {
        Err(refusal) => out.placed = Some((false, refusal.reason(), refusal.to_string())),
        Ok(plan) => match ctx.placement.apply(&ctx.db, &plan, &r.spec).await {
            Ok(applied) => {
                placement_status.applied = Some(applied.placement);
                placement_status.verified_at = Some(now);
                let msg = format!("{} placement applied and verified", ctx.placement.name());
                out.placed = Some((true, "Applied", msg));
            }
            Err(e) => {
                out.placed = Some((false, "PlacementFailed", e.to_string()));
                out.error = Some(e);
            }
        },
    }
    let old_placement = r
        .status
        .as_ref()
        .and_then(|s| s.placement.clone())
        .unwrap_or_default();
    if placement_status.applied == old_placement.applied
        && placement_status.desired == old_placement.desired
    {
        // Unchanged: keep the first verification time so status does not churn.
        placement_status.verified_at = old_placement.verified_at.or(placement_status.verified_at);
    }
    out.placement = Some(placement_status);
}

async fn apply(r: &LoyaltyRegion, api: &Api<LoyaltyRegion>, ctx: &Context) -> Result<Action> {
    let now = Utc::now();
    let mut out = Outcome {
        blocked: blocked(r, ctx),
        placed: None,
        service: None,
        db: None,
        placement: None,
        error: None,
    };
    if out.blocked.is_none() {
        out.db = Some(upsert_rows(r, ctx).await?);
        place(r, ctx, now, &mut out).await;
        out.service = Some(workloads::apply(r, ctx).await?);
    }
    let ready = write_status(r, api, ctx, &out, now).await?;
    if let Some(e) = out.error {
        return Err(e);
    }
    Ok(Action::requeue(if ready {
        RESYNC
    } else {
        NOT_READY_RESYNC
    }))
}

/// A status being built, and the condition changes to announce as Events.
struct StatusDraft {
    status: LoyaltyRegionStatus,
    transitions: Vec<(EventType, String, String)>,
}

impl StatusDraft {
    /// Sets `c`; a condition whose status changed is announced (`Ready`, `ReadyFalse`, ...).
    fn set(&mut self, c: Condition) {
        let (t, ok) = (c.type_.clone(), c.is_true());
        let note = format!("{}: {}", c.reason, c.message);
        if set_condition(&mut self.status.conditions, c) {
            let type_ = if ok {
                EventType::Normal
            } else {
                EventType::Warning
            };
            let reason = format!("{t}{}", if ok { "" } else { "False" });
            self.transitions.push((type_, reason, note));
        }
    }
}

/// `ServiceReady` and `Ready` of a region whose placement is `placed`.
fn serving_conditions(
    placed: bool,
    placed_message: &str,
    service: workloads::Readiness,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> [Condition; 2] {
    let replicas = format!(
        "{}/{} replicas available",
        service.available, service.desired
    );
    let (svc_reason, ready_reason, ready_message) = match (placed, service.is_ready()) {
        (true, true) => ("ReplicasAvailable", "Serving", String::new()),
        (false, ok) => (
            if ok {
                "ReplicasAvailable"
            } else {
                "ReplicasUnavailable"
            },
            "NotPlaced",
            placed_message.to_owned(),
        ),
        (true, false) => ("ReplicasUnavailable", "ServiceNotReady", replicas.clone()),
    };
    [
        Condition::from_bool(
            conditions::SERVICE_READY,
            service.is_ready(),
            svc_reason,
            replicas,
            generation,
            now,
        ),
        Condition::from_bool(
            conditions::READY,
            placed && service.is_ready(),
            ready_reason,
            ready_message,
            generation,
            now,
        ),
    ]
}

/// Fills `draft` for this round's outcome; answers whether the region is ready.
fn fill_status(
    draft: &mut StatusDraft,
    r: &LoyaltyRegion,
    out: &Outcome,
    old_phase: Option<RegionPhase>,
    now: DateTime<Utc>,
) -> bool {
    let generation = r.metadata.generation;
    match (&out.blocked, &out.placed, out.service) {
        (Some((reason, message)), _, _) => {
            draft.status.phase = Some(RegionPhase::Error);
            draft.set(Condition::from_bool(
                conditions::READY,
                false,
                reason,
                message.clone(),
                generation,
                now,
            ));
            false
        }
        (None, Some((placed, reason, message)), Some(service)) => {
            draft.set(Condition::from_bool(
                conditions::PLACED,
                *placed,
                reason,
                message.clone(),
                generation,
                now,
            ));
            for c in serving_conditions(*placed, message, service, generation, now) {
                draft.set(c);
            }
            draft.set(survives_region_loss(
                r,
                out.placement.as_ref(),
                generation,
                now,
            ));
            if let Some(db) = &out.db {
                draft.status.epoch = db.epoch;
                draft.status.serving_region = db.served_by.parse::<RegionName>().ok();
                draft.status.phase = Some(if *placed {
                    settled_phase(db, r.spec.region.as_str(), old_phase)
                } else {
                    RegionPhase::Placing
                });
            }
            *placed && service.is_ready()
        }
        _ => false,
    }
}

/// Writes status and emits an Event for each transition; returns whether the region is Ready.
async fn write_status(
    r: &LoyaltyRegion,
    api: &Api<LoyaltyRegion>,
    ctx: &Context,
    out: &Outcome,
    now: DateTime<Utc>,
) -> Result<bool> {
    let old = r.status.clone().unwrap_or_default();
    let mut draft = StatusDraft {
        status: LoyaltyRegionStatus {
            conditions: old.conditions.clone(),
            observed_generation: r.metadata.generation,
            // Failover owns these; kept so that its delays survive restarts.
            failing_since: old.failing_since,
            healthy_since: old.healthy_since,
            epoch: old.epoch,
            serving_region: old.serving_region.clone(),
            placement: out.placement.clone().or(old.placement.clone()),
            phase: old.phase,
        },
        transitions: Vec::new(),
    };
    let ready = fill_status(&mut draft, r, out, old.phase, now);
    let status = draft.status;
    if status != old {
        apply_status(api, &r.name_any(), &status).await?;
    }
    if status.phase != old.phase {
        let note = transition(old.phase, status.phase);
        let type_ = if status.phase == Some(RegionPhase::Error) {
            EventType::Warning
        } else {
            EventType::Normal
        };
        let reason = status
            .phase
            .map_or("Unknown".to_owned(), |p| format!("{p:?}"));
        ctx.event(r, type_, &reason, note).await;
    }
    for (type_, reason, note) in draft.transitions {
        ctx.event(r, type_, &reason, note).await;
    }
    Ok(ready)
}

/// The phase the fence row implies. Failover owns the phases the row alone cannot tell
/// (failing over, failed closed, failing back) and they are kept while the row agrees.
fn settled_phase(row: &RegionRow, region: &str, old: Option<RegionPhase>) -> RegionPhase {
    match (row.state, row.served_by == region, old) {
        (RegionState::Fenced, true, _) => RegionPhase::Fenced,
        (RegionState::Fenced, false, Some(RegionPhase::FailingBack)) => RegionPhase::FailingBack,
        (RegionState::Fenced, false, _) => RegionPhase::FailedOver,
        (
            RegionState::Active,
            _,
            Some(p @ (RegionPhase::FailingOver | RegionPhase::FailedClosed)),
        ) => p,
        (RegionState::Active, _, _) => RegionPhase::Active,
    }
}

/// Whether the region's rows stay available when the whole region is lost: only with survival
/// goal `Region` applied. Failover moves who serves the members, never their data.
fn survives_region_loss(
    r: &LoyaltyRegion,
    placement: Option<&PlacementStatus>,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Condition {
    let applied = placement.and_then(|p| p.applied.as_ref());
    let (ok, reason, message) = match applied.map(|a| a.survival_goal) {
        Some(SurvivalGoal::Region) => (
            true,
            "SurvivalGoalRegion",
            "replicas span the residency group's regions: losing this region loses no committed write and its members can be served from another region of the group".to_owned(),
        ),
        Some(SurvivalGoal::Zone) => (
            false,
            "SurvivalGoalZone",
            format!(
                "replicas stay in {}: if the region's database nodes are lost, its members' rows are unavailable until they return, whichever region serves them",
                r.spec.database.locality
            ),
        ),
        None => (false, "NotPlaced", "placement not applied yet".to_owned()),
    };
    Condition::from_bool(
        conditions::SURVIVES_REGION_LOSS,
        ok,
        reason,
        message,
        generation,
        now,
    )
}

async fn cleanup(r: &LoyaltyRegion, ctx: &Context) -> Result<Action> {
    ctx.db
        .serializable(
            "fence_region",
            &FenceRegion {
                name: r.spec.region.to_string(),
            },
        )
        .await?;
    workloads::delete(r, ctx).await?;
    ctx.event(
        r,
        EventType::Normal,
        "Fenced",
        "deleted: country homes and placement record removed, row fenced, workloads deleted".into(),
    )
    .await;
    Ok(Action::await_change())
}
