//! The Partner controller: resolves the credentials Secret, publishes the partner's row
//! (credentials as a sha256 fingerprint, retry policy and bonus rules as JSON), and reports
//! status. A missing Secret or key puts the partner in phase Error and retries with backoff.
//! Deleting a Partner deletes its row: ledger entries keep the partner code as text, and
//! each entry's details already record the bonus applied.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use loyalty_crds::common::{Condition, set_condition};
use loyalty_crds::describe_issues;
use loyalty_crds::partner::{Partner, PartnerPhase, PartnerStatus, conditions};
use sha2::{Digest, Sha256};

use super::{Context, apply_status, back_off, object_key};
use crate::db::{DeletePartner, PartnerPublished, PartnerRow, PublishPartner};
use crate::{Error, Result};

/// The finalizer that keeps a Partner until its row is deleted.
pub const FINALIZER: &str = "loyalty.travel.example/partner-cleanup";
const CONTROLLER: &str = "partner";
/// A ready partner is re-checked this often, which picks up rotated credentials.
pub const RESYNC: Duration = Duration::from_secs(300);

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

/// Hex sha256 of a credential.
pub fn fingerprint(value: &[u8]) -> String {
    format!("{:x}", Sha256::digest(value))
}

/// The credential's bytes, or why it cannot be had. The value never leaves this function
/// except as its fingerprint.
async fn resolve(
    p: &Partner,
    ctx: &Context,
    namespace: &str,
) -> Result<std::result::Result<String, (&'static str, String)>> {
    let r = &p.spec.credentials_secret_ref;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(secret) = secrets.get_opt(&r.name).await? else {
        return Ok(Err((
            "SecretNotFound",
            format!("Secret {namespace}/{} does not exist", r.name),
        )));
    };
    match secret.data.as_ref().and_then(|d| d.get(&r.key)) {
        Some(value) if !value.0.is_empty() => Ok(Ok(fingerprint(&value.0))),
        Some(_) => Ok(Err((
            "KeyEmpty",
            format!("key {} of Secret {namespace}/{} is empty", r.key, r.name),
        ))),
        None => Ok(Err((
            "KeyNotFound",
            format!("Secret {namespace}/{} has no key {}", r.name, r.key),
        ))),
    }
}

/// Why a partner is not published: the condition's reason and message, and whether the
/// error policy should retry (an unresolved Secret may appear).
type NotPublished = (&'static str, String, bool);

/// Publishes the partner's row once its credentials resolve; records `CredentialsResolved`.
async fn publish(
    p: &Partner,
    ctx: &Context,
    status: &mut PartnerStatus,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(), NotPublished>> {
    let (namespace, generation) = (p.namespace().unwrap_or_default(), p.metadata.generation);
    let resolved = resolve(p, ctx, &namespace).await?;
    let (ok, reason, message) = match &resolved {
        Err((reason, message)) => (false, *reason, message.clone()),
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
    let credentials_sha256 = match resolved {
        Err(_) => return Ok(Err((reason, message, true))),
        Ok(sha) => sha,
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
            PartnerPublished::Written | PartnerPublished::Unchanged => Ok(()),
        },
    )
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
        Ok(()) => publish(p, ctx, &mut status, now).await?,
    };
    let (phase, ready, reason, message) = match &outcome {
        Ok(()) => (PartnerPhase::Ready, true, "Published", String::new()),
        Err((reason, message, _)) => (PartnerPhase::Error, false, *reason, message.clone()),
    };
    status.phase = Some(phase);
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
        _ => Ok(Action::requeue(RESYNC)),
    }
}

async fn cleanup(p: &Partner, ctx: &Context) -> Result<Action> {
    let work = DeletePartner {
        namespace: p.namespace().unwrap_or_default(),
        name: p.name_any(),
    };
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
