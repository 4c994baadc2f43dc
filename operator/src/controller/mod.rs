//! The three controllers and what they share: the [`Context`], per-object exponential
//! backoff, status written with server-side apply, and Events.
//!
//! Each controller lives in its own module with its reconcile and error policy. [`run`] starts
//! all three and returns when `shutdown` resolves and the running reconciles have finished.

pub mod campaign;
pub mod partner;
pub mod region;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::{FutureExt, Shared};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use loyalty_crds::campaign::Campaign;
use loyalty_crds::partner::Partner;
use loyalty_crds::region::LoyaltyRegion;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::Db;
use crate::metrics::Metrics;
use crate::placement::PlacementBackend;
use crate::{Error, Result};

/// The field manager of every server-side apply, and the Events' reporting controller.
pub const MANAGER: &str = "loyalty-operator";

/// The first retry of a failed reconcile waits this long; each further failure doubles it.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// No failed reconcile waits longer than this before it is retried.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
const _: () = assert!(BACKOFF_INITIAL.as_secs() < BACKOFF_MAX.as_secs());

/// Where the operator runs the regions' service workloads, and what they are configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Namespace of the per-region Deployments, Services and PodDisruptionBudgets.
    pub service_namespace: String,
    /// Secret (in `service_namespace`, key `url`) with the service's database URL.
    pub service_database_secret: String,
    /// Secret (in `service_namespace`) with the service's other secrets: key
    /// `leaderboard-name-key` (see `region::service_config`).
    pub service_secret: String,
    /// This instance's name in Events (the pod name).
    pub instance: Option<String>,
    /// The longest a region's `/readyz` probe may take (capped by its probe interval).
    pub probe_timeout: Duration,
    /// How often a ready Partner is re-checked: the bound on how long a rotated or deleted
    /// source Secret takes to reach the database's fingerprint and the projected Secret.
    pub partner_resync: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            service_namespace: "loyalty-system".into(),
            service_database_secret: "loyalty-service-database".into(),
            service_secret: "loyalty-service".into(),
            instance: None,
            probe_timeout: crate::failover::DEFAULT_PROBE_TIMEOUT,
            partner_resync: partner::RESYNC,
        }
    }
}

/// Everything a reconcile needs.
pub struct Context {
    pub client: Client,
    pub db: Db,
    pub placement: Arc<dyn PlacementBackend>,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub backoff: Backoff,
    pub settings: Settings,
    /// Every Campaign, for the overlap check.
    pub campaigns: Store<Campaign>,
    /// Every LoyaltyRegion, for the database plan and country ownership.
    pub regions: Store<LoyaltyRegion>,
    /// One lock per LoyaltyRegion, held while its status is read and written (see
    /// [`Context::status_lock`]).
    status_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Held while the projected Partner secrets are read and written, so that two Partners'
    /// reconciles do not race on the one Secret (see `partner::projection`).
    pub(crate) projection_lock: tokio::sync::Mutex<()>,
}

impl Context {
    /// A context over `client` and `db`; the stores come from the controllers (or, in tests,
    /// from `kube::runtime::reflector::store()`).
    pub fn new(
        client: Client,
        db: Db,
        placement: Arc<dyn PlacementBackend>,
        metrics: Metrics,
        settings: Settings,
        campaigns: Store<Campaign>,
        regions: Store<LoyaltyRegion>,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: settings.instance.clone(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            db,
            placement,
            metrics,
            backoff: Backoff::default(),
            settings,
            campaigns,
            regions,
            status_locks: Mutex::default(),
            projection_lock: tokio::sync::Mutex::default(),
        }
    }

    /// Serialises the two writers of a LoyaltyRegion's status (the region controller and
    /// failover) in this process: each reads the object afresh and writes its whole status
    /// while holding the lock, so neither writes back a field the other just changed.
    pub async fn status_lock(&self, region: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .status_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(region.to_owned())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Publishes an Event about `obj`. Events are best effort: a failure is logged, never
    /// fails the reconcile.
    pub async fn event<K>(&self, obj: &K, type_: EventType, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish event");
        }
    }
}

/// Per-object exponential backoff for the error policies: 1 s, 2 s, 4 s … up to 5 min,
/// reset by the next successful reconcile of the object.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Counts a failure of `key` and returns how long to wait before retrying it.
    pub fn next_delay(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_owned()).or_insert(0);
        let delay = BACKOFF_INITIAL
            .saturating_mul(1u32.checked_shl(*n).unwrap_or(u32::MAX))
            .min(BACKOFF_MAX);
        *n = n.saturating_add(1);
        delay
    }

    /// Forgets the failures of `key`.
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// The backoff key of an object: `controller/namespace/name`.
pub fn object_key<K: Resource>(controller: &str, obj: &K) -> String {
    format!(
        "{controller}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// The shared part of every error policy: count the failure, back off per object.
pub(crate) fn back_off<K: Resource>(
    controller: &'static str,
    obj: &K,
    error: &Error,
    ctx: &Context,
) -> Action {
    ctx.metrics.reconcile_failed(controller, error);
    let delay = ctx.backoff.next_delay(&object_key(controller, obj));
    tracing::warn!(controller, object = %obj.name_any(), error = %error, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// Writes `status` with server-side apply under [`MANAGER`], forcing ownership of its fields.
pub(crate) async fn apply_status<K>(api: &Api<K>, name: &str, status: &impl Serialize) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// `(none) → Active`: a phase transition as people read it in an Event.
pub(crate) fn transition<P: std::fmt::Debug>(from: Option<P>, to: Option<P>) -> String {
    let name = |p: Option<P>| p.map_or("(none)".to_owned(), |p| format!("{p:?}"));
    format!("{} → {}", name(from), name(to))
}

/// A requeue after `delay`, never shorter than a second.
pub(crate) fn requeue_after(delay: chrono::TimeDelta, max: Duration) -> Action {
    let delay = delay.to_std().unwrap_or(Duration::ZERO);
    Action::requeue(delay.clamp(Duration::from_secs(1), max))
}

/// Resolves when the operator should stop its controllers; cheap to clone.
pub type ShutdownSignal = Shared<
    futures::future::Map<
        futures::channel::oneshot::Receiver<()>,
        fn(Result<(), futures::channel::oneshot::Canceled>),
    >,
>;

/// A signal and its trigger: sending (or dropping the sender) resolves every clone.
pub fn shutdown_pair() -> (futures::channel::oneshot::Sender<()>, ShutdownSignal) {
    let (tx, rx) = futures::channel::oneshot::channel();
    let ignore: fn(Result<(), futures::channel::oneshot::Canceled>) = |_| ();
    (tx, rx.map(ignore).shared())
}

/// The controllers' dependencies that do not come from the controllers themselves.
#[derive(Clone)]
pub struct Dependencies {
    pub client: Client,
    pub db: Db,
    pub placement: Arc<dyn PlacementBackend>,
    pub metrics: Metrics,
    pub settings: Settings,
}

/// Runs the Campaign, Partner and LoyaltyRegion controllers until `shutdown` resolves.
pub async fn run(deps: Dependencies, shutdown: ShutdownSignal) {
    let client = deps.client.clone();
    let wc = || watcher::Config::default().any_semantic();
    let ns = deps.settings.service_namespace.clone();

    let campaigns = Api::<Campaign>::all(client.clone());
    let campaign_ctrl = Controller::new(campaigns.clone(), wc());
    let campaign_store = campaign_ctrl.store();
    let peers = campaign_store.clone();
    let campaign_ctrl = campaign_ctrl
        .watches(campaigns, wc(), move |c: Campaign| {
            campaign::peers_of(&peers, &c)
        })
        .graceful_shutdown_on(shutdown.clone());

    let regions = Api::<LoyaltyRegion>::all(client.clone());
    let region_ctrl = Controller::new(regions.clone(), wc());
    let region_store = region_ctrl.store();
    let all_regions = region_store.clone();
    let region_ctrl = region_ctrl
        .owns(Api::<Deployment>::namespaced(client.clone(), &ns), wc())
        .owns(Api::<Service>::namespaced(client.clone(), &ns), wc())
        .owns(
            Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns),
            wc(),
        )
        // A change to one region can change every other's plan (super regions, countries).
        .watches(regions, wc(), move |_: LoyaltyRegion| {
            all_regions
                .state()
                .iter()
                .map(|r| ObjectRef::from_obj(&**r))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.clone());

    let partner_ctrl = Controller::new(Api::<Partner>::all(client.clone()), wc())
        .graceful_shutdown_on(shutdown.clone());

    let ctx = Arc::new(Context::new(
        deps.client,
        deps.db,
        deps.placement,
        deps.metrics,
        deps.settings,
        campaign_store,
        region_store,
    ));
    tracing::info!("controllers starting");
    futures::join!(
        drain(
            "campaign",
            campaign_ctrl.run(campaign::reconcile, campaign::error_policy, ctx.clone())
        ),
        drain(
            "region",
            region_ctrl.run(region::reconcile, region::error_policy, ctx.clone())
        ),
        drain(
            "partner",
            partner_ctrl.run(partner::reconcile, partner::error_policy, ctx.clone())
        ),
        crate::failover::run(ctx, shutdown),
    );
    tracing::info!("controllers stopped");
}

/// Consumes a controller's result stream, logging what the error policies do not see.
fn drain<S, T, E>(controller: &'static str, stream: S) -> impl Future<Output = ()>
where
    S: futures::Stream<Item = Result<T, E>>,
    E: std::fmt::Display,
{
    stream.for_each(move |result| async move {
        if let Err(e) = result {
            tracing::debug!(controller, error = %e, "controller event");
        }
    })
}
