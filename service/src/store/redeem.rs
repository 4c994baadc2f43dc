//! Direct redemption: points leave the balance at once, earliest-expiring lots first.

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::context::{MemberCtx, member_ctx};
use super::earn::balance_after;
use super::idempotency::Output;
use super::ledger::{Deltas, Draft, EntryKind};
use super::tx::Tx;
use super::{Db, IdemRequest, Stored, lots, now_micros};
use crate::api::{Redeemed, to_body};
use crate::domain::{Points, Reference};
use crate::error::{ApiError, Result};

#[derive(Debug, Clone)]
pub struct RedeemRequest {
    pub points: Points,
    pub reference: Reference,
}

/// Refuses a movement of `points` out of `available` that would overdraw it.
pub(super) fn ensure_available(ctx: &MemberCtx, points: Points) -> Result<()> {
    if ctx.balance.available < points.get() {
        return Err(ApiError::unprocessable(
            "insufficient_points",
            format!(
                "{} points requested, {} available",
                points.get(),
                ctx.balance.available
            ),
        )
        .with_field("points")
        .with_details(json!({ "available": ctx.balance.available }))
        .into());
    }
    Ok(())
}

async fn redeem_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    req: &RedeemRequest,
) -> Result<Output> {
    let mut ctx = member_ctx(tx, region, member_id).await?;
    ensure_available(&ctx, req.points)?;
    let points = req.points.get();
    let taken = lots::consume(tx, member_id, points, None).await?;
    let now = now_micros();
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
                details: json!({ "lots": taken }),
            },
        )
        .await?;
    ctx.write_balance(tx, now).await?;
    let body = to_body(&Redeemed {
        entry_id: entry.id,
        member_id,
        points,
        reference: req.reference.as_str().to_owned(),
        balance: balance_after(&ctx.balance),
    });
    Ok(Output {
        status: StatusCode::CREATED,
        body,
        home_region: ctx.home_region,
        replayed: false,
    })
}

impl Db {
    pub async fn redeem(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: RedeemRequest,
    ) -> Result<Stored> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("redeem", idem, |tx| {
            let (region, req) = (region.to_owned(), req.clone());
            Box::pin(async move { redeem_unit(tx, &region, member_id, &req).await })
        })
        .await
    }
}
