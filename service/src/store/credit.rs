//! Points credited outside a booking (a partner's bonus, an activity): an earn entry and a
//! lot that expires like any other, counting towards lifetime points but not the tier.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::context::MemberCtx;
use super::ledger::{Appended, Deltas, Draft, EntryKind};
use super::lots::{self, NewLot};
use super::tx::Tx;
use crate::error::Result;

/// What is credited, and under which source and reference the entry records it.
pub struct Credit<'a> {
    pub points: i64,
    pub reason: &'a str,
    pub source: &'a str,
    pub reference: &'a str,
    pub details: Value,
    pub lot_expiry: Duration,
}

/// Appends the entry and creates its lot; answers the entry and when the points expire.
pub async fn credit(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    c: Credit<'_>,
    now: DateTime<Utc>,
) -> Result<(Appended, DateTime<Utc>)> {
    let draft = Draft {
        source: Some(c.source),
        reference: Some(c.reference),
        ..Draft::new(
            EntryKind::Earn,
            Deltas {
                available: c.points,
                lifetime: c.points,
                ..Deltas::default()
            },
            c.reason,
            c.details,
        )
    };
    let appended = ctx.append(tx, now, draft).await?;
    let expires_at = now + c.lot_expiry;
    let lot = NewLot {
        id: Uuid::new_v4(),
        member_id: ctx.member_id,
        home_region: &ctx.home_region,
        earn_seq: appended.seq,
        points: c.points,
        expires_at,
        vests_at: None,
        qualifying: 0,
        qualifying_until: None,
    };
    lots::create(tx, lot, now).await?;
    Ok((appended, expires_at))
}
