//! What each scenario does to the topology while the workload runs, step by step, with a
//! marker on the timeline for every fault, fence, recovery and fail-back.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ScenarioName;
use super::fencing::{self, wait_row};
use crate::error::Result;
use crate::topology::{FailoverTimings, Fault, Topology};
use crate::workload::Clock;

/// The region every failover scenario breaks, and the region that takes over its members.
pub const FAILED: &str = "eu-west-1";
pub const TARGET: &str = "eu-central-1";
/// The region alone in its residency group.
pub const LONE: &str = "us-east-1";
/// How long a paused region stays paused after its fence, so its in-flight writes are old.
const PAUSE_AFTER_FENCE_MS: u64 = 2_000;
/// How long the database stays down in the crash scenario.
const DB_DOWN_MS: u64 = 2_000;
/// When the operator leader is killed after the fault: inside the failure threshold.
const LEADER_KILL_AFTER_FAULT_MS: u64 = 1_500;
/// Extra time a lone region is watched past its failure threshold, to see it stay unfenced.
const LONE_WATCH_EXTRA_MS: u64 = 5_000;
/// How often the operator's status of a failing region is sampled.
const STATUS_POLL_MS: u64 = 100;
/// How long a recovered region runs before the scenario waits for its fail-back.
const RECOVERED_BEFORE_FAILBACK_MS: u64 = 1_000;

/// A labelled instant of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    pub at_ms: u64,
    /// `fault`, `fence`, `recover`, `failback` or `observe` (what the operator reported).
    pub kind: String,
    pub label: String,
}

/// What a script did and saw.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Played {
    pub markers: Vec<Marker>,
    pub fault_ms: Option<u64>,
    pub failed_region: Option<String>,
    pub target: Option<String>,
    pub healed_ms: Option<u64>,
    /// When the operator first saw the failure (its `failingSince`), on the run's axis.
    pub detected_ms: Option<i64>,
    /// Expectations of the scenario itself that did not hold.
    pub unmet: Vec<String>,
}

/// What a script works with.
pub struct Stage<'a> {
    pub topology: &'a mut Topology,
    pub timings: FailoverTimings,
    pub clock: Clock,
    pub played: Played,
}

impl Stage<'_> {
    fn mark(&mut self, kind: &str, label: impl Into<String>) -> u64 {
        let at_ms = self.clock.ms();
        self.played.markers.push(Marker {
            at_ms,
            kind: kind.to_owned(),
            label: label.into(),
        });
        at_ms
    }

    async fn fault(&mut self, fault: Fault, label: &str) -> Result<()> {
        self.topology.inject(&fault).await?;
        let at = self.mark("fault", label);
        self.played.fault_ms.get_or_insert(at);
        Ok(())
    }

    async fn fail_over(&mut self) -> Result<()> {
        self.played.failed_region = Some(FAILED.into());
        self.played.target = Some(TARGET.into());
        let (row, failing_since) = {
            let topology: &Topology = self.topology;
            let fail_over = fencing::fail_over(topology, FAILED, TARGET);
            tokio::pin!(fail_over);
            // The operator may clear `failingSince` once it has failed over: sample it while
            // waiting, and keep the first value seen.
            let mut tick = tokio::time::interval(Duration::from_millis(STATUS_POLL_MS));
            let mut failing_since = None;
            loop {
                tokio::select! {
                    row = &mut fail_over => break (row?, failing_since),
                    _ = tick.tick(), if failing_since.is_none() => {
                        if let Ok(Some(status)) = topology.cluster.region_status(FAILED).await {
                            failing_since = status.failing_since;
                        }
                    }
                }
            }
        };
        self.played.detected_ms = failing_since.map(|t| self.clock.ms_of(t));
        self.mark(
            "fence",
            format!("{FAILED} fenced at epoch {}, served by {TARGET}", row.epoch),
        );
        Ok(())
    }

    async fn heal(&mut self, region: &str) -> Result<()> {
        self.topology.heal(region).await?;
        let at = self.mark("recover", format!("{region} healed"));
        self.played.healed_ms = Some(at);
        Ok(())
    }
}

fn sleep_ms(ms: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(ms))
}

/// Plays `name` on `stage`; the workload is already running.
pub async fn play(name: ScenarioName, stage: &mut Stage<'_>) -> Result<()> {
    let failed = FAILED.to_owned();
    match name {
        ScenarioName::KillRegion => {
            stage
                .fault(Fault::Kill { region: failed }, "SIGKILL eu-west-1")
                .await?;
            stage.fail_over().await
        }
        ScenarioName::PauseRegion => {
            stage
                .fault(
                    Fault::Pause {
                        region: failed.clone(),
                    },
                    "SIGSTOP eu-west-1",
                )
                .await?;
            stage.fail_over().await?;
            sleep_ms(PAUSE_AFTER_FENCE_MS).await;
            stage
                .topology
                .inject(&Fault::Resume { region: failed })
                .await?;
            let at = stage.mark("recover", "SIGCONT eu-west-1 (zombie resumes)");
            stage.played.healed_ms = Some(at);
            Ok(())
        }
        ScenarioName::PartitionFromOperator => {
            let fault = Fault::PartitionFromOperator { region: failed };
            stage
                .fault(fault, "eu-west-1 cut off from the operator")
                .await?;
            stage.fail_over().await
        }
        ScenarioName::PartitionFromDb => {
            let fault = Fault::PartitionFromDb { region: failed };
            stage
                .fault(fault, "eu-west-1 cut off from the database")
                .await?;
            stage.fail_over().await
        }
        ScenarioName::DbCrash => db_crash(stage).await,
        ScenarioName::KillOperatorLeader => {
            stage
                .fault(Fault::Kill { region: failed }, "SIGKILL eu-west-1")
                .await?;
            sleep_ms(LEADER_KILL_AFTER_FAULT_MS).await;
            let leader = stage.topology.kill_operator_leader().await?;
            stage.mark("fault", format!("SIGKILL operator leader {leader}"));
            stage.fail_over().await
        }
        ScenarioName::NoEligibleTarget => no_eligible_target(stage).await,
        ScenarioName::FailBack => {
            stage
                .fault(Fault::Kill { region: failed }, "SIGKILL eu-west-1")
                .await?;
            stage.fail_over().await?;
            sleep_ms(RECOVERED_BEFORE_FAILBACK_MS).await;
            stage.heal(FAILED).await?;
            let row = fencing::fail_back(stage.topology, FAILED).await?;
            stage.mark(
                "failback",
                format!("{FAILED} active again at epoch {}", row.epoch),
            );
            Ok(())
        }
    }
}

async fn db_crash(stage: &mut Stage<'_>) -> Result<()> {
    stage.fault(Fault::CrashDb, "SIGKILL PostgreSQL").await?;
    sleep_ms(DB_DOWN_MS).await;
    stage.topology.inject(&Fault::RestartDb).await?;
    let at = stage.mark("recover", "PostgreSQL restarted");
    stage.played.healed_ms = Some(at);
    // Every region looked down at once: nothing may have failed over.
    let client = stage.topology.db.connect().await?;
    for row in crate::fence::region_rows(&client).await? {
        if row.state != "active" {
            stage.played.unmet.push(format!(
                "{} is {} after a database crash",
                row.name, row.state
            ));
        }
    }
    Ok(())
}

async fn no_eligible_target(stage: &mut Stage<'_>) -> Result<()> {
    let lone = LONE.to_owned();
    stage
        .fault(
            Fault::Kill {
                region: lone.clone(),
            },
            "SIGKILL us-east-1",
        )
        .await?;
    let threshold_ms =
        u64::try_from(stage.timings.probe_interval_s * stage.timings.failure_threshold * 1_000)
            .unwrap_or(0);
    sleep_ms(threshold_ms + LONE_WATCH_EXTRA_MS).await;
    let row = wait_row(stage.topology, LONE, |_| true).await?;
    if row.state != "active" || row.served_by != LONE {
        stage.played.unmet.push(format!(
            "{LONE} has no eligible target but is {} and served by {}",
            row.state, row.served_by
        ));
    }
    if let Ok(Some(status)) = stage.topology.cluster.region_status(LONE).await {
        stage.played.detected_ms = status.failing_since.map(|t| stage.clock.ms_of(t));
        let conditions: Vec<String> = status
            .conditions
            .iter()
            .map(|c| format!("{}={:?} ({})", c.type_, c.status, c.reason))
            .collect();
        let label = format!(
            "{LONE} still {} epoch {}: phase {:?}, {}",
            row.state,
            row.epoch,
            status.phase,
            conditions.join(", ")
        );
        stage.mark("observe", label);
    }
    stage.heal(&lone).await
}
