//! The checker: judges the database after a run against the run's history.
//!
//! [`writes`] compares each operation's outcome with what the ledger holds; [`fences`] checks
//! epochs and residency from the database alone; the service's own audit (balances equal
//! ledger sums, lots equal available, nothing negative, hash chains verify) runs through the
//! service's library. Every finding is a [`Violation`] with evidence.

pub mod fences;
pub mod writes;

use std::time::Duration;

use loyalty_service::metrics::Metrics;
use loyalty_service::store::Db;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::workload::History;
pub use fences::FenceStats;
pub use writes::WriteStats;

/// Connections the audit uses.
const AUDIT_POOL_SIZE: usize = 2;
/// How long the audit waits for a connection.
const AUDIT_POOL_WAIT_MS: u64 = 10_000;

/// One broken invariant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Violation {
    /// Which check found it (a stable name).
    pub check: String,
    pub message: String,
    pub evidence: Value,
}

/// Everything the checker found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    pub violations: Vec<Violation>,
    pub writes: WriteStats,
    pub fences: FenceStats,
    /// The service's audit report.
    pub audit: Value,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violations of one check.
    pub fn of(&self, check: &str) -> Vec<&Violation> {
        self.violations
            .iter()
            .filter(|v| v.check == check)
            .collect()
    }
}

/// Runs every check. `database_url` must reach the database directly (no fault proxy).
pub async fn check(history: &History, client: &Client, database_url: &str) -> Result<CheckReport> {
    let mut violations = Vec::new();
    let writes = writes::check(history, client, &mut violations).await?;
    let fences = fences::check_fences(client, &mut violations).await?;
    fences::check_residency(client, &mut violations).await?;
    let audit = audit(database_url, &mut violations).await?;
    Ok(CheckReport {
        violations,
        writes,
        fences,
        audit,
    })
}

async fn audit(database_url: &str, violations: &mut Vec<Violation>) -> Result<Value> {
    let service = |e: loyalty_service::error::Error| Error::Service(e.to_string());
    let wait = Duration::from_millis(AUDIT_POOL_WAIT_MS);
    let db = Db::connect(database_url, AUDIT_POOL_SIZE, wait, Metrics::new())
        .map_err(|e| Error::Service(e.to_string()))?;
    let report = db.audit().await.map_err(service)?;
    let value = serde_json::to_value(&report)?;
    if !report.is_clean() {
        violations.push(Violation {
            check: "audit".into(),
            message: format!(
                "the service's audit found {} mismatches",
                report.mismatch_count
            ),
            evidence: value.clone(),
        });
    }
    Ok(value)
}
