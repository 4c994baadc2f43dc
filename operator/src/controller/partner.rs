//! The Partner controller: resolves the credentials Secret, publishes the partner's row
//! (credentials as a sha256 fingerprint, retry policy and bonus rules as JSON), and reports
//! status. A missing Secret or key puts the partner in phase Error and retries with backoff.
//! Its webhook subscriptions are published next to it (each signing secret as a fingerprint),
//! and its status carries the delivery figures the service's dispatcher leaves in the database.
//! The Partner that owns its code also has its secrets' values projected into the region
//! namespace ([`projection`]), re-read every [`Settings::partner_resync`](super::Settings).
//! Deleting a Partner withdraws them and deletes its row: ledger entries keep the partner code
//! as text, and each entry's details already record the bonus applied.

pub mod credentials;
pub mod projection;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use loyalty_crds::common::{Condition, set_condition};
use loyalty_crds::describe_issues;
use loyalty_crds::partner::{DeliveryStatus, Partner, PartnerPhase, PartnerStatus, conditions};

use super::{Context, apply_status, back_off, object_key};
use crate::db::{
    DeletePartner, DeleteSubscriptions, PartnerOwner, PartnerPublished, PartnerRow, PublishPartner,
    PublishSubscriptions, ReadDeliveryCounts, SubscriptionRow,
};
use crate::{Error, Result};
pub use credentials::fingerprint;
use credentials::{Credentials, Unresolved};

/// The finalizer that keeps a Partner until its row is deleted.
pub const FINALIZER: &str = "loyalty.travel.example/partner-cleanup";
const CONTROLLER: &str = "partner";
/// A ready partner is re-checked this often by default ([`Settings::partner_resync`](super::Settings)),
/// which picks up rotated credentials.
pub const RESYNC: Duration = Duration::from_secs(300);
/// A partner with webhooks is re-read this often, so its status's delivery figures stay fresh.
pub const DELIVERY_RESYNC: Duration = Duration::from_secs(30);

/// Reconciles one Partner.
#[tracing::instrument(skip_all, fields(partner = %obj.name_any(), namespace = obj.namespace()))]
pub async fn reconcile(obj: Arc<Partner>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started(CONTROLLER);
    let namespace = obj
        .namespace()
        .ok_or(Error::Malformed("a Partner without a namespace"))?;
    let api: Api<Partner> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = object_key(CONTROLLER, &*obj);
    let action = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(p) => apply(&p, &api, &ctx).await,
            FinalizerEvent::Cleanup(p) => cleanup(&p, &ctx).await,
        }
    })
    .await?;
    ctx.backoff.reset(&key);
    Ok(action)
}

/// Retries a failed reconcile with per-object exponential backoff.
pub fn error_policy(obj: Arc<Partner>, error: &Error, ctx: Arc<Context>) -> Action {
    back_off(CONTROLLER, &*obj, error, &ctx)
}

/// Why a partner is not published: the condition's reason and message, and whether the
/// error policy should retry (an unresolved Secret may appear).
type NotPublished = (&'static str, String, bool);

/// Publishes the partner's row once its credentials resolve; records `CredentialsResolved`.
async fn publish(
    p: &Partner,
    ctx: &Context,
    creds: &Credentials<'_>,
    status: &mut PartnerStatus,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(), NotPublished>> {
    let (namespace, generation) = (p.namespace().unwrap_or_default(), p.metadata.generation);
    let resolved = match &creds.inbound {
        Ok(value) => webhook_rows(creds).map(|rows| (value.fingerprint(), rows)),
        Err(why) => Err(why.clone()),
    };
    let (ok, reason, message) = match &resolved {
        Err(why) => (false, why.reason, why.message.clone()),
        Ok(_) => (true, "Resolved", String::new()),
    };
    let c = Condition::from_bool(
        conditions::CREDENTIALS_RESOLVED,
        ok,
        reason,
        message.clone(),
        generation,
        now,
    );
    set_condition(&mut status.conditions, c);
    let (credentials_sha256, subscriptions) = match resolved {
        Err(_) => return Ok(Err((reason, message, true))),
        Ok(resolved) => resolved,
    };
    status.credentials_resolved = true;
    let row = PartnerRow {
        code: p.spec.partner_code.to_string(),
        namespace,
        name: p.name_any(),
        display_name: p.spec.display_name.clone(),
        endpoint: p.spec.endpoint.clone(),
        credentials_sha256,
        retry_policy: serde_json::to_value(&p.spec.retry_policy)?,
        bonus_rules: serde_json::to_value(&p.spec.bonus_rules)?,
        enabled: p.spec.enabled,
        generation: generation.unwrap_or_default(),
    };
    Ok(
        match ctx
            .db
            .serializable("publish_partner", &PublishPartner(row))
            .await?
        {
            PartnerPublished::CodeTaken { namespace, name } => Err((
                "PartnerCodeTaken",
                format!(
                    "partner code {} belongs to Partner {namespace}/{name}",
                    p.spec.partner_code
                ),
                false,
            )),
            PartnerPublished::Written | PartnerPublished::Unchanged => {
                let work = PublishSubscriptions {
                    partner_code: p.spec.partner_code.to_string(),
                    generation: generation.unwrap_or_default(),
                    rows: subscriptions,
                };
                ctx.db.serializable("publish_subscriptions", &work).await?;
                Ok(())
            }
        },
    )
}

/// The Partner's webhook subscriptions with their signing secrets' fingerprints, or why a
/// secret does not resolve (named after the webhook).
fn webhook_rows(creds: &Credentials<'_>) -> std::result::Result<Vec<SubscriptionRow>, Unresolved> {
    let mut rows = Vec::with_capacity(creds.webhooks.len());
    for (hook, secret) in &creds.webhooks {
        let secret_sha256 = match secret {
            Ok(value) => value.fingerprint(),
            Err(why) => {
                return Err(Unresolved {
                    reason: why.reason,
                    message: format!("webhook {}: {}", hook.name, why.message),
                });
            }
        };
        let names: Vec<String> = hook.event_types.iter().map(|t| t.name()).collect();
        rows.push(SubscriptionRow {
            name: hook.name.clone(),
            url: hook.url.clone(),
            event_types: serde_json::Value::from(names),
            secret_sha256,
        });
    }
    Ok(rows)
}

/// Whether the database names `p` as the owner of its partner code: only the owner's
/// secrets are projected (or withdrawn).
async fn owns_code(p: &Partner, ctx: &Context) -> Result<bool> {
    let work = PartnerOwner {
        code: p.spec.partner_code.to_string(),
    };
    let owner = ctx.db.serializable("read_partner_owner", &work).await?;
    Ok(owner == Some((p.namespace().unwrap_or_default(), p.name_any())))
}

/// Reads the Partner's Secrets, publishes it, and projects its secrets when it owns its code
/// (also when a Secret no longer resolves: that key then goes).
async fn publish_and_project(
    p: &Partner,
    ctx: &Context,
    status: &mut PartnerStatus,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(), NotPublished>> {
    let creds = credentials::read(p, ctx, &p.namespace().unwrap_or_default()).await?;
    let outcome = publish(p, ctx, &creds, status, now).await?;
    if owns_code(p, ctx).await? {
        let keys = projection::keys(&p.spec.partner_code, &creds);
        projection::project(&p.spec.partner_code, keys, ctx).await?;
    }
    Ok(outcome)
}

/// The partner's delivery figures, for its status (and `kubectl get` columns).
async fn delivery_status(p: &Partner, ctx: &Context) -> Result<DeliveryStatus> {
    let work = ReadDeliveryCounts {
        partner_code: p.spec.partner_code.to_string(),
    };
    let counts = ctx.db.serializable("read_delivery_counts", &work).await?;
    Ok(DeliveryStatus {
        pending: counts.pending,
        dead_letters: counts.dead_letters,
        last_delivered_at: counts.last_delivered_at.map(|t| t.to_rfc3339()),
    })
}

async fn apply(p: &Partner, api: &Api<Partner>, ctx: &Context) -> Result<Action> {
    let now = Utc::now();
    let generation = p.metadata.generation;
    let old = p.status.clone().unwrap_or_default();
    let mut status = PartnerStatus {
        conditions: old.conditions.clone(),
        observed_generation: generation,
        ..PartnerStatus::default()
    };
    let outcome = match p.spec.validate() {
        Err(issues) => Err(("ValidationFailed", describe_issues(&issues), false)),
        Ok(()) => publish_and_project(p, ctx, &mut status, now).await?,
    };
    let (phase, ready, reason, message) = match &outcome {
        Ok(()) => (PartnerPhase::Ready, true, "Published", String::new()),
        Err((reason, message, _)) => (PartnerPhase::Error, false, *reason, message.clone()),
    };
    status.phase = Some(phase);
    status.deliveries = Some(delivery_status(p, ctx).await?);
    let c = Condition::from_bool(conditions::READY, ready, reason, message, generation, now);
    set_condition(&mut status.conditions, c);
    if status != old {
        apply_status(api, &p.name_any(), &status).await?;
    }
    if status.phase != old.phase {
        let (type_, reason, note) = match &outcome {
            Ok(()) => (
                EventType::Normal,
                "Ready",
                format!("partner {} published", p.spec.partner_code),
            ),
            Err((reason, message, _)) => (EventType::Warning, *reason, message.clone()),
        };
        ctx.event(p, type_, reason, note).await;
    }
    match outcome {
        // The error policy's per-object backoff retries an unresolved Secret: 1 s, 2 s, … 5 min.
        Err((_, message, true)) => Err(Error::CredentialsUnresolved(message)),
        _ if p.spec.webhooks.is_empty() => Ok(Action::requeue(ctx.settings.partner_resync)),
        _ => Ok(Action::requeue(
            ctx.settings.partner_resync.min(DELIVERY_RESYNC),
        )),
    }
}

async fn cleanup(p: &Partner, ctx: &Context) -> Result<Action> {
    // Withdrawn before the row goes, so a retry after a failure still finds this Partner the
    // owner; a Partner refused for a taken code leaves the owner's keys alone.
    if owns_code(p, ctx).await? {
        projection::withdraw(&p.spec.partner_code, ctx).await?;
    }
    let work = DeletePartner {
        namespace: p.namespace().unwrap_or_default(),
        name: p.name_any(),
    };
    let hooks = DeleteSubscriptions {
        partner_code: p.spec.partner_code.to_string(),
    };
    ctx.db.serializable("delete_subscriptions", &hooks).await?;
    if ctx.db.serializable("delete_partner", &work).await? {
        ctx.event(
            p,
            EventType::Normal,
            "Deleted",
            format!("partner {} removed from the database", p.spec.partner_code),
        )
        .await;
    }
    Ok(Action::await_change())
}
