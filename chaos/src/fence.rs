//! Reading fences back: every `region_transitions` row and every region's current row, which
//! the scenarios, the checker and the report need. Only the operator writes them: the suite
//! judges its failover and never fences by itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::error::Result;

/// One row of `region_transitions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub region: String,
    pub epoch: i64,
    pub state: String,
    pub served_by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A region's row as the service reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRow {
    pub name: String,
    pub group: String,
    pub state: String,
    pub epoch: i64,
    pub served_by: String,
}

/// Every transition, oldest first.
pub async fn transitions(client: &Client) -> Result<Vec<Transition>> {
    let rows = client
        .query(
            "SELECT region, epoch, state, served_by, reason, at FROM region_transitions ORDER BY at, region, epoch",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Transition {
            region: r.get(0),
            epoch: r.get(1),
            state: r.get(2),
            served_by: r.get(3),
            reason: r.get(4),
            at: r.get(5),
        })
        .collect())
}

/// Every region's current row.
pub async fn region_rows(client: &Client) -> Result<Vec<RegionRow>> {
    let rows = client
        .query(
            "SELECT name, residency_group, state, epoch, served_by FROM regions ORDER BY name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| RegionRow {
            name: r.get(0),
            group: r.get(1),
            state: r.get(2),
            epoch: r.get(3),
            served_by: r.get(4),
        })
        .collect())
}
