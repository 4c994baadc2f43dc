//! Writing the outbox (docs/events.md): one row per event, queued on the caller's
//! transaction like every other write, so it commits or rolls back with the movement.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::ledger::{Deltas, Draft};
use super::tx::Tx;
use crate::domain::events::{Event, EventType};
use crate::error::Result;

/// Queues `event` for `home_region`'s outbox.
pub async fn record(tx: &Tx<'_>, event: &Event, home_region: &str) -> Result<()> {
    tx.write(
        "INSERT INTO outbox (member_id, member_seq, type, id, home_region, event, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        super::tx::params![
            event.member_id,
            event.member_seq,
            event.kind.type_name(),
            event.id,
            home_region.to_owned(),
            event.to_cloudevent(),
            event.time,
        ],
    )
    .await
}

/// Where a ledger entry was written, for its event.
pub struct Written<'a> {
    pub member_id: Uuid,
    pub seq: i64,
    pub entry_id: Uuid,
    pub region: &'a str,
    pub at: DateTime<Utc>,
}

/// The event of a ledger entry: its kind's type, its deltas and references. The entry's
/// details are left out (they name the acting token's subject) except the partner's part.
pub fn of_entry(written: &Written<'_>, draft: &Draft<'_>) -> Option<Event> {
    let kind = EventType::of_entry(draft.kind.as_str(), draft.reason)?;
    Some(Event {
        id: Uuid::new_v4(),
        kind,
        member_id: written.member_id,
        member_seq: written.seq,
        region: written.region.to_owned(),
        time: written.at,
        data: json!({
            "entry_id": written.entry_id,
            "kind": draft.kind.as_str(),
            "reason": draft.reason,
            "source": draft.source,
            "reference": draft.reference,
            "hold_id": draft.hold_id,
            "deltas": deltas(&draft.deltas),
            "partner": draft.details.get("partner").cloned().unwrap_or(Value::Null),
        }),
    })
}

fn deltas(d: &Deltas) -> Value {
    json!({
        "available": d.available,
        "pending": d.pending,
        "held": d.held,
        "lifetime": d.lifetime,
        "qualifying": d.qualifying,
    })
}
