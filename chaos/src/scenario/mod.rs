//! Named, seeded, reproducible scenarios: a fresh topology, members, the workload, a fault
//! script, then the checker. [`run`] plays one and returns its [`ScenarioResult`].

pub mod fencing;
pub mod measure;
pub mod script;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use measure::{RegionSeries, Timings};
pub use script::{Marker, Played};

use crate::checker::{self, CheckReport};
use crate::error::{Error, Result};
use crate::fence::{self, Transition};
use crate::members;
use crate::topology::{FailoverTimings, Topology, TopologyConfig};
use crate::workload::{Clock, History, Router, Workload, WorkloadConfig};

/// Workload before the fault.
pub const WARMUP_MS: u64 = 3_000;
/// Workload after the script's last step, by default (the smoke); `make chaos` runs longer.
pub const AFTERMATH_MS: u64 = 4_000;
/// Time given to resumed or healed processes to finish in-flight work before the check.
pub const SETTLE_MS: u64 = 1_500;
/// Bound of a whole scenario, set-up and check included, on top of its aftermath.
pub const SCENARIO_TIMEOUT_MS: u64 = 180_000;

/// Members enrolled per region by default.
pub const MEMBERS_PER_REGION: usize = 8;
/// Concurrent clients per region's members by default.
pub const CLIENTS_PER_REGION: usize = 3;
/// Operations started at most, across all clients, by default.
pub const MAX_OPS: u64 = 200_000;

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioName {
    /// SIGKILL eu-west-1's service; its members move to eu-central-1.
    KillRegion,
    /// SIGSTOP eu-west-1 past its failover, then SIGCONT: the zombie must commit nothing.
    PauseRegion,
    /// Black-hole the operator's probes of eu-west-1, which still reaches the database.
    PartitionFromOperator,
    /// Black-hole eu-west-1's database connections.
    PartitionFromDb,
    /// SIGKILL PostgreSQL mid-load and restart it.
    DbCrash,
    /// SIGKILL eu-west-1, then the operator leader before the failover; the standby fences.
    KillOperatorLeader,
    /// SIGKILL us-east-1, alone in its group: it fails closed, nobody moves.
    NoEligibleTarget,
    /// SIGKILL eu-west-1, fail over, restart it, fail back.
    FailBack,
}

impl ScenarioName {
    pub const ALL: [ScenarioName; 8] = [
        Self::KillRegion,
        Self::PauseRegion,
        Self::PartitionFromOperator,
        Self::PartitionFromDb,
        Self::DbCrash,
        Self::KillOperatorLeader,
        Self::NoEligibleTarget,
        Self::FailBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KillRegion => "kill-region",
            Self::PauseRegion => "pause-region",
            Self::PartitionFromOperator => "partition-from-operator",
            Self::PartitionFromDb => "partition-from-db",
            Self::DbCrash => "db-crash",
            Self::KillOperatorLeader => "kill-operator-leader",
            Self::NoEligibleTarget => "no-eligible-target",
            Self::FailBack => "fail-back",
        }
    }

    fn operators(self) -> usize {
        if self == Self::KillOperatorLeader {
            2
        } else {
            1
        }
    }
}

/// How to play a scenario.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    pub name: ScenarioName,
    pub seed: u64,
    pub members_per_region: usize,
    pub clients_per_region: usize,
    pub max_ops: u64,
    pub skip_fence_check: bool,
    pub timings: FailoverTimings,
    pub log_filter: String,
    pub keep_dir: bool,
    /// How long the workload keeps running after the script's last step.
    pub aftermath_ms: u64,
}

impl ScenarioConfig {
    pub fn new(name: ScenarioName, seed: u64) -> ScenarioConfig {
        ScenarioConfig {
            name,
            seed,
            members_per_region: MEMBERS_PER_REGION,
            clients_per_region: CLIENTS_PER_REGION,
            max_ops: MAX_OPS,
            skip_fence_check: false,
            timings: FailoverTimings::default(),
            log_filter: "info".to_owned(),
            keep_dir: false,
            aftermath_ms: AFTERMATH_MS,
        }
    }
}

/// Everything a played scenario produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: ScenarioName,
    pub seed: u64,
    pub skip_fence_check: bool,
    pub ops: OpCounts,
    pub played: Played,
    pub timings: Timings,
    pub check: Option<CheckReport>,
    pub transitions: Vec<Transition>,
    /// Acknowledged and failed operations per second and region.
    pub timeline: Vec<RegionSeries>,
    #[serde(skip)]
    pub history: History,
}

/// Operations by outcome.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct OpCounts {
    pub ok: usize,
    pub fail: usize,
    pub unknown: usize,
}

impl ScenarioResult {
    /// Violations: the checker's and the scenario's own unmet expectations.
    pub fn violation_count(&self) -> usize {
        self.check.as_ref().map_or(0, |c| c.violations.len()) + self.played.unmet.len()
    }
}

/// Plays one scenario on a fresh topology, bounded by [`SCENARIO_TIMEOUT_MS`] plus its
/// aftermath.
pub async fn run(config: ScenarioConfig) -> Result<ScenarioResult> {
    let bound = Duration::from_millis(SCENARIO_TIMEOUT_MS + config.aftermath_ms);
    tokio::time::timeout(bound, play(config))
        .await
        .map_err(|_| Error::Timeout {
            what: "the scenario".into(),
            after: bound,
        })?
}

async fn play(config: ScenarioConfig) -> Result<ScenarioResult> {
    let mut topology = Topology::up(TopologyConfig {
        operators: config.name.operators(),
        skip_fence_check: config.skip_fence_check,
        failover: config.timings.clone(),
        log_filter: config.log_filter.clone(),
        keep_dir: config.keep_dir,
        ..TopologyConfig::default()
    })
    .await?;
    fencing::await_operator(&topology).await?;
    let mut result = ScenarioResult {
        name: config.name,
        seed: config.seed,
        skip_fence_check: config.skip_fence_check,
        ops: OpCounts::default(),
        played: Played::default(),
        timings: Timings::default(),
        check: None,
        transitions: Vec::new(),
        timeline: Vec::new(),
        history: History::default(),
    };
    let run_tag = format!("s{}", config.seed);
    let targets = members::targets(&topology);
    let members = members::enrol(&targets, config.members_per_region, &run_tag).await?;
    let clock = Clock::start();
    let regions: Vec<_> = topology
        .regions
        .iter()
        .map(|r| (r.name().to_owned(), r.spec.group.clone(), r.service_addr))
        .collect();
    let router = Arc::new(Router::new(&regions, clock));
    let workload = Workload::start(
        WorkloadConfig {
            seed: config.seed,
            clients_per_region: config.clients_per_region,
            duration: Duration::from_millis(SCENARIO_TIMEOUT_MS + config.aftermath_ms),
            max_ops: config.max_ops,
            write_only: config.skip_fence_check,
            ..WorkloadConfig::default()
        },
        router,
        members,
    );
    tokio::time::sleep(Duration::from_millis(WARMUP_MS)).await;
    let mut stage = script::Stage {
        topology: &mut topology,
        timings: config.timings.clone(),
        clock,
        played: Played::default(),
    };
    let scripted = script::play(config.name, &mut stage).await;
    let played = stage.played;
    tokio::time::sleep(Duration::from_millis(config.aftermath_ms)).await;
    let history = workload.stop().await;
    scripted?;
    settle(&mut topology).await?;
    let client = topology.db.connect().await?;
    let check = checker::check(&history, &client, &topology.db.url()).await?;
    let transitions = fence::transitions(&client).await?;
    let (ok, fail, unknown) = history.counts();
    result.timings = measure::timings(
        &played,
        &history,
        &transitions,
        &clock,
        check.writes.acknowledged_lost,
    );
    result.ops = OpCounts { ok, fail, unknown };
    result.played = played;
    result.check = Some(check);
    result.transitions = transitions;
    result.timeline = measure::timeline(&history);
    result.history = history;
    Ok(result)
}

/// Lifts every partition and resumes anything still paused, then lets in-flight transactions
/// end, so that whatever a cut-off or frozen region would still commit is in the database
/// before the check. Killed processes stay dead.
async fn settle(topology: &mut Topology) -> Result<()> {
    for region in &mut topology.regions {
        region.probe_proxy.set_mode(crate::proxy::Mode::Pass);
        region.db_proxy.set_mode(crate::proxy::Mode::Pass);
        if let Some(service) = region.service()
            && service.is_paused()
        {
            service.signal(crate::signals::ProcSignal::Cont)?;
        }
    }
    tokio::time::sleep(Duration::from_millis(SETTLE_MS)).await;
    Ok(())
}
