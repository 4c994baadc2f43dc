//! Earning points for a booking, and reversing an earn when the booking is refunded.
//!
//! The pricing is pure (`domain::booking`); the unit reads the member and any earlier earn
//! of the booking, applies the campaign caps, and writes the entry, the lot, the earn record
//! and the balance.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::context::{Balance, MemberCtx, member_ctx};
use super::idempotency::{Outcome, stored_value, to_json};
use super::ledger::{Deltas, Draft, EntryKind};
use super::tx::{Tx, settle_pair};
use super::{Committed, Db, IdemRequest, caps, lots, now_micros, tiers};
use crate::api::{BalanceAfter, EarnExplanation, Earned, Reversed};
use crate::domain::booking::{lot_lifetime, partner_bonus, plan_earn, total_points};
use crate::domain::{Booking, Earner, Points, Programme, Reference, Refusal, Residency, Source};
use crate::error::Result;

/// How long an earn's points live, and how long they count towards the tier.
#[derive(Debug, Clone, Copy)]
pub struct EarnWindows {
    pub lot_expiry: Duration,
    pub qualifying: Duration,
}

#[derive(Debug, Clone)]
pub struct ReverseRequest {
    pub source: Source,
    pub booking_ref: Reference,
    /// Points to reverse; `None` reverses everything not yet reversed.
    pub points: Option<Points>,
}

/// The balance as it stands after a write, included in every mutating response.
pub fn balance_after(b: &Balance) -> BalanceAfter {
    BalanceAfter {
        available: b.available,
        pending: b.pending,
        held: b.held,
        lifetime: b.lifetime,
        qualifying: b.qualifying,
    }
}

/// The fence, the member and the booking's earlier earn, if any, in one round trip. A
/// booking earned by another member is refused.
async fn read_earn(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    booking: &Booking,
) -> Result<(MemberCtx, Option<Earned>)> {
    let (ctx, earned) = tokio::join!(member_ctx(tx, region, member_id), async {
        tx.query_opt(
            "SELECT member_id, response FROM earns WHERE source = $1 AND booking_ref = $2",
            &[&booking.source.as_str(), &booking.booking_ref.as_str()],
        )
        .await
    });
    let (ctx, earned) = settle_pair(ctx, earned)?;
    let Some(row) = earned else {
        return Ok((ctx, None));
    };
    if row.get::<_, Uuid>(0) != member_id {
        return Err(Refusal::BookingAlreadyEarned.into());
    }
    Ok((ctx, Some(stored_value("earn", row.get(1))?)))
}

/// A booking priced for this member, campaign caps applied (their counters are written).
struct Priced {
    explanation: EarnExplanation,
    points: i64,
    lifetime: Duration,
}

async fn price(
    tx: &Tx<'_>,
    ctx: &MemberCtx,
    booking: &Booking,
    programme: &Programme,
    windows: EarnWindows,
) -> Result<Priced> {
    let residency = Residency::stored(&ctx.residency_group, &ctx.home_region)?;
    let earner = Earner {
        tier: ctx.tier,
        residency: &residency,
    };
    let (breakdown, plan) = plan_earn(programme, booking, earner)?;
    let granted = caps::apply(
        tx,
        ctx.member_id,
        &ctx.home_region,
        &plan.campaigns,
        &programme.campaigns,
        booking.booked_at,
    )
    .await?;
    let partner = partner_bonus(booking, &breakdown)?;
    let extra = partner.as_ref().map_or(0, |p| p.points);
    let points = total_points(plan.tier_points, &granted, extra)?;
    Ok(Priced {
        lifetime: lot_lifetime(&plan.campaigns, &programme.campaigns, windows.lot_expiry),
        points,
        explanation: EarnExplanation {
            calculation: breakdown,
            tier: plan.tier,
            tier_multiplier_milli: plan.tier_multiplier_milli,
            tier_points: plan.tier_points,
            campaigns: granted,
            partner,
        },
    })
}

/// Pending points move only `pending`; vested ones count at once.
fn earn_deltas(points: i64, pending: bool) -> Deltas {
    if pending {
        Deltas {
            pending: points,
            ..Deltas::default()
        }
    } else {
        Deltas {
            available: points,
            lifetime: points,
            qualifying: points,
            ..Deltas::default()
        }
    }
}

/// The ledger entry of an earn: its deltas, its reason and the explanation as details.
fn earn_draft<'a>(booking: &'a Booking, priced: &Priced, pending: bool) -> Result<Draft<'a>> {
    let reason = if pending {
        "booking (pending until vested)"
    } else {
        "booking"
    };
    Ok(Draft {
        source: Some(booking.source.as_str()),
        reference: Some(booking.booking_ref.as_str()),
        ..Draft::new(
            EntryKind::Earn,
            earn_deltas(priced.points, pending),
            reason,
            to_json(&priced.explanation)?,
        )
    })
}

/// Queues the booking's earn record: it answers a later earn of the same booking.
async fn record_earn(
    tx: &Tx<'_>,
    booking: &Booking,
    earned: &Earned,
    home_region: &str,
    seq: i64,
    lot_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.write(
        "INSERT INTO earns (source, booking_ref, member_id, home_region, entry_seq, lot_id, points, response, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        super::tx::params![
            booking.source.as_str().to_owned(),
            booking.booking_ref.as_str().to_owned(),
            earned.member_id,
            home_region.to_owned(),
            seq,
            lot_id,
            earned.points,
            to_json(earned)?,
            now,
        ],
    )
    .await
}

async fn earn_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    booking: &Booking,
    programme: &Programme,
    windows: EarnWindows,
) -> Result<Outcome<Earned>> {
    let (mut ctx, earlier) = read_earn(tx, region, member_id, booking).await?;
    if let Some(earned) = earlier {
        return Ok(Outcome {
            value: earned,
            home_region: ctx.home_region,
            replayed: true,
        });
    }
    let priced = price(tx, &ctx, booking, programme, windows).await?;
    let now = now_micros();
    let pending = booking.vests_at.filter(|v| *v > now);
    // Every write is queued: the entry, the lot, the earn record and the balance go out with
    // the idempotency record and COMMIT, in one round trip.
    let appended = ctx
        .append(tx, now, earn_draft(booking, &priced, pending.is_some())?)
        .await?;
    let expires_at = now + priced.lifetime;
    let lot_id = Uuid::new_v4();
    let lot = lots::NewLot {
        id: lot_id,
        member_id,
        home_region: &ctx.home_region,
        earn_seq: appended.seq,
        points: priced.points,
        expires_at,
        vests_at: pending,
        qualifying: priced.points,
        // A pending lot starts to qualify when it vests.
        qualifying_until: pending.is_none().then(|| now + windows.qualifying),
    };
    lots::create(tx, lot, now).await?;
    let tier_upgraded_to = match pending {
        None => tiers::upgrade(tx, &ctx, &programme.tiers, now).await?,
        Some(_) => None,
    };
    let earned = Earned {
        entry_id: appended.id,
        member_id,
        points: priced.points,
        pending: pending.is_some(),
        vests_at: pending,
        source: booking.source.as_str().to_owned(),
        booking_ref: booking.booking_ref.as_str().to_owned(),
        expires_at,
        balance: balance_after(&ctx.balance),
        explanation: priced.explanation,
        tier_upgraded_to,
    };
    record_earn(
        tx,
        booking,
        &earned,
        &ctx.home_region,
        appended.seq,
        lot_id,
        now,
    )
    .await?;
    ctx.write_balance(tx, now).await?;
    Ok(Outcome::new(earned, ctx.home_region))
}

/// The lot of the member's earn of the booking, and the points to reverse; refuses a
/// reversal of more than is left to reverse.
async fn reversible_earn(
    tx: &Tx<'_>,
    member_id: Uuid,
    req: &ReverseRequest,
) -> Result<(Uuid, i64)> {
    let row = tx
        .query_opt(
            "SELECT member_id, lot_id, points, reversed FROM earns WHERE source = $1 AND booking_ref = $2",
            &[&req.source.as_str(), &req.booking_ref.as_str()],
        )
        .await?
        .filter(|row| row.get::<_, Uuid>(0) == member_id)
        .ok_or(Refusal::EarnNotFound)?;
    let reversible = row.get::<_, i64>(2) - row.get::<_, i64>(3);
    if reversible == 0 {
        return Err(Refusal::AlreadyReversed.into());
    }
    let requested = req.points.map_or(reversible, Points::get);
    if requested > reversible {
        return Err(Refusal::ReversalExceedsEarn { reversible }.into());
    }
    Ok((row.get(1), requested))
}

/// What a reversal takes back: the balance movement, the points clawed back and the lots
/// they came from.
struct Clawback {
    deltas: Deltas,
    clawed_back: i64,
    taken: Vec<lots::Allocation>,
}

/// A booking cancelled before its points vested: they leave `pending` from their own lot,
/// never having counted towards lifetime or qualifying points.
async fn claw_back_pending(
    tx: &Tx<'_>,
    lot_id: Uuid,
    requested: i64,
    remaining: i64,
) -> Result<Clawback> {
    let points = requested.min(remaining);
    let taken = vec![lots::Allocation {
        lot: lot_id,
        points,
    }];
    lots::adjust(tx, &taken, -1).await?;
    Ok(Clawback {
        deltas: Deltas {
            pending: -points,
            ..Deltas::default()
        },
        clawed_back: points,
        taken,
    })
}

/// Vested points come out of the earn's own lot first, then the member's other available
/// points; lifetime and qualifying points drop by the whole reversal.
async fn claw_back_available(
    tx: &Tx<'_>,
    ctx: &MemberCtx,
    lot_id: Uuid,
    requested: i64,
) -> Result<Clawback> {
    let clawed_back = requested.min(ctx.balance.available);
    let taken = lots::consume(tx, ctx.member_id, clawed_back, Some(lot_id)).await?;
    // The reversed points stop qualifying now, so they must not age out again later.
    tx.write(
        "UPDATE lots SET qualifying = GREATEST(qualifying - $2, 0) WHERE id = $1",
        super::tx::params![lot_id, requested],
    )
    .await?;
    Ok(Clawback {
        deltas: Deltas {
            available: -clawed_back,
            lifetime: -requested,
            qualifying: -requested.min(ctx.balance.qualifying),
            ..Deltas::default()
        },
        clawed_back,
        taken,
    })
}

/// Reversal policy (docs/adr/0005-reversals.md): the reversed points first come out of the
/// earn's own lot, then out of the member's other available points, earliest-expiring
/// first. Points already spent or held are not clawed back: the shortfall is recorded on
/// the entry and in the response, and the balance never goes negative. Lifetime and
/// qualifying points drop by the full reversed amount.
async fn reverse_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    req: &ReverseRequest,
) -> Result<Outcome<Reversed>> {
    let mut ctx = member_ctx(tx, region, member_id).await?;
    let (lot_id, requested) = reversible_earn(tx, member_id, req).await?;
    let pending = tx
        .query_opt(
            "SELECT remaining FROM lots WHERE id = $1 AND vests_at IS NOT NULL",
            &[&lot_id],
        )
        .await?
        .map(|r| r.get::<_, i64>(0));
    let clawback = match pending {
        Some(remaining) => claw_back_pending(tx, lot_id, requested, remaining).await?,
        None => claw_back_available(tx, &ctx, lot_id, requested).await?,
    };
    let shortfall = requested - clawback.clawed_back;
    let now = now_micros();
    let details = to_json(&ReversalDetails {
        reversed: requested,
        clawed_back: clawback.clawed_back,
        shortfall,
        lots: &clawback.taken,
    })?;
    let reason = if pending.is_some() {
        "booking cancelled before vesting"
    } else {
        "booking refunded"
    };
    let draft = Draft {
        source: Some(req.source.as_str()),
        reference: Some(req.booking_ref.as_str()),
        ..Draft::new(EntryKind::Reverse, clawback.deltas, reason, details)
    };
    let entry = ctx.append(tx, now, draft).await?;
    tx.write(
        "UPDATE earns SET reversed = reversed + $3 WHERE source = $1 AND booking_ref = $2",
        super::tx::params![
            req.source.as_str().to_owned(),
            req.booking_ref.as_str().to_owned(),
            requested,
        ],
    )
    .await?;
    ctx.write_balance(tx, now).await?;
    let reversed = Reversed {
        entry_id: entry.id,
        member_id,
        reversed: requested,
        clawed_back: clawback.clawed_back,
        shortfall,
        balance: balance_after(&ctx.balance),
    };
    Ok(Outcome::new(reversed, ctx.home_region))
}

/// The details of a reversal's ledger entry.
#[derive(serde::Serialize)]
struct ReversalDetails<'a> {
    reversed: i64,
    clawed_back: i64,
    shortfall: i64,
    lots: &'a [lots::Allocation],
}

impl Db {
    pub async fn earn(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: Booking,
        programme: Arc<Programme>,
        windows: EarnWindows,
    ) -> Result<Committed<Earned>> {
        let _queue = self.member_lock(member_id).await;
        // Earns that may draw on a campaign budget also queue per campaign: the budget row is
        // shared by every member, and queueing here spares SERIALIZABLE the retries.
        let budgeted: Vec<String> = programme
            .campaigns
            .iter()
            .filter(|c| c.spec.caps.budget_points.is_some() && c.spec.is_active_at(req.booked_at))
            .map(|c| format!("{}/{}", c.namespace, c.name))
            .collect();
        let _budgets = self
            .campaign_lock_keys(budgeted.iter().map(String::as_str))
            .await;
        self.mutate("earn", idem, |tx| {
            let (region, req, programme) = (region.to_owned(), req.clone(), programme.clone());
            Box::pin(
                async move { earn_unit(tx, &region, member_id, &req, &programme, windows).await },
            )
        })
        .await
    }

    pub async fn reverse(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: ReverseRequest,
    ) -> Result<Committed<Reversed>> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("reverse", idem, |tx| {
            let (region, req) = (region.to_owned(), req.clone());
            Box::pin(async move { reverse_unit(tx, &region, member_id, &req).await })
        })
        .await
    }
}
