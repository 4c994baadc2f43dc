//! The audit: checks every invariant of the ledger and reports each mismatch. Run by the
//! tests after every concurrent scenario, by the chaos checker, and by operators in
//! production (`loyalty-service audit`, `GET /v1/admin/audit`).
//!
//! Checks: each balance column equals the sum of its ledger delta column and `last_seq`
//! is the newest entry; vested lots' remaining points equal `available` and pending lots'
//! equal `pending`; `held` equals the active
//! holds; nothing is negative; each (source, booking reference) is earned at most once;
//! every member's hash chain verifies; no entry was committed by a region at an epoch where
//! that region was fenced (`written_in`/`written_epoch` against `region_transitions`); no entry
//! was written by a region outside the member's residency group; each region's newest signed
//! chain-head digest verifies and every head it signed is still in the ledger, unchanged
//! (`store::digest`: this catches the deletion of a chain's newest entries, which the chain
//! itself cannot show).

use futures::{StreamExt, pin_mut};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::Db;
use super::ledger::{Deltas, HashInput, genesis_hash};
use crate::error::Result;

/// Mismatches listed in one report; the count is always exact.
const MAX_LISTED_MISMATCHES: usize = 1_000;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Mismatch {
    pub member_id: Option<Uuid>,
    #[schema(value_type = String)]
    pub check: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct AuditReport {
    pub members_checked: i64,
    pub entries_checked: i64,
    pub mismatch_count: usize,
    pub mismatches: Vec<Mismatch>,
    /// The signed digests checked: each region's newest.
    pub digests: Vec<super::digest::DigestCheck>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.mismatch_count == 0
    }

    pub(super) fn push(&mut self, member_id: Option<Uuid>, check: &'static str, detail: String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MAX_LISTED_MISMATCHES {
            self.mismatches.push(Mismatch {
                member_id,
                check,
                detail,
            });
        }
    }
}

/// Balance columns against ledger sums, lots, holds and sign, one row per member.
const BALANCE_CHECK: &str = "
SELECT b.member_id, b.available, b.pending, b.held, b.lifetime, b.qualifying, b.last_seq,
       COALESCE(l.available, 0)::BIGINT, COALESCE(l.pending, 0)::BIGINT, COALESCE(l.held, 0)::BIGINT,
       COALESCE(l.lifetime, 0)::BIGINT, COALESCE(l.qualifying, 0)::BIGINT, COALESCE(l.max_seq, 0)::BIGINT,
       COALESCE(l.entries, 0)::BIGINT,
       COALESCE(lo.remaining, 0)::BIGINT, COALESCE(h.held, 0)::BIGINT, COALESCE(lo.pending, 0)::BIGINT
FROM balances b
LEFT JOIN (SELECT member_id, SUM(available_delta) AS available, SUM(pending_delta) AS pending,
                  SUM(held_delta) AS held, SUM(lifetime_delta) AS lifetime,
                  SUM(qualifying_delta) AS qualifying, MAX(seq) AS max_seq, COUNT(*) AS entries
           FROM ledger_entries GROUP BY member_id) l ON l.member_id = b.member_id
LEFT JOIN (SELECT member_id, SUM(remaining) FILTER (WHERE vests_at IS NULL) AS remaining,
                  SUM(remaining) FILTER (WHERE vests_at IS NOT NULL) AS pending
           FROM lots GROUP BY member_id) lo
       ON lo.member_id = b.member_id
LEFT JOIN (SELECT member_id, SUM(points - captured) AS held FROM holds WHERE state IN ('active', 'in_review')
           GROUP BY member_id) h ON h.member_id = b.member_id";

const DUPLICATE_EARNS: &str = "
SELECT source, reference, COUNT(*)::BIGINT FROM ledger_entries WHERE kind = 'earn'
GROUP BY source, reference HAVING COUNT(*) > 1";

/// Entries whose own transaction read a fenced epoch of the region that wrote them: a write
/// that should have been refused (ADR 0004). Entries from before migration 0006 carry no epoch
/// and are counted apart, as unverifiable.
const WRITTEN_WHILE_FENCED: &str = "
SELECT e.member_id, e.seq, e.written_in, e.written_epoch, t.state
FROM ledger_entries e
LEFT JOIN region_transitions t ON t.region = e.written_in AND t.epoch = e.written_epoch
WHERE e.written_epoch IS NOT NULL AND (t.state IS NULL OR t.state <> 'active')
ORDER BY e.member_id, e.seq";

/// Entries written by a region of another residency group than the member's.
const WRITTEN_ACROSS_GROUPS: &str = "
SELECT e.member_id, e.seq, e.written_in, m.residency_group, r.residency_group
FROM ledger_entries e
JOIN members m ON m.id = e.member_id
JOIN regions r ON r.name = e.written_in
WHERE r.residency_group <> m.residency_group
ORDER BY e.member_id, e.seq";

const CHAIN: &str = "
SELECT e.member_id, e.seq, e.kind, e.available_delta, e.pending_delta, e.held_delta, e.lifetime_delta,
       e.qualifying_delta, e.reason, e.source, e.reference, e.hold_id, e.details, e.written_in,
       e.created_at, e.entry_hash
FROM ledger_entries e ORDER BY e.member_id, e.seq";

/// One member's balance row of [`BALANCE_CHECK`] against its ledger sums, lots and holds.
fn check_balance(row: &tokio_postgres::Row, report: &mut AuditReport) {
    let member: Uuid = row.get(0);
    report.members_checked += 1;
    let columns = [
        "available",
        "pending",
        "held",
        "lifetime",
        "qualifying",
        "last_seq",
    ];
    for (i, column) in columns.iter().enumerate() {
        let (stored, summed): (i64, i64) = (row.get(1 + i), row.get(7 + i));
        if stored != summed {
            report.push(
                Some(member),
                "balance_equals_ledger",
                format!("{column}: balance {stored}, ledger {summed}"),
            );
        }
        if stored < 0 {
            report.push(
                Some(member),
                "not_negative",
                format!("{column} is {stored}"),
            );
        }
    }
    let (available, pending, held, last_seq): (i64, i64, i64, i64) =
        (row.get(1), row.get(2), row.get(3), row.get(6));
    let (entries, lots, active_holds, pending_lots): (i64, i64, i64, i64) =
        (row.get(13), row.get(14), row.get(15), row.get(16));
    let checks = [
        (
            entries == last_seq,
            "sequence_dense",
            format!("{entries} entries, last_seq {last_seq}"),
        ),
        (
            pending_lots == pending,
            "lots_equal_pending",
            format!("pending lots {pending_lots}, pending {pending}"),
        ),
        (
            lots == available,
            "lots_equal_available",
            format!("lots {lots}, available {available}"),
        ),
        (
            active_holds == held,
            "holds_equal_held",
            format!("active holds {active_holds}, held {held}"),
        ),
    ];
    for (holds, check, detail) in checks {
        if !holds {
            report.push(Some(member), check, detail);
        }
    }
}

impl Db {
    pub async fn audit(&self) -> Result<AuditReport> {
        let client = self.conn().await?;
        // One snapshot for every check, so concurrent writes cannot look like mismatches.
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let mut report = AuditReport::default();
        // Streamed, one member at a time: the audit's memory does not grow with the members.
        let balance_rows = client
            .query_raw(BALANCE_CHECK, std::iter::empty::<i64>())
            .await?;
        pin_mut!(balance_rows);
        while let Some(row) = balance_rows.next().await {
            check_balance(&row?, &mut report);
        }
        for row in client.query(DUPLICATE_EARNS, &[]).await? {
            let (source, reference, n): (Option<String>, Option<String>, i64) =
                (row.get(0), row.get(1), row.get(2));
            report.push(
                None,
                "earned_once",
                format!("{source:?}/{reference:?} earned {n} times"),
            );
        }
        fence_and_residency(&client, &mut report).await?;
        self.verify_chains(&client, &mut report).await?;
        let verifier = self.digest_keys().verifier.as_ref();
        super::digest::verify_latest(&client, verifier, &mut report).await?;
        client.batch_execute("COMMIT").await?;
        Ok(report)
    }

    async fn verify_chains(
        &self,
        client: &deadpool_postgres::ClientWrapper,
        report: &mut AuditReport,
    ) -> Result<()> {
        let stmt = client.prepare(CHAIN).await?;
        let rows = client.query_raw(&stmt, std::iter::empty::<i64>()).await?;
        pin_mut!(rows);
        let mut current: Option<(Uuid, Vec<u8>, i64)> = None;
        while let Some(row) = rows.next().await {
            let row = row?;
            report.entries_checked += 1;
            let member: Uuid = row.get(0);
            let seq: i64 = row.get(1);
            let (prev, expected_seq) = match &current {
                Some((m, hash, last)) if *m == member => (hash.clone(), last + 1),
                _ => (genesis_hash(member), 1),
            };
            if seq != expected_seq {
                report.push(
                    Some(member),
                    "sequence_dense",
                    format!("entry {seq} follows {}", expected_seq - 1),
                );
            }
            let details: Value = row.get(12);
            let input = HashInput {
                member_id: member,
                seq,
                kind: row.get(2),
                deltas: Deltas {
                    available: row.get(3),
                    pending: row.get(4),
                    held: row.get(5),
                    lifetime: row.get(6),
                    qualifying: row.get(7),
                },
                reason: row.get(8),
                source: row.get(9),
                reference: row.get(10),
                hold_id: row.get(11),
                details: &details,
                written_in: row.get(13),
                created_at: row.get(14),
            };
            let stored: Vec<u8> = row.get(15);
            if input.chain(&prev) != stored {
                report.push(
                    Some(member),
                    "chain_verifies",
                    format!("entry {seq} does not match its hash"),
                );
            }
            current = Some((member, stored, seq));
        }
        Ok(())
    }
}

/// The fence and residency checks: no entry committed at a fenced epoch, none written from
/// another residency group.
async fn fence_and_residency(
    client: &deadpool_postgres::ClientWrapper,
    report: &mut AuditReport,
) -> Result<()> {
    for row in client.query(WRITTEN_WHILE_FENCED, &[]).await? {
        let (member, seq, region, epoch, state): (Uuid, i64, String, i64, Option<String>) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let state = state.unwrap_or_else(|| "unrecorded".to_owned());
        report.push(
            Some(member),
            "not_written_while_fenced",
            format!("entry {seq} written by {region} at epoch {epoch}, when it was {state}"),
        );
    }
    for row in client.query(WRITTEN_ACROSS_GROUPS, &[]).await? {
        let (member, seq, region, group, writer_group): (Uuid, i64, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        report.push(
            Some(member),
            "written_in_residency_group",
            format!("entry {seq} of a member of {group} written by {region} ({writer_group})"),
        );
    }
    Ok(())
}
