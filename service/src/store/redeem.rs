//! Direct redemption: points leave the balance at once, earliest-expiring lots first.

use std::sync::Arc;

use loyalty_crds::common::Tier;
use serde_json::Value;
use uuid::Uuid;

use super::context::{MemberCtx, member_ctx};
use super::earn::balance_after;
use super::fraud::Screening;
use super::idempotency::{Outcome, to_json};
use super::ledger::{Deltas, Draft, EntryKind};
use super::tx::Tx;
use super::{Committed, Db, IdemRequest, lots, now_micros};
use crate::api::{Redeemed, Screened};
use crate::domain::fraud::Operation;
use crate::domain::valuation::{self, Checkout, Valuation};
use crate::domain::{Points, Programme, Reference, Refusal};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct RedeemRequest {
    pub points: Points,
    pub reference: Reference,
    /// The booking the points pay for: the redemption rules apply and the discount is
    /// recorded.
    pub checkout: Option<Checkout>,
    /// How long a review of this redemption stays open (`ledger.review_ttl_h`).
    pub review_ttl: chrono::Duration,
}

/// The discount `points` give on `checkout` for a member of `tier`, refused when they break
/// the redemption rules; `None` without a checkout.
pub(super) fn discount(
    programme: &Programme,
    checkout: Option<&Checkout>,
    tier: Tier,
    points: Points,
) -> Result<Option<Valuation>> {
    checkout
        .map(|c| {
            valuation::value_points(
                &programme.redemption,
                &programme.rates,
                c,
                tier,
                points.get(),
            )
        })
        .transpose()
}

/// An entry's details: the lots the points came from, and the discount they paid for.
pub(super) fn spend_details(
    taken: &[lots::Allocation],
    discount: Option<&Valuation>,
) -> Result<Value> {
    let mut details = lots::details(taken);
    if let Some(d) = discount {
        details["discount"] = to_json(d)?;
    }
    Ok(details)
}

/// Refuses a movement of `points` out of `available` that would overdraw it.
pub(super) fn ensure_available(ctx: &MemberCtx, points: Points) -> Result<()> {
    if ctx.balance.available < points.get() {
        return Err(Refusal::InsufficientPoints {
            requested: points.get(),
            available: ctx.balance.available,
        }
        .into());
    }
    Ok(())
}

async fn redeem_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    req: &RedeemRequest,
    programme: &Programme,
) -> Result<Outcome<Screened<Redeemed>>> {
    let mut ctx = member_ctx(tx, region, member_id).await?;
    ensure_available(&ctx, req.points)?;
    let discount = discount(programme, req.checkout.as_ref(), ctx.tier, req.points)?;
    let now = now_micros();
    let screening = Screening::new(
        Operation::Redemption,
        req.points,
        &req.reference,
        req.review_ttl,
    );
    if let Some(review) = screening
        .run(tx, &mut ctx, &programme.fraud, discount.as_ref(), now)
        .await?
    {
        return Ok(review);
    }
    let points = req.points.get();
    let taken = lots::consume(tx, member_id, points, None).await?;
    let entry = ctx
        .append(
            tx,
            now,
            Draft {
                kind: EntryKind::Redeem,
                deltas: Deltas {
                    available: -points,
                    ..Deltas::default()
                },
                reason: "redemption",
                source: None,
                reference: Some(req.reference.as_str()),
                hold_id: None,
                details: spend_details(&taken, discount.as_ref())?,
            },
        )
        .await?;
    ctx.write_balance(tx, now).await?;
    let redeemed = Redeemed {
        entry_id: entry.id,
        member_id,
        points,
        reference: req.reference.as_str().to_owned(),
        balance: balance_after(&ctx.balance),
        discount,
    };
    Ok(Outcome::new(Screened::Done(redeemed), ctx.home_region))
}

impl Db {
    pub async fn redeem(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: RedeemRequest,
        programme: Arc<Programme>,
    ) -> Result<Committed<Screened<Redeemed>>> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("redeem", idem, |tx| {
            let (region, req, programme) = (region.to_owned(), req.clone(), programme.clone());
            Box::pin(async move { redeem_unit(tx, &region, member_id, &req, &programme).await })
        })
        .await
    }
}
