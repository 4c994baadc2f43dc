//! Two-phase redemption: a hold reserves points (they leave `available` for `held`), then
//! is captured in full or in part (the rest is released), voided, or expires.
//!
//! Transitions: active → captured | voided | expired. Every other transition is a 409
//! `hold_not_active` naming the hold's state; capturing more than held is a 422. A hold the
//! fraud rules flagged starts `in_review` and only its review ends it (`store::fraud`).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::context::{MemberCtx, member_ctx};
use super::earn::balance_after;
use super::fraud::Screening;
use super::idempotency::Outcome;
use super::ledger::{Appended, Deltas, Draft, EntryKind};
use super::lots::{self, Allocation};
use super::redeem::{discount, ensure_available, spend_details};
use super::tx::{Tx, settle_pair};
use super::{Committed, Db, IdemRequest, now_micros};
use crate::api::{Held, HoldEnded, HoldState, Screened};
use crate::domain::events::HOLD_EXPIRED_REASON;
use crate::domain::fraud::Operation;
use crate::domain::hold_status::UnknownHoldStatus;
use crate::domain::valuation::{Checkout, Valuation};
use crate::domain::{HoldStatus, Points, Programme, Reference, Refusal};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub points: Points,
    pub reference: Reference,
    pub ttl: Duration,
    /// The booking the points are held for: the redemption rules apply and the discount is
    /// recorded.
    pub checkout: Option<Checkout>,
    /// How long a review of this hold stays open (`ledger.review_ttl_h`).
    pub review_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct CaptureRequest {
    /// Points to capture; `None` captures the whole hold.
    pub points: Option<Points>,
}

pub(super) struct HoldRow {
    pub id: Uuid,
    pub points: i64,
    pub state: HoldStatus,
    pub expires_at: DateTime<Utc>,
    pub allocations: Vec<Allocation>,
}

pub(super) async fn load_hold(tx: &Tx<'_>, member_id: Uuid, hold_id: Uuid) -> Result<HoldRow> {
    let row = tx
        .query_opt(
            "SELECT points, state, expires_at, allocations FROM holds WHERE id = $1 AND member_id = $2",
            &[&hold_id, &member_id],
        )
        .await?
        .ok_or(Refusal::HoldNotFound)?;
    let allocations = serde_json::from_value(row.get(3)).map_err(|e| {
        Error::Invariant(format!(
            "hold {hold_id}'s stored allocations are unreadable: {e}"
        ))
    })?;
    Ok(HoldRow {
        id: hold_id,
        points: row.get(0),
        state: row
            .get::<_, &str>(1)
            .parse()
            .map_err(|e: UnknownHoldStatus| Error::Invariant(e.to_string()))?,
        expires_at: row.get(2),
        allocations,
    })
}

/// The member (fence and residency first) and their hold, read in one round trip.
pub(super) async fn member_and_hold(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    hold_id: Uuid,
) -> Result<(MemberCtx, HoldRow)> {
    let (ctx, hold) = tokio::join!(
        member_ctx(tx, region, member_id),
        load_hold(tx, member_id, hold_id)
    );
    settle_pair(ctx, hold)
}

fn ensure_active(hold: &HoldRow) -> Result<()> {
    if hold.state != HoldStatus::Active {
        return Err(Refusal::HoldNotActive {
            state: hold.state.as_str().to_owned(),
        }
        .into());
    }
    Ok(())
}

pub(super) async fn set_state(
    tx: &Tx<'_>,
    hold_id: Uuid,
    state: HoldStatus,
    captured: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.write(
        "UPDATE holds SET state = $2, captured = $3, updated_at = $4 WHERE id = $1",
        super::tx::params![hold_id, state.as_str(), captured, now],
    )
    .await
}

/// Gives `allocations` back to their lots and moves their points from held to available.
pub(super) async fn release(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    hold: &HoldRow,
    allocations: &[Allocation],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let points: i64 = allocations.iter().map(|a| a.points).sum();
    if points == 0 {
        return Ok(0);
    }
    lots::adjust(tx, allocations, 1).await?;
    ctx.append(
        tx,
        now,
        Draft {
            hold_id: Some(hold.id),
            ..Draft::new(
                EntryKind::Void,
                Deltas {
                    available: points,
                    held: -points,
                    ..Deltas::default()
                },
                reason,
                lots::details(allocations),
            )
        },
    )
    .await?;
    Ok(points)
}

/// A new hold: its points taken from the earliest-expiring lots, its entry, its row.
pub(super) struct Reservation<'a> {
    pub points: i64,
    pub reference: &'a str,
    pub state: HoldStatus,
    pub expires_at: DateTime<Utc>,
    pub reason: &'a str,
    pub discount: Option<&'a Valuation>,
}

/// Reserves `r.points` of `ctx`'s available points in a new hold; returns its id and entry.
pub(super) async fn reserve(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    r: Reservation<'_>,
    now: DateTime<Utc>,
) -> Result<(Uuid, Appended)> {
    let taken = lots::consume(tx, ctx.member_id, r.points, None).await?;
    let hold_id = Uuid::new_v4();
    let entry = ctx
        .append(
            tx,
            now,
            Draft {
                kind: EntryKind::Hold,
                deltas: Deltas {
                    available: -r.points,
                    held: r.points,
                    ..Deltas::default()
                },
                reason: r.reason,
                source: None,
                reference: Some(r.reference),
                hold_id: Some(hold_id),
                details: spend_details(&taken, r.discount)?,
            },
        )
        .await?;
    tx.write(
        "INSERT INTO holds (id, member_id, home_region, points, state, reference, allocations, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        super::tx::params![
            hold_id,
            ctx.member_id,
            ctx.home_region.clone(),
            r.points,
            r.state.as_str(),
            r.reference.to_owned(),
            json!(taken),
            r.expires_at,
            now,
        ],
    )
    .await?;
    Ok((hold_id, entry))
}

async fn hold_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    req: &HoldRequest,
    programme: &Programme,
) -> Result<Outcome<Screened<Held>>> {
    let mut ctx = member_ctx(tx, region, member_id).await?;
    ensure_available(&ctx, req.points)?;
    let discount = discount(programme, req.checkout.as_ref(), ctx.tier, req.points)?;
    let now = now_micros();
    let screening = Screening {
        hold_ttl: Some(req.ttl),
        ..Screening::new(Operation::Hold, req.points, &req.reference, req.review_ttl)
    };
    if let Some(review) = screening
        .run(tx, &mut ctx, &programme.fraud, discount.as_ref(), now)
        .await?
    {
        return Ok(review);
    }
    let points = req.points.get();
    let expires_at = now + req.ttl;
    let reservation = Reservation {
        points,
        reference: req.reference.as_str(),
        state: HoldStatus::Active,
        expires_at,
        reason: "hold",
        discount: discount.as_ref(),
    };
    let (hold_id, _) = reserve(tx, &mut ctx, reservation, now).await?;
    ctx.write_balance(tx, now).await?;
    let held = Held {
        hold_id,
        member_id,
        points,
        reference: req.reference.as_str().to_owned(),
        state: HoldState::Active,
        expires_at,
        balance: balance_after(&ctx.balance),
        discount,
    };
    Ok(Outcome::new(Screened::Done(held), ctx.home_region))
}

async fn capture_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    hold_id: Uuid,
    req: &CaptureRequest,
) -> Result<Outcome<HoldEnded>> {
    let (mut ctx, hold) = member_and_hold(tx, region, member_id, hold_id).await?;
    ensure_active(&hold)?;
    let now = now_micros();
    if hold.expires_at <= now {
        return Err(Refusal::HoldExpired.into());
    }
    let captured = req.points.map_or(hold.points, Points::get);
    if captured > hold.points {
        return Err(Refusal::CaptureExceedsHold { held: hold.points }.into());
    }
    let (kept, released_lots) = lots::split_release(&hold.allocations, captured);
    ctx.append(
        tx,
        now,
        Draft {
            hold_id: Some(hold_id),
            ..Draft::new(
                EntryKind::Capture,
                Deltas {
                    held: -captured,
                    ..Deltas::default()
                },
                "hold captured",
                lots::details(&kept),
            )
        },
    )
    .await?;
    let released = release(
        tx,
        &mut ctx,
        &hold,
        &released_lots,
        "remainder of partial capture released",
        now,
    )
    .await?;
    set_state(tx, hold_id, HoldStatus::Captured, captured, now).await?;
    ctx.write_balance(tx, now).await?;
    let ended = HoldEnded {
        hold_id,
        member_id,
        state: HoldState::Captured,
        captured: Some(captured),
        released,
        balance: balance_after(&ctx.balance),
    };
    Ok(Outcome::new(ended, ctx.home_region))
}

/// Voids an active hold ([`HoldStatus::Voided`]), or expires it ([`HoldStatus::Expired`]).
pub(super) async fn end_hold(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    hold: &HoldRow,
    state: HoldStatus,
    reason: &str,
) -> Result<i64> {
    ensure_active(hold)?;
    let now = now_micros();
    let released = release(tx, ctx, hold, &hold.allocations, reason, now).await?;
    set_state(tx, hold.id, state, 0, now).await?;
    ctx.write_balance(tx, now).await?;
    Ok(released)
}

async fn void_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    hold_id: Uuid,
) -> Result<Outcome<HoldEnded>> {
    let (mut ctx, hold) = member_and_hold(tx, region, member_id, hold_id).await?;
    let released = end_hold(tx, &mut ctx, &hold, HoldStatus::Voided, "hold voided").await?;
    let ended = HoldEnded {
        hold_id,
        member_id,
        state: HoldState::Voided,
        captured: None,
        released,
        balance: balance_after(&ctx.balance),
    };
    Ok(Outcome::new(ended, ctx.home_region))
}

impl Db {
    pub async fn hold(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: HoldRequest,
        programme: Arc<Programme>,
    ) -> Result<Committed<Screened<Held>>> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("hold", idem, |tx| {
            let (region, req, programme) = (region.to_owned(), req.clone(), programme.clone());
            Box::pin(async move { hold_unit(tx, &region, member_id, &req, &programme).await })
        })
        .await
    }

    pub async fn capture(
        &self,
        region: &str,
        member_id: Uuid,
        hold_id: Uuid,
        idem: &IdemRequest,
        req: CaptureRequest,
    ) -> Result<Committed<HoldEnded>> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("capture", idem, |tx| {
            let (region, req) = (region.to_owned(), req.clone());
            Box::pin(async move { capture_unit(tx, &region, member_id, hold_id, &req).await })
        })
        .await
    }

    pub async fn void(
        &self,
        region: &str,
        member_id: Uuid,
        hold_id: Uuid,
        idem: &IdemRequest,
    ) -> Result<Committed<HoldEnded>> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("void", idem, |tx| {
            let region = region.to_owned();
            Box::pin(async move { void_unit(tx, &region, member_id, hold_id).await })
        })
        .await
    }

    /// Expires up to `batch` active holds whose time has passed, of members homed in the
    /// regions this region serves (see [`super::sweeps`]), each in its own member
    /// transaction. Safe to run from several replicas at once: a hold another runner already
    /// ended is skipped (its state is no longer active), and SERIALIZABLE orders the rest.
    /// Returns how many holds this call expired.
    pub async fn expire_holds(&self, region: &str, batch: i64) -> Result<u64> {
        let candidates = {
            let client = self.conn().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id, member_id FROM holds WHERE state = 'active' AND expires_at <= $1 \
                     AND home_region IN (SELECT name FROM regions WHERE served_by = $3) \
                     ORDER BY expires_at LIMIT $2",
                )
                .await?;
            client
                .query(&stmt, &[&now_micros(), &batch, &region])
                .await?
        };
        let mut expired = 0;
        for row in candidates {
            let (hold_id, member_id): (Uuid, Uuid) = (row.get(0), row.get(1));
            let _queue = self.member_lock(member_id).await;
            let outcome = self
                .serializable("expire_hold", |tx| {
                    let region = region.to_owned();
                    Box::pin(async move {
                        let (mut ctx, hold) =
                            member_and_hold(tx, &region, member_id, hold_id).await?;
                        end_hold(
                            tx,
                            &mut ctx,
                            &hold,
                            HoldStatus::Expired,
                            HOLD_EXPIRED_REASON,
                        )
                        .await
                    })
                })
                .await;
            if super::sweeps::ended_here(outcome, "hold", hold_id)? {
                expired += 1;
            }
        }
        Ok(expired)
    }
}
