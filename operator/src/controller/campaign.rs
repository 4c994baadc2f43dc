//! The Campaign controller: validates each campaign, publishes valid ones into `campaigns`
//! (bumping `config_versions('campaigns')` in the same transaction), reports the phase, and
//! requeues at the campaign's next transition.
//!
//! An invalid campaign changes nothing in the database, except that a campaign which was
//! published before and has become invalid is withdrawn (`active = false`): a spec that no
//! longer validates must stop granting points at once. Deleting a campaign withdraws it too,
//! before the finalizer is removed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use loyalty_crds::campaign::{
    Campaign, CampaignPhase, CampaignStatus, StackingMode, conditions, exclusive_conflict,
};
use loyalty_crds::common::{Condition, set_condition};
use loyalty_crds::describe_issues;

use super::{Context, apply_status, back_off, object_key, requeue_after, transition};
use crate::db::{PublishCampaign, WithdrawCampaign};
use crate::{Error, Result};

/// The finalizer that keeps a Campaign until its row is withdrawn.
pub const FINALIZER: &str = "loyalty.travel.example/campaign-cleanup";
const CONTROLLER: &str = "campaign";
/// A campaign is re-checked at least this often, even with no transition ahead.
pub const MAX_REQUEUE: Duration = Duration::from_secs(3600);

/// Reconciles one Campaign.
#[tracing::instrument(skip_all, fields(campaign = %obj.name_any(), namespace = obj.namespace()))]
pub async fn reconcile(obj: Arc<Campaign>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started(CONTROLLER);
    let namespace = obj
        .namespace()
        .ok_or(Error::Malformed("a Campaign without a namespace"))?;
    let api: Api<Campaign> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = object_key(CONTROLLER, &*obj);
    let action = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(c) => apply(&c, &api, &ctx, Utc::now()).await,
            FinalizerEvent::Cleanup(c) => cleanup(&c, &ctx).await,
        }
    })
    .await?;
    ctx.backoff.reset(&key);
    Ok(action)
}

/// Retries a failed reconcile with per-object exponential backoff.
pub fn error_policy(obj: Arc<Campaign>, error: &Error, ctx: Arc<Context>) -> Action {
    back_off(CONTROLLER, &*obj, error, &ctx)
}

/// The phase of a valid campaign at `now`.
pub fn phase_at(c: &Campaign, now: DateTime<Utc>) -> CampaignPhase {
    if !c.spec.enabled {
        CampaignPhase::Disabled
    } else if c.spec.is_active_at(now) {
        CampaignPhase::Active
    } else if now >= c.spec.window.end {
        CampaignPhase::Ended
    } else {
        CampaignPhase::Scheduled
    }
}

/// The Exclusive campaigns whose verdict a change to `changed` may alter.
pub fn peers_of(store: &Store<Campaign>, changed: &Campaign) -> Vec<ObjectRef<Campaign>> {
    store
        .state()
        .iter()
        .filter(|c| c.spec.stacking.mode == StackingMode::Exclusive && c.uid() != changed.uid())
        .map(|c| ObjectRef::from_obj(&**c))
        .collect()
}

/// Validates, publishes (or withdraws), and writes status; returns when to look again.
/// Why the campaign cannot be published, if it cannot: an invalid spec, or an Exclusive
/// overlap with another campaign.
fn refusal(c: &Campaign, ctx: &Context) -> Option<(&'static str, String)> {
    match c.spec.validate() {
        Err(issues) => Some(("ValidationFailed", describe_issues(&issues))),
        Ok(()) => {
            let all = ctx.campaigns.state();
            exclusive_conflict(c, all.iter().map(|o| &**o))
                .map(|conflict| ("ExclusiveOverlap", conflict.to_string()))
        }
    }
}

/// Sets `Valid`, `Published` and `Ready`, each as `(status, reason, message)`.
fn set_conditions(
    status: &mut CampaignStatus,
    [valid, published, ready]: [(bool, &str, String); 3],
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    for (type_, (ok, reason, message)) in [
        (conditions::VALID, valid),
        (conditions::PUBLISHED, published),
        (conditions::READY, ready),
    ] {
        let c = Condition::from_bool(type_, ok, reason, message, generation, now);
        set_condition(&mut status.conditions, c);
    }
}

/// An invalid campaign: its row is withdrawn and the status says why.
async fn withdraw(
    c: &Campaign,
    ctx: &Context,
    status: &mut CampaignStatus,
    old: &CampaignStatus,
    (why, reason): (&'static str, String),
    now: DateTime<Utc>,
) -> Result<Action> {
    let work = WithdrawCampaign {
        namespace: c.namespace().unwrap_or_default(),
        name: c.name_any(),
    };
    let withdrawn = ctx.db.serializable("withdraw_campaign", &work).await?;
    status.phase = Some(CampaignPhase::Invalid);
    status.db_version = withdrawn.or(old.db_version);
    let published = if withdrawn.is_some() {
        "Withdrawn"
    } else {
        "NotPublished"
    };
    let conditions = [
        (false, why, reason.clone()),
        (false, published, "the campaign is invalid".into()),
        (false, why, reason.clone()),
    ];
    set_conditions(status, conditions, c.metadata.generation, now);
    status.reason = Some(reason);
    Ok(Action::requeue(MAX_REQUEUE))
}

/// A valid campaign: its spec is published and the status names its phase until when.
async fn publish(
    c: &Campaign,
    ctx: &Context,
    status: &mut CampaignStatus,
    now: DateTime<Utc>,
) -> Result<Action> {
    let generation = c.metadata.generation;
    let work = PublishCampaign {
        namespace: c.namespace().unwrap_or_default(),
        name: c.name_any(),
        spec: serde_json::to_value(&c.spec)?,
        generation: generation.unwrap_or_default(),
    };
    let version = ctx.db.serializable("publish_campaign", &work).await?;
    let phase = phase_at(c, now);
    status.phase = Some(phase);
    status.db_version = Some(version);
    status.next_transition = c.spec.next_transition_after(now);
    status.reason = Some(match (phase, status.next_transition) {
        (CampaignPhase::Disabled, _) => "spec.enabled is false".to_owned(),
        (CampaignPhase::Ended, _) => "the window is over".to_owned(),
        (_, Some(t)) => format!("{phase:?} until {}", t.to_rfc3339()),
        (_, None) => format!("{phase:?}"),
    });
    let conditions = [
        (true, "Validated", String::new()),
        (true, "Published", format!("database version {version}")),
        (true, "Published", format!("{phase:?}")),
    ];
    set_conditions(status, conditions, generation, now);
    Ok(match status.next_transition {
        Some(t) => requeue_after(t - now, MAX_REQUEUE),
        None => Action::requeue(MAX_REQUEUE),
    })
}

/// An Event for a phase change: a warning for Invalid, the transition otherwise.
async fn announce(
    c: &Campaign,
    ctx: &Context,
    old: Option<CampaignPhase>,
    status: &CampaignStatus,
) {
    if status.phase == old {
        return;
    }
    let reason_text = status.reason.clone().unwrap_or_default();
    let (type_, note) = match status.phase {
        Some(CampaignPhase::Invalid) => (EventType::Warning, reason_text),
        _ => (
            EventType::Normal,
            format!("{}: {reason_text}", transition(old, status.phase)),
        ),
    };
    let reason = status
        .phase
        .map_or("Unknown".to_owned(), |p| format!("{p:?}"));
    ctx.event(c, type_, &reason, note).await;
}

pub async fn apply(
    c: &Campaign,
    api: &Api<Campaign>,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<Action> {
    let old = c.status.clone().unwrap_or_default();
    let mut status = CampaignStatus {
        conditions: old.conditions.clone(),
        observed_generation: c.metadata.generation,
        ..CampaignStatus::default()
    };
    let action = match refusal(c, ctx) {
        Some(refused) => withdraw(c, ctx, &mut status, &old, refused, now).await?,
        None => publish(c, ctx, &mut status, now).await?,
    };
    if status != old {
        apply_status(api, &c.name_any(), &status).await?;
    }
    announce(c, ctx, old.phase, &status).await;
    Ok(action)
}

/// The campaign is being deleted: withdraw its row before the finalizer goes.
async fn cleanup(c: &Campaign, ctx: &Context) -> Result<Action> {
    let work = WithdrawCampaign {
        namespace: c.namespace().unwrap_or_default(),
        name: c.name_any(),
    };
    if let Some(version) = ctx.db.serializable("withdraw_campaign", &work).await? {
        ctx.event(
            c,
            EventType::Normal,
            "Withdrawn",
            format!("deleted; withdrawn at database version {version}"),
        )
        .await;
    }
    Ok(Action::await_change())
}
