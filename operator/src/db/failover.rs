//! The failover writes: reading every region's fence row, and moving one region to a new
//! epoch (fence or unfence) with its `region_transitions` row, in one transaction.

use loyalty_schema::{ConfigSet, RegionState};
use tokio_postgres::Transaction;

use super::{Work, bump_config_version};
use crate::{Error, Result};

/// A region's fence row as the failover logic sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceRow {
    pub name: String,
    pub residency_group: String,
    pub state: RegionState,
    pub epoch: i64,
    pub served_by: String,
    /// Why the row is at its current epoch (`region_transitions.reason`), when recorded.
    pub reason: Option<String>,
}

/// Every region's fence row, read in one transaction.
pub struct ReadFences;

impl Work for ReadFences {
    type Output = Vec<FenceRow>;
    async fn run(&self, tx: &Transaction<'_>) -> Result<Vec<FenceRow>> {
        let rows = tx
            .query(
                "SELECT r.name, r.residency_group, r.state, r.epoch, r.served_by, t.reason \
                 FROM regions r LEFT JOIN region_transitions t ON t.region = r.name AND t.epoch = r.epoch \
                 ORDER BY r.name",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.get(2);
                Ok(FenceRow {
                    name: row.get(0),
                    residency_group: row.get(1),
                    state: state.parse().map_err(Error::StoredName)?,
                    epoch: row.get(3),
                    served_by: row.get(4),
                    reason: row.get(5),
                })
            })
            .collect()
    }
}

/// Moves `region` from `from_epoch` to `from_epoch + 1` with `state` and `served_by`, and
/// records the transition. A compare-and-set: when the row is no longer at `from_epoch`
/// (another operator instance, or a reconcile, moved it first) nothing is written and the
/// outcome is `None`, so a decision taken on a stale view never applies.
///
/// Fencing is this one UPDATE of the row every service write reads inside its own
/// SERIALIZABLE transaction: once it commits, no write that read the old epoch can be ordered
/// after it (ADR 0004).
pub struct MoveRegion {
    pub region: String,
    pub from_epoch: i64,
    pub state: RegionState,
    pub served_by: String,
    pub reason: &'static str,
}

impl Work for MoveRegion {
    /// The new epoch, or `None` when the row had moved.
    type Output = Option<i64>;
    async fn run(&self, tx: &Transaction<'_>) -> Result<Option<i64>> {
        let moved = tx
            .query_opt(
                "UPDATE regions SET state = $3, served_by = $4, epoch = epoch + 1, updated_at = now() \
                 WHERE name = $1 AND epoch = $2 RETURNING epoch",
                &[
                    &self.region,
                    &self.from_epoch,
                    &self.state.as_str(),
                    &self.served_by,
                ],
            )
            .await?;
        let Some(row) = moved else {
            return Ok(None);
        };
        let epoch: i64 = row.get(0);
        record_transition(
            tx,
            &self.region,
            epoch,
            self.state,
            &self.served_by,
            self.reason,
        )
        .await?;
        bump_config_version(tx, ConfigSet::Regions).await?;
        Ok(Some(epoch))
    }
}

/// Inserts the `region_transitions` row of `region` at `epoch`; a row already there (the same
/// transaction re-run) is left as it is.
pub async fn record_transition(
    tx: &Transaction<'_>,
    region: &str,
    epoch: i64,
    state: RegionState,
    served_by: &str,
    reason: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO region_transitions (region, epoch, state, served_by, reason, at) \
         VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (region, epoch) DO NOTHING",
        &[&region, &epoch, &state.as_str(), &served_by, &reason],
    )
    .await?;
    Ok(())
}
