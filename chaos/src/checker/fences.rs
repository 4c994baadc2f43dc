//! Fencing and residency from the database alone: no entry committed by a region at an epoch
//! at which that region was not active, no member's data written by a region outside its
//! residency group, and no member or region moved across groups.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::Client;

use super::Violation;
use crate::error::Result;

/// Entries quoted as evidence per violation.
const EVIDENCE_ROWS: i64 = 5;

/// Entries the fence check could not judge, by why.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FenceStats {
    /// Entries whose (written_in, written_epoch) names an active epoch.
    pub verified: u64,
    /// Entries without `written_epoch` (written by a service that does not record it).
    pub without_epoch: u64,
    /// Entries whose epoch has no `region_transitions` row.
    pub epoch_unrecorded: u64,
}

/// Checks every ledger entry's writing epoch against `region_transitions`.
pub async fn check_fences(client: &Client, violations: &mut Vec<Violation>) -> Result<FenceStats> {
    let rows = client
        .query(
            "SELECT e.written_in, e.written_epoch, t.state, count(*) FROM ledger_entries e \
             LEFT JOIN region_transitions t ON t.region = e.written_in AND t.epoch = e.written_epoch \
             GROUP BY 1, 2, 3 ORDER BY 1, 2",
            &[],
        )
        .await?;
    let mut stats = FenceStats::default();
    for row in rows {
        let (region, epoch, state): (String, Option<i64>, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        let count = row.get::<_, i64>(3).unsigned_abs();
        match (epoch, state.as_deref()) {
            (None, _) => stats.without_epoch += count,
            (Some(_), None) => stats.epoch_unrecorded += count,
            (Some(_), Some("active")) => stats.verified += count,
            (Some(epoch), Some(state)) => {
                let evidence = sample(client, &region, epoch).await?;
                violations.push(Violation {
                    check: "committed_while_fenced".into(),
                    message: format!(
                        "{count} entries written by {region} at epoch {epoch}, when {region} was {state}"
                    ),
                    evidence,
                });
            }
        }
    }
    Ok(stats)
}

async fn sample(client: &Client, region: &str, epoch: i64) -> Result<serde_json::Value> {
    let rows = client
        .query(
            "SELECT member_id::TEXT, seq, kind, COALESCE(reference, ''), created_at::TEXT FROM ledger_entries \
             WHERE written_in = $1 AND written_epoch = $2 ORDER BY created_at LIMIT $3",
            &[&region, &epoch, &EVIDENCE_ROWS],
        )
        .await?;
    let transition = client
        .query_opt(
            "SELECT state, served_by, reason, at::TEXT FROM region_transitions WHERE region = $1 AND epoch = $2",
            &[&region, &epoch],
        )
        .await?;
    Ok(json!({
        "transition": transition.map(|t| json!({
            "state": t.get::<_, String>(0), "served_by": t.get::<_, String>(1),
            "reason": t.get::<_, String>(2), "at": t.get::<_, String>(3),
        })),
        "entries": rows.iter().map(|r| json!({
            "member": r.get::<_, String>(0), "seq": r.get::<_, i64>(1), "kind": r.get::<_, String>(2),
            "reference": r.get::<_, String>(3), "created_at": r.get::<_, String>(4),
        })).collect::<Vec<_>>(),
    }))
}

/// Residency: entries written outside the member's group, members whose home region is in
/// another group than theirs, regions served from another group.
pub async fn check_residency(client: &Client, violations: &mut Vec<Violation>) -> Result<()> {
    let checks: [(&'static str, &str, &str); 3] = [
        (
            "written_outside_residency_group",
            "SELECT e.member_id::TEXT || ' seq ' || e.seq || ' written in ' || e.written_in \
             || ' (' || r.residency_group || ') for a member of ' || m.residency_group \
             FROM ledger_entries e JOIN members m ON m.id = e.member_id JOIN regions r ON r.name = e.written_in \
             WHERE r.residency_group <> m.residency_group LIMIT 20",
            "member data written by a region outside the member's residency group",
        ),
        (
            "member_moved_across_groups",
            "SELECT m.id::TEXT || ' of ' || m.residency_group || ' homed in ' || m.home_region \
             || ' (' || r.residency_group || ')' FROM members m JOIN regions r ON r.name = m.home_region \
             WHERE r.residency_group <> m.residency_group LIMIT 20",
            "members homed in a region of another residency group",
        ),
        (
            "served_across_groups",
            "SELECT a.name || ' (' || a.residency_group || ') served by ' || b.name || ' (' || b.residency_group || ')' \
             FROM regions a JOIN regions b ON b.name = a.served_by WHERE a.residency_group <> b.residency_group",
            "a region's members served from another residency group",
        ),
    ];
    for (check, sql, what) in checks {
        let rows = client.query(sql, &[]).await?;
        if !rows.is_empty() {
            let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            violations.push(Violation {
                check: check.to_owned(),
                message: format!("{what}: {} found", found.len()),
                evidence: json!(found),
            });
        }
    }
    Ok(())
}
