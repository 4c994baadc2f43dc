//! The rows of a LoyaltyRegion: its `regions` row, its `country_homes` and its
//! `region_placements` record.

use serde_json::Value;
use tokio_postgres::Transaction;

use loyalty_schema::{ConfigSet, RegionState};

use super::failover::record_transition;
use super::{Work, bump_config_version};
use crate::Result;

/// The fencing fields of a region's row, as the service reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionRow {
    pub state: RegionState,
    pub epoch: i64,
    pub served_by: String,
    /// Countries whose home moved to this region from another one in this write.
    pub rehomed: Vec<(String, String)>,
}

/// Upserts a region's row and its country homes. `state`, `epoch` and `served_by` belong to
/// failover and stay as they are, except that a row fenced by a previous deletion of the
/// LoyaltyRegion (fenced and served by itself) becomes active again with a new epoch.
pub struct UpsertRegion {
    pub name: String,
    pub residency_group: String,
    pub endpoint: String,
    pub countries: Vec<String>,
}

impl UpsertRegion {
    /// Inserts or updates the `regions` row; answers its `(state, epoch, served_by)` row and
    /// whether it changed.
    async fn upsert_row(&self, tx: &Transaction<'_>) -> Result<(tokio_postgres::Row, bool)> {
        let existing = tx
            .query_opt(
                "SELECT residency_group, endpoint, state, served_by FROM regions WHERE name = $1",
                &[&self.name],
            )
            .await?;
        let (name, active) = (self.name.as_str(), RegionState::Active);
        let Some(row) = existing else {
            let row = tx.query_one(
                "INSERT INTO regions (name, residency_group, state, epoch, endpoint, served_by, updated_at) \
                 VALUES ($1, $2, 'active', 1, $3, $1, now()) RETURNING state, epoch, served_by",
                &[&self.name, &self.residency_group, &self.endpoint],
            )
            .await?;
            record_transition(tx, name, 1, active, name, "Created").await?;
            return Ok((row, true));
        };
        let (group, endpoint, state, served_by): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let revive = state == RegionState::Fenced.as_str() && served_by == self.name;
        if group == self.residency_group && endpoint == self.endpoint && !revive {
            let row = tx
                .query_one(
                    "SELECT state, epoch, served_by FROM regions WHERE name = $1",
                    &[&self.name],
                )
                .await?;
            return Ok((row, false));
        }
        let row = tx
            .query_one(
                "UPDATE regions SET residency_group = $2, endpoint = $3, \
                 state = CASE WHEN $4 THEN 'active' ELSE state END, \
                 epoch = CASE WHEN $4 THEN epoch + 1 ELSE epoch END, updated_at = now() \
                 WHERE name = $1 RETURNING state, epoch, served_by",
                &[&self.name, &self.residency_group, &self.endpoint, &revive],
            )
            .await?;
        if revive {
            record_transition(tx, name, row.get(1), active, name, "Revived").await?;
        }
        Ok((row, true))
    }

    /// Points the declared countries at this region and drops homes it no longer declares;
    /// answers the countries that moved here from another region and whether anything changed.
    async fn rehome_countries(
        &self,
        tx: &Transaction<'_>,
    ) -> Result<(Vec<(String, String)>, bool)> {
        let homes = tx
            .query(
                "SELECT country, region FROM country_homes WHERE country = ANY($1) OR region = $2",
                &[&self.countries, &self.name],
            )
            .await?;
        let mut rehomed = Vec::new();
        let mut present = 0;
        let mut stale = false;
        for home in &homes {
            let (country, region): (String, String) = (home.get(0), home.get(1));
            match (self.countries.contains(&country), region == self.name) {
                (true, true) => present += 1,
                (true, false) => rehomed.push((country, region)),
                (false, here) => stale |= here,
            }
        }
        let missing = present != self.countries.len();
        if missing {
            tx.execute(
                "INSERT INTO country_homes (country, region) SELECT c, $2 FROM unnest($1::TEXT[]) AS c \
                 ON CONFLICT (country) DO UPDATE SET region = EXCLUDED.region",
                &[&self.countries, &self.name],
            )
            .await?;
        }
        if stale {
            tx.execute(
                "DELETE FROM country_homes WHERE region = $1 AND NOT (country = ANY($2))",
                &[&self.name, &self.countries],
            )
            .await?;
        }
        Ok((rehomed, missing || stale))
    }
}

impl Work for UpsertRegion {
    type Output = RegionRow;

    async fn run(&self, tx: &Transaction<'_>) -> Result<RegionRow> {
        let (row, row_changed) = self.upsert_row(tx).await?;
        let (rehomed, homes_changed) = self.rehome_countries(tx).await?;
        if row_changed || homes_changed {
            bump_config_version(tx, ConfigSet::Regions).await?;
        }
        let state: String = row.get(0);
        Ok(RegionRow {
            state: state.parse()?,
            epoch: row.get(1),
            served_by: row.get(2),
            rehomed,
        })
    }
}

/// The LoyaltyRegion is being deleted: its country homes and placement record go, and its row
/// stays, fenced with a new epoch, so that an instance still running there commits nothing.
/// Member data is never touched.
pub struct FenceRegion {
    pub name: String,
}

impl Work for FenceRegion {
    type Output = ();
    async fn run(&self, tx: &Transaction<'_>) -> Result<()> {
        let homes = tx
            .execute("DELETE FROM country_homes WHERE region = $1", &[&self.name])
            .await?;
        tx.execute(
            "DELETE FROM region_placements WHERE region = $1",
            &[&self.name],
        )
        .await?;
        let fenced = tx
            .query_opt(
                "UPDATE regions SET state = 'fenced', epoch = epoch + 1, updated_at = now() \
                 WHERE name = $1 AND state = 'active' RETURNING epoch, served_by",
                &[&self.name],
            )
            .await?;
        if let Some(row) = &fenced {
            let (epoch, served_by): (i64, String) = (row.get(0), row.get(1));
            let fenced = RegionState::Fenced;
            record_transition(tx, &self.name, epoch, fenced, &served_by, "Deleted").await?;
        }
        if homes > 0 || fenced.is_some() {
            bump_config_version(tx, ConfigSet::Regions).await?;
        }
        Ok(())
    }
}

/// Records a region's desired and applied placement in `region_placements`.
pub struct RecordPlacement {
    pub region: String,
    pub desired: Value,
    pub applied: Option<Value>,
    pub backend: &'static str,
}

impl Work for RecordPlacement {
    type Output = ();
    async fn run(&self, tx: &Transaction<'_>) -> Result<()> {
        let current = tx
            .query_opt(
                "SELECT desired, applied, backend FROM region_placements WHERE region = $1",
                &[&self.region],
            )
            .await?;
        if let Some(row) = current {
            let (desired, applied, backend): (Value, Option<Value>, String) =
                (row.get(0), row.get(1), row.get(2));
            if desired == self.desired && applied == self.applied && backend == self.backend {
                return Ok(());
            }
        }
        tx.execute(
            "INSERT INTO region_placements (region, desired, applied, backend, applied_at, updated_at) \
             VALUES ($1, $2, $3, $4, CASE WHEN $3::JSONB IS NULL THEN NULL ELSE now() END, now()) \
             ON CONFLICT (region) DO UPDATE SET desired = EXCLUDED.desired, applied = EXCLUDED.applied, \
             backend = EXCLUDED.backend, applied_at = EXCLUDED.applied_at, updated_at = EXCLUDED.updated_at",
            &[&self.region, &self.desired, &self.applied, &self.backend],
        )
        .await?;
        Ok(())
    }
}
