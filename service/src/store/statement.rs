//! A member's statement for a period: the balance at its start, every entry of the period
//! with its reason, and the balance at its end, all read from one snapshot. The closing
//! balance is summed by the database on its own, not derived from the lines, so that a
//! statement whose lines do not add up is visible (`tests/api/statement.rs`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Db;
use super::members::member_on;
use crate::error::Result;

/// Balances at an instant: what the entries before it add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Totals {
    pub available: i64,
    pub pending: i64,
    pub held: i64,
}

/// One entry of the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementLine {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub reason: String,
    pub source: Option<String>,
    pub reference: Option<String>,
    pub available: i64,
    pub pending: i64,
    pub held: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Statement {
    pub member_id: Uuid,
    /// The period: from inclusive, to exclusive.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub opening: Totals,
    pub lines: Vec<StatementLine>,
    pub closing: Totals,
}

const TOTALS_BEFORE: &str = "SELECT COALESCE(SUM(available_delta), 0)::BIGINT, COALESCE(SUM(pending_delta), 0)::BIGINT, \
     COALESCE(SUM(held_delta), 0)::BIGINT FROM ledger_entries WHERE member_id = $1 AND created_at < $2";

fn totals(row: &tokio_postgres::Row) -> Totals {
    Totals {
        available: row.get(0),
        pending: row.get(1),
        held: row.get(2),
    }
}

impl Db {
    /// The statement of `[from, to)`; the caller bounds the period.
    pub async fn statement(
        &self,
        region: &str,
        member_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Statement> {
        let mut client = self.conn().await?;
        member_on(&client, region, member_id).await?;
        // One snapshot: a write committing meanwhile is in all three reads or in none.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let opening = totals(&tx.query_one(TOTALS_BEFORE, &[&member_id, &from]).await?);
        let rows = tx
            .query(
                "SELECT seq, created_at, kind, reason, source, reference, available_delta, pending_delta, held_delta \
                 FROM ledger_entries WHERE member_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY seq",
                &[&member_id, &from, &to],
            )
            .await?;
        let closing = totals(&tx.query_one(TOTALS_BEFORE, &[&member_id, &to]).await?);
        tx.commit().await?;
        let lines = rows
            .iter()
            .map(|r| StatementLine {
                seq: r.get(0),
                at: r.get(1),
                kind: r.get(2),
                reason: r.get(3),
                source: r.get(4),
                reference: r.get(5),
                available: r.get(6),
                pending: r.get(7),
                held: r.get(8),
            })
            .collect();
        Ok(Statement {
            member_id,
            from,
            to,
            opening,
            lines,
            closing,
        })
    }
}
