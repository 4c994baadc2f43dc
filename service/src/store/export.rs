//! Everything the platform holds about a member (docs/privacy.md), as one JSON document
//! streamed section by section from one snapshot: the profile first, then each table's rows
//! as they come from the database. A member with a long history is never held in memory: rows
//! go out through a bounded channel, so a slow reader slows the export, not the heap.

use bytes::Bytes;
use deadpool_postgres::Object;
use futures::channel::mpsc::{Receiver, Sender, channel};
use futures::{SinkExt, StreamExt, pin_mut};
use serde_json::{Value, json};
use tokio_postgres::Row;
use uuid::Uuid;

use super::Db;
use super::history::{ENTRY_COLUMNS, EntryView};
use super::members::{MemberView, member_on};
use crate::error::{Error, Result};

/// Chunks in flight between the database and the client.
const CHUNKS_IN_FLIGHT: usize = 8;

/// A chunk of the document, or the reason it stopped.
pub type Chunk = std::result::Result<Bytes, std::io::Error>;

/// One section: a key of the document and the query of its rows (`$1` the member).
struct Section {
    name: &'static str,
    sql: String,
    row: fn(&Row) -> Value,
    /// One object rather than an array of rows.
    single: bool,
}

fn sections() -> Vec<Section> {
    let section = |name, sql: &str, row, single| Section {
        name,
        sql: sql.to_owned(),
        row,
        single,
    };
    vec![
        section(
            "balance",
            "SELECT available, pending, held, lifetime, qualifying, updated_at FROM balances WHERE member_id = $1",
            |r| {
                json!({"available": r.get::<_, i64>(0), "pending": r.get::<_, i64>(1), "held": r.get::<_, i64>(2),
                       "lifetime": r.get::<_, i64>(3), "qualifying": r.get::<_, i64>(4),
                       "updated_at": r.get::<_, chrono::DateTime<chrono::Utc>>(5)})
            },
            true,
        ),
        section(
            "tier_history",
            "SELECT from_tier, to_tier, reason, qualifying, changed_at FROM tier_history WHERE member_id = $1 ORDER BY changed_at",
            |r| {
                json!({"from": r.get::<_, String>(0), "to": r.get::<_, String>(1), "reason": r.get::<_, String>(2),
                       "qualifying": r.get::<_, i64>(3), "changed_at": r.get::<_, chrono::DateTime<chrono::Utc>>(4)})
            },
            false,
        ),
        section(
            "lots",
            "SELECT id, points, remaining, expires_at, vests_at FROM lots WHERE member_id = $1 ORDER BY expires_at, id",
            |r| {
                json!({"lot_id": r.get::<_, Uuid>(0), "points": r.get::<_, i64>(1), "remaining": r.get::<_, i64>(2),
                       "expires_at": r.get::<_, chrono::DateTime<chrono::Utc>>(3),
                       "vests_at": r.get::<_, Option<chrono::DateTime<chrono::Utc>>>(4)})
            },
            false,
        ),
        section(
            "holds",
            "SELECT id, points, captured, state, reference, expires_at, created_at FROM holds WHERE member_id = $1 ORDER BY created_at",
            |r| {
                json!({"hold_id": r.get::<_, Uuid>(0), "points": r.get::<_, i64>(1), "captured": r.get::<_, i64>(2),
                       "state": r.get::<_, String>(3), "reference": r.get::<_, String>(4),
                       "expires_at": r.get::<_, chrono::DateTime<chrono::Utc>>(5),
                       "created_at": r.get::<_, chrono::DateTime<chrono::Utc>>(6)})
            },
            false,
        ),
        section(
            "referrals",
            "SELECT referred_id, member_id, created_at FROM referrals WHERE member_id = $1 OR referred_id = $1 ORDER BY created_at",
            |r| {
                json!({"referred_member_id": r.get::<_, Uuid>(0), "referrer_member_id": r.get::<_, Uuid>(1),
                       "created_at": r.get::<_, chrono::DateTime<chrono::Utc>>(2)})
            },
            false,
        ),
        section(
            "activities",
            "SELECT kind, source, reference, points, local_day, created_at FROM activity_earns WHERE member_id = $1 ORDER BY created_at",
            |r| {
                json!({"kind": r.get::<_, String>(0), "source": r.get::<_, String>(1), "reference": r.get::<_, String>(2),
                       "points": r.get::<_, i64>(3), "local_day": r.get::<_, chrono::NaiveDate>(4),
                       "created_at": r.get::<_, chrono::DateTime<chrono::Utc>>(5)})
            },
            false,
        ),
        section(
            "identity_hints",
            "SELECT COUNT(*)::BIGINT FROM member_identity_hints WHERE member_id = $1",
            |r| json!({"count": r.get::<_, i64>(0), "stored_as": "sha256"}),
            true,
        ),
        Section {
            name: "ledger_entries",
            sql: format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE member_id = $1 ORDER BY seq"
            ),
            row: |r| serde_json::to_value(EntryView::from_row(r)).unwrap_or(Value::Null),
            single: false,
        },
    ]
}

fn gone() -> Error {
    Error::Invariant("the export's reader went away".to_owned())
}

async fn send(out: &mut Sender<Chunk>, text: String) -> Result<()> {
    out.send(Ok(Bytes::from(text))).await.map_err(|_| gone())
}

/// Writes `"name": <rows>` row by row.
async fn stream_section(
    client: &Object,
    out: &mut Sender<Chunk>,
    s: &Section,
    member: Uuid,
) -> Result<()> {
    let rows = client.query_raw(s.sql.as_str(), [&member]).await?;
    pin_mut!(rows);
    send(
        out,
        format!(",\"{}\":{}", s.name, if s.single { "" } else { "[" }),
    )
    .await?;
    let mut first = true;
    while let Some(row) = rows.next().await {
        let sep = if first { "" } else { "," };
        first = false;
        send(out, format!("{sep}{}", (s.row)(&row?))).await?;
    }
    let close = match (s.single, first) {
        (true, true) => "null",
        (true, false) => "",
        (false, _) => "]",
    };
    send(out, close.to_owned()).await
}

async fn write_document(
    client: &Object,
    member: &MemberView,
    out: &mut Sender<Chunk>,
) -> Result<()> {
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let head = json!({ "format": "loyalty-export/1", "member": member });
    let head = head.to_string();
    // The head object without its closing brace: the sections follow inside it.
    send(out, head[..head.len() - 1].to_owned()).await?;
    for s in sections() {
        stream_section(client, out, &s, member.member_id).await?;
    }
    send(out, "}".to_owned()).await?;
    client.batch_execute("COMMIT").await?;
    Ok(())
}

impl Db {
    /// The member's export, or why it cannot start (404, 421): after the first chunk, a
    /// failure ends the stream early and is logged.
    pub async fn export(&self, region: &str, member_id: Uuid) -> Result<Receiver<Chunk>> {
        let client = self.conn().await?;
        let member = member_on(&client, region, member_id)
            .await?
            .open(self.keyring()?)?;
        let (mut out, rx) = channel(CHUNKS_IN_FLIGHT);
        tokio::spawn(async move {
            if let Err(e) = write_document(&client, &member, &mut out).await {
                tracing::warn!(%member_id, error = %e, "export stopped early");
                // The connection goes back to the pool: it must not stay in the transaction.
                let _ = client.batch_execute("ROLLBACK").await;
                let _ = out
                    .send(Err(std::io::Error::other("export stopped early")))
                    .await;
            }
        });
        Ok(rx)
    }
}
