//! Erasure by crypto-shredding (ADR 0021): the member's data key is deleted, so their sealed
//! profile cannot be opened here or in any copy; the profile columns, blind index and
//! identity hints go too. The ledger, its hash chain and the balance row stay (the audit
//! keeps verifying); active holds are voided and the remaining points forfeited by one
//! `adjust` entry, so nothing is left to spend, expire or vest; a `member.erased` event
//! without personal data records it. Erasing an erased member writes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::context::{MemberCtx, check_serves, member_ctx, region_row};
use super::holds::{end_hold, load_hold};
use super::idempotency::Outcome;
use super::ledger::{Deltas, Draft, EntryKind};
use super::outbox;
use super::tx::{Tx, settle_pair};
use super::{Committed, Db, IdemRequest, now_micros};
use crate::domain::events::{ERASURE_FORFEIT_REASON, ERASURE_VOID_REASON, Event, EventType};
use crate::domain::{HoldStatus, Refusal};
use crate::error::Result;

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Erasure)]
pub struct ErasureView {
    pub member_id: Uuid,
    pub erased_at: DateTime<Utc>,
    /// Active holds this erasure voided.
    pub voided_holds: i64,
    /// Points (available and pending) this erasure forfeited.
    pub forfeited_points: i64,
    /// The member was already erased: this request wrote nothing.
    pub already_erased: bool,
}

/// The member's erasure time, if erased, and home region, after the fence and residency checks.
async fn erased_at(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
) -> Result<(Option<DateTime<Utc>>, String)> {
    let (me, row) = tokio::join!(region_row(tx, region), async {
        tx.query_opt(
            "SELECT m.erased_at, m.residency_group, home.served_by, srv.endpoint, m.home_region \
             FROM members m \
             JOIN regions home ON home.name = m.home_region \
             JOIN regions srv ON srv.name = home.served_by WHERE m.id = $1",
            &[&member_id],
        )
        .await
    });
    let ((me, _epoch), row) = settle_pair(me, row)?;
    let row = row.ok_or(Refusal::MemberNotFound)?;
    check_serves(&me, row.get(1), row.get(2), row.get(3))?;
    Ok((row.get(0), row.get(4)))
}

/// Voids every active hold of the member; returns how many.
async fn void_holds(tx: &Tx<'_>, ctx: &mut MemberCtx) -> Result<i64> {
    let member = ctx.member_id;
    let rows = tx
        .query(
            "SELECT id FROM holds WHERE member_id = $1 AND state = 'active' ORDER BY created_at",
            &[&member],
        )
        .await?;
    for row in &rows {
        let hold = load_hold(tx, member, row.get(0)).await?;
        end_hold(tx, ctx, &hold, HoldStatus::Voided, ERASURE_VOID_REASON).await?;
    }
    Ok(rows.len() as i64)
}

/// Forfeits what is left (available, pending, qualifying) with one entry and empties the
/// lots, so no sweep has anything to expire, vest or age. Returns the points forfeited.
async fn forfeit(tx: &Tx<'_>, ctx: &mut MemberCtx, now: DateTime<Utc>) -> Result<i64> {
    let b = &ctx.balance;
    let (available, pending, qualifying) = (b.available, b.pending, b.qualifying);
    if available != 0 || pending != 0 || qualifying != 0 {
        let deltas = Deltas {
            available: -available,
            pending: -pending,
            qualifying: -qualifying,
            ..Deltas::default()
        };
        let details = json!({ "policy": "forfeit_on_erasure" });
        let draft = Draft::new(EntryKind::Adjust, deltas, ERASURE_FORFEIT_REASON, details);
        ctx.append(tx, now, draft).await?;
    }
    tx.write(
        "UPDATE lots SET remaining = 0, vests_at = NULL, qualifying = 0, qualifying_until = NULL \
         WHERE member_id = $1",
        super::tx::params![ctx.member_id],
    )
    .await?;
    Ok(available + pending)
}

/// Deletes the data key and everything personal that is not sealed by it, and marks the
/// member (and their balance row, for the leaderboard) erased.
async fn shred(tx: &Tx<'_>, member: Uuid, now: DateTime<Utc>) -> Result<()> {
    tx.write(
        "DELETE FROM member_keys WHERE member_id = $1",
        super::tx::params![member],
    )
    .await?;
    tx.write(
        "DELETE FROM member_identity_hints WHERE member_id = $1",
        super::tx::params![member],
    )
    .await?;
    tx.write(
        "UPDATE members SET erased_at = $2, external_id = NULL, country = NULL, \
         external_id_index = NULL, profile_sealed = NULL, tier_below_since = NULL WHERE id = $1",
        super::tx::params![member, now],
    )
    .await?;
    tx.write(
        "UPDATE balances SET erased_at = $2 WHERE member_id = $1",
        super::tx::params![member, now],
    )
    .await
}

/// The `member.erased` event: ids and counts only.
fn erased_event(ctx: &MemberCtx, view: &ErasureView) -> Event {
    Event {
        id: Uuid::new_v4(),
        kind: EventType::MemberErased,
        member_id: ctx.member_id,
        member_seq: ctx.balance.last_seq,
        region: ctx.region.clone(),
        time: view.erased_at,
        data: json!({
            "voided_holds": view.voided_holds,
            "forfeited_points": view.forfeited_points,
        }),
    }
}

async fn erase_unit(tx: &Tx<'_>, region: &str, member_id: Uuid) -> Result<Outcome<ErasureView>> {
    if let (Some(erased_at), home) = erased_at(tx, region, member_id).await? {
        let view = ErasureView {
            member_id,
            erased_at,
            voided_holds: 0,
            forfeited_points: 0,
            already_erased: true,
        };
        return Ok(Outcome::new(view, home));
    }
    let mut ctx = member_ctx(tx, region, member_id).await?;
    let voided_holds = void_holds(tx, &mut ctx).await?;
    let now = now_micros();
    let forfeited_points = forfeit(tx, &mut ctx, now).await?;
    ctx.write_balance(tx, now).await?;
    shred(tx, member_id, now).await?;
    let view = ErasureView {
        member_id,
        erased_at: now,
        voided_holds,
        forfeited_points,
        already_erased: false,
    };
    outbox::record(tx, &erased_event(&ctx, &view), &ctx.home_region).await?;
    Ok(Outcome::new(view, ctx.home_region))
}

impl Db {
    /// Erases a member (see the module docs). Idempotent: a second erasure answers
    /// `already_erased` and writes nothing but its idempotency record.
    pub async fn erase(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
    ) -> Result<Committed<ErasureView>> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("erase", idem, |tx| {
            let region = region.to_owned();
            Box::pin(async move { erase_unit(tx, &region, member_id).await })
        })
        .await
    }
}
