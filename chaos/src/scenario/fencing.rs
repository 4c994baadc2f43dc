//! Who moves a failed region's members: the operator (its failover), or — where the
//! operator does not fail over yet — the scenario itself, by SQL, after the same delays the
//! operator's thresholds would take. Either way the scenario waits for the region's row.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fence::{self, RegionRow};
use crate::topology::{FailoverTimings, Topology};

/// How long an operator failover or fail-back may take before the scenario gives up waiting.
pub const FENCE_WAIT_TIMEOUT_MS: u64 = 40_000;
/// Pause between two reads of a region's row.
const ROW_POLL_MS: u64 = 100;
/// How long a start-up may take for the operator to record its first transitions.
pub const TRANSITIONS_WAIT_MS: u64 = 5_000;

/// Who fences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fencing {
    /// The operator's automatic failover.
    Operator,
    /// The scenario, by SQL (operator failover not available).
    Sql,
}

impl Fencing {
    /// The operator fails over when it records transitions (it writes `Created` for every
    /// region it creates); otherwise the scenario must fence by SQL, and records the
    /// `Created` epochs the operator would have.
    pub async fn detect(topology: &Topology) -> Result<Fencing> {
        let client = topology.db.connect().await?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(TRANSITIONS_WAIT_MS);
        loop {
            if !fence::transitions(&client).await?.is_empty() {
                return Ok(Fencing::Operator);
            }
            if tokio::time::Instant::now() >= deadline {
                fence::record_missing_created(&client).await?;
                return Ok(Fencing::Sql);
            }
            tokio::time::sleep(Duration::from_millis(ROW_POLL_MS)).await;
        }
    }

    /// Waits until `region` is fenced and served by `target` (fencing it by SQL first when
    /// the scenario fences).
    pub async fn fail_over(
        self,
        topology: &Topology,
        timings: &FailoverTimings,
        region: &str,
        target: &str,
    ) -> Result<RegionRow> {
        if self == Fencing::Sql {
            let delay = timings.probe_interval_s * timings.failure_threshold;
            tokio::time::sleep(seconds(delay)).await;
            let mut client = topology.db.connect().await?;
            fence::fence(&mut client, region, target, "FailedOver").await?;
        }
        wait_row(topology, region, |r| {
            r.state == "fenced" && r.served_by == target
        })
        .await
    }

    /// Waits until `region` serves itself again (unfencing it by SQL after the success
    /// threshold and the stabilization window when the scenario fences).
    pub async fn fail_back(
        self,
        topology: &Topology,
        timings: &FailoverTimings,
        region: &str,
    ) -> Result<RegionRow> {
        if self == Fencing::Sql {
            let delay = timings.probe_interval_s * timings.success_threshold
                + timings.stabilization_window_s;
            tokio::time::sleep(seconds(delay)).await;
            let mut client = topology.db.connect().await?;
            fence::unfence(&mut client, region, "FailedBack").await?;
        }
        wait_row(topology, region, |r| {
            r.state == "active" && r.served_by == region
        })
        .await
    }
}

fn seconds(s: i32) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

/// Polls `region`'s row until `wanted` holds.
pub async fn wait_row(
    topology: &Topology,
    region: &str,
    wanted: impl Fn(&RegionRow) -> bool,
) -> Result<RegionRow> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(FENCE_WAIT_TIMEOUT_MS);
    loop {
        // The database may be restarting: a failed read is retried until the deadline.
        if let Ok(client) = topology.db.connect().await
            && let Ok(rows) = fence::region_rows(&client).await
            && let Some(row) = rows.into_iter().find(|r| r.name == region)
            && wanted(&row)
        {
            return Ok(row);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: format!("the row of {region} to change"),
                after: Duration::from_millis(FENCE_WAIT_TIMEOUT_MS),
            });
        }
        tokio::time::sleep(Duration::from_millis(ROW_POLL_MS)).await;
    }
}
