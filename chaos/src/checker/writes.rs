//! The history against the ledger: every acknowledged write present exactly once, every
//! definite refusal absent, every unknown present at most once, and nothing written that no
//! client asked for.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use tokio_postgres::Client;

use super::Violation;
use crate::error::Result;
use crate::workload::ops::EARN_SOURCE;
use crate::workload::{History, Op, OpKind, Outcome};

/// Ledger entries per (kind, reference or hold id).
struct Ledger {
    entries: HashMap<(String, String), u64>,
    earns: HashMap<String, u64>,
    holds: HashMap<String, u64>,
}

async fn load(client: &Client) -> Result<Ledger> {
    let mut entries = HashMap::new();
    let rows = client
        .query(
            "SELECT kind, COALESCE(reference, hold_id::TEXT, ''), count(*) FROM ledger_entries \
             WHERE kind IN ('earn', 'redeem', 'hold', 'capture', 'void', 'transfer') \
             AND (kind <> 'earn' OR source = $1) GROUP BY 1, 2",
            &[&EARN_SOURCE],
        )
        .await?;
    for row in rows {
        let count: i64 = row.get(2);
        entries.insert((row.get(0), row.get(1)), count.unsigned_abs());
    }
    let count_by = |rows: Vec<tokio_postgres::Row>| {
        rows.into_iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).unsigned_abs()))
            .collect::<HashMap<_, _>>()
    };
    let earns = count_by(
        client
            .query(
                "SELECT booking_ref, count(*) FROM earns WHERE source = $1 GROUP BY 1",
                &[&EARN_SOURCE],
            )
            .await?,
    );
    let holds = count_by(
        client
            .query("SELECT reference, count(*) FROM holds GROUP BY 1", &[])
            .await?,
    );
    Ok(Ledger {
        entries,
        earns,
        holds,
    })
}

impl Ledger {
    fn entries(&self, kind: &str, key: &str) -> u64 {
        self.entries
            .get(&(kind.to_owned(), key.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// How many times `op`'s effect is in the database, or a violation when its rows disagree
    /// with each other (an earn entry without its earns row, half a transfer).
    fn instances(&self, op: &Op) -> std::result::Result<u64, String> {
        match &op.kind {
            OpKind::Earn { booking_ref } => {
                let (entries, rows) = (
                    self.entries("earn", booking_ref),
                    self.earns.get(booking_ref).copied().unwrap_or(0),
                );
                agree(entries, rows, "earn entries", "earns rows")
            }
            OpKind::Redeem { reference } => Ok(self.entries("redeem", reference)),
            OpKind::Hold { reference } => {
                let (entries, rows) = (
                    self.entries("hold", reference),
                    self.holds.get(reference).copied().unwrap_or(0),
                );
                agree(entries, rows, "hold entries", "holds rows")
            }
            OpKind::Capture { hold_id } => Ok(self.entries("capture", &hold_id.to_string())),
            OpKind::Void { hold_id } => Ok(self.entries("void", &hold_id.to_string())),
            OpKind::Transfer { reference, .. } => {
                let legs = self.entries("transfer", reference);
                if legs.is_multiple_of(2) {
                    Ok(legs / 2)
                } else {
                    Err(format!(
                        "{legs} transfer entries: one leg without the other"
                    ))
                }
            }
            OpKind::Balance => Ok(0),
        }
    }
}

fn agree(a: u64, b: u64, a_name: &str, b_name: &str) -> std::result::Result<u64, String> {
    if a == b {
        Ok(a)
    } else {
        Err(format!("{a} {a_name} but {b} {b_name}"))
    }
}

/// Totals the report shows next to the violations.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct WriteStats {
    pub acknowledged: u64,
    pub refused: u64,
    pub unknown: u64,
    /// Unknown writes found applied.
    pub unknown_applied: u64,
    /// Acknowledged writes not in the database: the RPO.
    pub acknowledged_lost: u64,
}

/// Checks every write of `history` against the database.
pub async fn check(
    history: &History,
    client: &Client,
    violations: &mut Vec<Violation>,
) -> Result<WriteStats> {
    let ledger = load(client).await?;
    let mut stats = WriteStats::default();
    for op in history.writes() {
        let found = match ledger.instances(op) {
            Ok(found) => found,
            Err(problem) => {
                violations.push(violation(op, "inconsistent_rows", &problem));
                continue;
            }
        };
        match op.outcome {
            Outcome::Ok => {
                stats.acknowledged += 1;
                if found == 0 {
                    stats.acknowledged_lost += 1;
                    violations.push(violation(
                        op,
                        "acknowledged_write_lost",
                        "not in the database",
                    ));
                } else if found > 1 {
                    violations.push(violation(
                        op,
                        "write_duplicated",
                        &format!("present {found} times"),
                    ));
                }
            }
            Outcome::Fail => {
                stats.refused += 1;
                if found > 0 {
                    violations.push(violation(
                        op,
                        "refused_write_present",
                        &format!("present {found} times"),
                    ));
                }
            }
            Outcome::Unknown => {
                stats.unknown += 1;
                stats.unknown_applied += u64::from(found > 0);
                if found > 1 {
                    violations.push(violation(
                        op,
                        "write_duplicated",
                        &format!("present {found} times"),
                    ));
                }
            }
        }
    }
    phantoms(history, &ledger, violations);
    Ok(stats)
}

/// Workload references in the ledger that no operation of the history used.
fn phantoms(history: &History, ledger: &Ledger, violations: &mut Vec<Violation>) {
    let known: HashSet<String> = history
        .writes()
        .filter_map(|op| match &op.kind {
            OpKind::Earn { booking_ref: r }
            | OpKind::Redeem { reference: r }
            | OpKind::Hold { reference: r }
            | OpKind::Transfer { reference: r, .. } => Some(r.clone()),
            OpKind::Capture { hold_id } | OpKind::Void { hold_id } => Some(hold_id.to_string()),
            OpKind::Balance => None,
        })
        .collect();
    for ((kind, key), count) in &ledger.entries {
        // Captures release the rest of a hold as a void entry naming the same hold.
        let settled_hold = kind == "void" && ledger.entries("capture", key) > 0;
        if !known.contains(key) && !settled_hold && is_workload_reference(key) {
            violations.push(Violation {
                check: "write_never_invoked".into(),
                message: format!("{count} {kind} entries for {key}, which no operation asked for"),
                evidence: json!({"kind": kind, "key": key, "count": count}),
            });
        }
    }
}

fn violation(op: &Op, check: &'static str, problem: &str) -> Violation {
    Violation {
        check: check.to_owned(),
        message: format!(
            "{} {:?} for member {} (op {}, {:?}): {problem}",
            op.kind.label(),
            op.outcome,
            op.member,
            op.id,
            op.idempotency_key
        ),
        evidence: serde_json::to_value(op).unwrap_or_default(),
    }
}

/// Whether `key` has the form of the workload's references (`s<seed>-c<client>-<n>`).
fn is_workload_reference(key: &str) -> bool {
    key.starts_with('s') && key.contains("-c")
}
