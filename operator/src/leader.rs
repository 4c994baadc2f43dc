//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go does it.
//!
//! A candidate takes the Lease when nobody holds it or when its holder has not renewed it for
//! `leaseDurationSeconds`, measured on this process's monotonic clock from the moment it last
//! saw the Lease change (so clock skew between pods does not matter). The leader renews every
//! `renew_interval` with a `replace` guarded by the Lease's resourceVersion: a concurrent
//! writer makes the replace fail with 409 instead of both believing they lead. A leader that
//! cannot renew within `renew_deadline`, or finds another holder, steps down: its controllers
//! are stopped. On shutdown the leader releases the Lease so a standby takes over at once.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};

use crate::Result;
use crate::controller::{ShutdownSignal, shutdown_pair};
use crate::metrics::Metrics;

/// Timings of the election. `renew_interval < renew_deadline < lease_duration`.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This candidate's identity: the pod name.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub renew_interval: Duration,
    /// How often a candidate tries to acquire.
    pub retry_interval: Duration,
}

impl LeaseConfig {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            renew_interval: Duration::from_secs(2),
            retry_interval: Duration::from_secs(2),
        }
    }
}

/// What a candidate last saw of the Lease, and when it saw it change.
struct Observation {
    resource_version: String,
    since: Instant,
}

/// Whether an attempt made this process the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Holding,
    HeldByOther,
}

/// One election candidate.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    metrics: Metrics,
    observed: Option<Observation>,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX).max(1)
}

impl LeaderElector {
    pub fn new(client: Client, config: LeaseConfig, metrics: Metrics) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            metrics,
            observed: None,
        }
    }

    /// Takes or renews the Lease if this candidate may.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt> {
        let me = self.config.identity.clone();
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(seconds(self.config.lease_duration)),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(Attempt::Holding)
                }
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldByOther),
                Err(e) => Err(e.into()),
            };
        };
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let duration = spec
            .lease_duration_seconds
            .map_or(self.config.lease_duration, |s| {
                Duration::from_secs(u64::try_from(s).unwrap_or(0))
            });
        let since = self
            .observed
            .as_ref()
            .map_or_else(Instant::now, |o| o.since);
        if holder.as_deref().is_some_and(|h| h != me) && since.elapsed() < duration {
            return Ok(Attempt::HeldByOther);
        }
        let changing_hands = holder.as_deref() != Some(me.as_str());
        let mut next = lease.clone();
        next.spec = Some(LeaseSpec {
            holder_identity: Some(me),
            lease_duration_seconds: Some(seconds(self.config.lease_duration)),
            renew_time: Some(now()),
            acquire_time: if changing_hands {
                Some(now())
            } else {
                spec.acquire_time.clone()
            },
            lease_transitions: Some(
                spec.lease_transitions.unwrap_or(0) + i32::from(changing_hands),
            ),
            ..spec
        });
        // `next` carries the resourceVersion we read: a concurrent change makes this a 409.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &next)
            .await
        {
            Ok(replaced) => {
                self.observe(&replaced);
                Ok(Attempt::Holding)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldByOther),
            Err(e) => Err(e.into()),
        }
    }

    fn observe(&mut self, lease: &Lease) {
        let rv = lease.resource_version().unwrap_or_default();
        if self
            .observed
            .as_ref()
            .is_none_or(|o| o.resource_version != rv)
        {
            self.observed = Some(Observation {
                resource_version: rv,
                since: Instant::now(),
            });
        }
    }

    /// Waits until this candidate holds the Lease.
    async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Holding) => return,
                Ok(Attempt::HeldByOther) => {}
                Err(e) => tracing::warn!(error = %e, "leader election: acquiring failed"),
            }
            tokio::time::sleep(self.config.retry_interval).await;
        }
    }

    /// Renews until the Lease is lost; returns when it is.
    async fn keep(&mut self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.renew_interval).await;
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Holding) => last_renewed = Instant::now(),
                Ok(Attempt::HeldByOther) => {
                    tracing::warn!("leader election: another instance holds the lease");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "leader election: renewing failed"),
            }
            if last_renewed.elapsed() >= self.config.renew_deadline {
                tracing::warn!("leader election: renew deadline passed");
                return;
            }
        }
    }

    /// Gives the Lease up so that a standby takes over without waiting for it to expire.
    async fn release(&mut self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }

    fn set_leading(&self, leading: bool) {
        self.metrics.is_leader.set(i64::from(leading));
        let direction = if leading { "gained" } else { "lost" };
        self.metrics
            .leader_transitions
            .with_label_values(&[direction])
            .inc();
        tracing::info!(identity = %self.config.identity, leading, "leadership changed");
    }

    /// Campaigns for the Lease until `shutdown`; while leading, runs `lead(stop)` and resolves
    /// `stop` when leadership is lost (then waits for `lead` to finish and campaigns again).
    pub async fn run<F, Fut>(mut self, shutdown: ShutdownSignal, lead: F)
    where
        F: Fn(ShutdownSignal) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            tokio::select! {
                () = shutdown.clone() => return,
                () = self.acquire() => {}
            }
            self.set_leading(true);
            let (stop, stopped) = shutdown_pair();
            let work = lead(stopped);
            tokio::pin!(work);
            // Which of the three ended the leading phase.
            let (work_done, shutting_down) = tokio::select! {
                () = &mut work => (true, false),
                () = self.keep() => (false, false),
                () = shutdown.clone() => (false, true),
            };
            let _ = stop.send(());
            if !work_done {
                work.await;
            }
            self.set_leading(false);
            if shutting_down {
                if let Err(e) = self.release().await {
                    tracing::warn!(error = %e, "leader election: releasing the lease failed");
                }
                return;
            }
        }
    }
}
