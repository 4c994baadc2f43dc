//! Region failover: probe every region's service, fence a failed region towards a healthy one
//! of its residency group, fail it back once it has recovered, and honour manual fences and
//! switchovers. Runs beside the controllers, on the leader only.
//!
//! - [`probe`]: `GET {endpoint}/readyz` with a timeout;
//! - [`track`]: consecutive failures and successes, and streak starts kept in status;
//! - [`decide`]: the rules, a pure function of what the operator sees;
//! - [`act`]: carrying a plan out: the fence transaction, status, Events, the metric.
//!
//! Each round (every [`TICK`]) probes the regions whose `probeIntervalSeconds` has passed,
//! concurrently, reads every fence row in one transaction, decides, and acts. See
//! docs/failover.md and ADR 0010.

pub mod act;
pub mod decide;
pub mod probe;
pub mod track;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::FutureExt;
use kube::ResourceExt;
use loyalty_crds::region::{FENCE_ANNOTATION, LoyaltyRegion};

use crate::Result;
use crate::controller::{Context, ShutdownSignal};
use crate::db::{FenceRow, ReadFences};
use decide::{RegionView, decide};
use probe::Prober;
use track::Track;

/// How often the loop looks for regions due a probe.
pub const TICK: Duration = Duration::from_millis(200);
/// The longest a probe may take; never more than the region's probe interval.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_millis(800);
const _: () = assert!(TICK.as_millis() < DEFAULT_PROBE_TIMEOUT.as_millis());

/// Probes and failover decisions until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: ShutdownSignal) {
    let prober = Prober::new(ctx.settings.probe_timeout);
    let mut rounds = Rounds::default();
    tracing::info!(
        timeout_ms = ctx.settings.probe_timeout.as_millis() as u64,
        "failover prober starting"
    );
    loop {
        futures::select! {
            _ = shutdown.clone().fuse() => break,
            _ = tokio::time::sleep(TICK).fuse() => {}
        }
        if let Err(e) = rounds.round(&ctx, &prober).await {
            ctx.metrics.reconcile_failed("failover", &e);
            tracing::warn!(error = %e, "failover round failed");
        }
    }
    tracing::info!("failover prober stopped");
}

/// What the loop remembers between rounds.
#[derive(Default)]
struct Rounds {
    tracks: HashMap<String, Track>,
    next_probe: HashMap<String, Instant>,
}

impl Rounds {
    async fn round(&mut self, ctx: &Context, prober: &Prober) -> Result<()> {
        let regions = ctx.regions.state();
        let due: Vec<Arc<LoyaltyRegion>> = regions
            .iter()
            .filter(|r| {
                self.next_probe
                    .get(&r.name_any())
                    .is_none_or(|t| *t <= Instant::now())
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        // The next probe is due an interval after this one started, not after it finished:
        // a region that lets probes time out is still probed every interval.
        let started = Instant::now();
        let outcomes = futures::future::join_all(
            due.iter()
                .map(|r| async { (r.name_any(), prober.probe(&r.spec.endpoint).await) }),
        )
        .await;
        let now = Utc::now();
        for (region, (name, outcome)) in due.iter().zip(outcomes) {
            let interval =
                u64::try_from(region.spec.failover.probe_interval_seconds.max(1)).unwrap_or(1);
            self.next_probe
                .insert(name.clone(), started + Duration::from_secs(interval));
            let status = region.status.clone().unwrap_or_default();
            self.tracks
                .entry(name)
                .or_insert_with(|| Track::resume(status.failing_since, status.healthy_since))
                .observe(outcome, now);
        }
        self.forget_deleted(&regions);
        let rows = ctx.db.serializable("read_fences", &ReadFences).await?;
        let plans = {
            let views = views(&regions, &rows, &self.tracks);
            decide(&views, now)
        };
        tracing::debug!(?plans, probed = due.len(), "failover round");
        for region in regions.iter() {
            let name = region.name_any();
            let plan = plans.iter().find(|p| p.region() == name);
            let probed = due.iter().any(|d| d.name_any() == name);
            let row = rows.iter().find(|r| r.name == name);
            if let (true, Some(track), Some(row)) =
                (probed || plan.is_some(), self.tracks.get(&name), row)
            {
                act::carry_out(ctx, region, row, track, plan, now).await?;
            }
        }
        Ok(())
    }

    fn forget_deleted(&mut self, regions: &[Arc<LoyaltyRegion>]) {
        self.tracks
            .retain(|name, _| regions.iter().any(|r| r.name_any() == *name));
        self.next_probe
            .retain(|name, _| regions.iter().any(|r| r.name_any() == *name));
    }
}

fn views<'a>(
    regions: &'a [Arc<LoyaltyRegion>],
    rows: &'a [FenceRow],
    tracks: &'a HashMap<String, Track>,
) -> Vec<RegionView<'a>> {
    regions
        .iter()
        .filter_map(|r| {
            let track = tracks.get(r.metadata.name.as_deref()?)?;
            Some(RegionView {
                name: r.spec.region.as_str(),
                group: r.spec.residency_group.as_str(),
                policy: &r.spec.failover,
                deleting: r.metadata.deletion_timestamp.is_some(),
                fence_requested: r
                    .annotations()
                    .get(FENCE_ANNOTATION)
                    .is_some_and(|v| v == "true"),
                serve_from: r
                    .spec
                    .failover
                    .manual_override
                    .as_ref()
                    .map(|o| o.serve_from.as_str()),
                row: rows.iter().find(|row| row.name == r.spec.region.as_str()),
                track,
            })
        })
        .collect()
}
