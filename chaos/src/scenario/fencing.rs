//! The operator moves a failed region's members; the scenario waits for the region's row to
//! show it.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::fence::{self, RegionRow};
use crate::topology::Topology;

/// How long an operator failover or fail-back may take before the scenario gives up waiting.
pub const FENCE_WAIT_TIMEOUT_MS: u64 = 40_000;
/// Pause between two reads of a region's row.
const ROW_POLL_MS: u64 = 100;
/// How long a start-up may take for the operator to record its first transitions.
pub const TRANSITIONS_WAIT_MS: u64 = 5_000;

/// Waits until the operator has recorded its first region transitions (it writes `Created`
/// for every region it creates): the scenarios judge the operator's own failover, so a
/// topology whose operator records none is an error, never something the suite works around.
pub async fn await_operator(topology: &Topology) -> Result<()> {
    let client = topology.db.connect().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(TRANSITIONS_WAIT_MS);
    while fence::transitions(&client).await?.is_empty() {
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: "the operator to record region transitions".into(),
                after: Duration::from_millis(TRANSITIONS_WAIT_MS),
            });
        }
        tokio::time::sleep(Duration::from_millis(ROW_POLL_MS)).await;
    }
    Ok(())
}

/// Waits until the operator has fenced `region` towards `target`.
pub async fn fail_over(topology: &Topology, region: &str, target: &str) -> Result<RegionRow> {
    wait_row(topology, region, |r| {
        r.state == "fenced" && r.served_by == target
    })
    .await
}

/// Waits until the operator has failed `region` back (serving itself again).
pub async fn fail_back(topology: &Topology, region: &str) -> Result<RegionRow> {
    wait_row(topology, region, |r| {
        r.state == "active" && r.served_by == region
    })
    .await
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
