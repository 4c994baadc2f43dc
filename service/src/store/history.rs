//! The member's ledger, newest first, in cursor-paginated pages.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Db;
use super::members::member_on;
use crate::error::Result;

/// Largest page a client may ask for, and the page size when it does not say.
pub const MAX_PAGE_SIZE: i64 = 200;
pub const DEFAULT_PAGE_SIZE: i64 = 50;
const _: () = assert!(DEFAULT_PAGE_SIZE <= MAX_PAGE_SIZE);

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LedgerEntry)]
pub struct EntryView {
    pub entry_id: Uuid,
    pub seq: i64,
    pub kind: String,
    /// Change of spendable points.
    pub points: i64,
    pub pending_delta: i64,
    pub held_delta: i64,
    pub reason: String,
    pub source: Option<String>,
    pub reference: Option<String>,
    pub hold_id: Option<Uuid>,
    /// What the entry did, by kind: the calculation of an earn, the lots a redemption took.
    #[schema(value_type = Object)]
    pub details: Value,
    pub region: String,
    pub created_at: DateTime<Utc>,
}

/// The columns an [`EntryView`] reads, in order.
pub(super) const ENTRY_COLUMNS: &str = "id, seq, kind, available_delta, pending_delta, held_delta, reason, source, reference, \
     hold_id, details, written_in, created_at";

impl EntryView {
    /// An entry from a row of [`ENTRY_COLUMNS`].
    pub(super) fn from_row(r: &tokio_postgres::Row) -> Self {
        Self {
            entry_id: r.get(0),
            seq: r.get(1),
            kind: r.get(2),
            points: r.get(3),
            pending_delta: r.get(4),
            held_delta: r.get(5),
            reason: r.get(6),
            source: r.get(7),
            reference: r.get(8),
            hold_id: r.get(9),
            details: r.get(10),
            region: r.get(11),
            created_at: r.get(12),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryPage {
    pub entries: Vec<EntryView>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl Db {
    /// `before` is the cursor of the previous page: entries with a smaller sequence number.
    pub async fn history(
        &self,
        region: &str,
        member_id: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<HistoryPage> {
        let client = self.conn().await?;
        member_on(&client, region, member_id).await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, seq, kind, available_delta, pending_delta, held_delta, reason, source, reference, \
                        hold_id, details, written_in, created_at \
                 FROM ledger_entries WHERE member_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
            )
            .await?;
        // One extra row tells whether there is a next page.
        let rows = client
            .query(
                &stmt,
                &[&member_id, &before.unwrap_or(i64::MAX), &(limit + 1)],
            )
            .await?;
        let mut entries: Vec<EntryView> = rows.iter().map(EntryView::from_row).collect();
        let more = entries.len() as i64 > limit;
        entries.truncate(limit as usize);
        let next_cursor = more
            .then(|| entries.last().map(|e| e.seq.to_string()))
            .flatten();
        Ok(HistoryPage {
            entries,
            next_cursor,
        })
    }
}

/// Points that will expire soon, for notifications ("30/7/1 days left").
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Expiring)]
pub struct ExpiringView {
    pub member_id: Uuid,
    pub within_days: i64,
    pub points: i64,
    pub lots: Vec<ExpiringLot>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpiringLot {
    pub lot_id: Uuid,
    pub points: i64,
    pub expires_at: DateTime<Utc>,
}

/// Lots listed per answer, earliest expiry first.
pub const MAX_EXPIRING_LOTS: i64 = 100;

impl Db {
    pub async fn expiring(
        &self,
        region: &str,
        member_id: Uuid,
        within_days: i64,
    ) -> Result<ExpiringView> {
        let client = self.conn().await?;
        member_on(&client, region, member_id).await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, remaining, expires_at FROM lots \
                 WHERE member_id = $1 AND remaining > 0 AND vests_at IS NULL AND expires_at < $2 \
                 ORDER BY expires_at, id LIMIT $3",
            )
            .await?;
        let until = Utc::now() + chrono::Duration::days(within_days);
        let rows = client
            .query(&stmt, &[&member_id, &until, &MAX_EXPIRING_LOTS])
            .await?;
        let lots: Vec<ExpiringLot> = rows
            .iter()
            .map(|r| ExpiringLot {
                lot_id: r.get(0),
                points: r.get(1),
                expires_at: r.get(2),
            })
            .collect();
        Ok(ExpiringView {
            member_id,
            within_days,
            points: lots.iter().map(|l| l.points).sum(),
            lots,
        })
    }
}
