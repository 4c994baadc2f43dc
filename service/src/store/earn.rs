//! Earning points for a booking, and reversing an earn when the booking is refunded.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Duration;
use deadpool_postgres::ClientWrapper;
use serde_json::{Value, json};
use uuid::Uuid;

use super::context::{Balance, member_ctx};
use super::idempotency::Output;
use super::ledger::{Deltas, Draft, EntryKind};
use super::{Db, IdemRequest, Stored, lots, now_micros};
use crate::domain::{
    EarnRates, Money, Points, ProductType, Reference, Source, compute_base_points,
};
use crate::error::{ApiError, Result};

#[derive(Debug, Clone)]
pub struct EarnRequest {
    pub source: Source,
    pub booking_ref: Reference,
    pub product: ProductType,
    pub spend: Money,
}

#[derive(Debug, Clone)]
pub struct ReverseRequest {
    pub source: Source,
    pub booking_ref: Reference,
    /// Points to reverse; `None` reverses everything not yet reversed.
    pub points: Option<Points>,
}

/// The balance as it stands after a write, included in every mutating response.
pub fn balance_json(b: &Balance) -> Value {
    json!({
        "available": b.available,
        "pending": b.pending,
        "held": b.held,
        "lifetime": b.lifetime,
        "qualifying": b.qualifying,
    })
}

async fn earn_unit(
    client: &ClientWrapper,
    region: &str,
    member_id: Uuid,
    req: &EarnRequest,
    rates: &EarnRates,
    lot_expiry: Duration,
) -> Result<Output> {
    let mut ctx = member_ctx(client, region, member_id).await?;
    let existing = client
        .prepare_cached(
            "SELECT member_id, response FROM earns WHERE source = $1 AND booking_ref = $2",
        )
        .await?;
    if let Some(row) = client
        .query_opt(
            &existing,
            &[&req.source.as_str(), &req.booking_ref.as_str()],
        )
        .await?
    {
        let owner: Uuid = row.get(0);
        if owner != member_id {
            return Err(ApiError::conflict(
                "booking_already_earned",
                "this booking has already earned points for another member",
            )
            .into());
        }
        return Ok(Output {
            status: StatusCode::CREATED,
            body: row.get(1),
            home_region: ctx.home_region,
            replayed: true,
        });
    }

    let breakdown = compute_base_points(&req.spend, req.product, rates)?;
    let points = breakdown.awarded()?.get();
    let now = now_micros();
    let entry = ctx
        .append(
            client,
            now,
            Draft {
                kind: EntryKind::Earn,
                deltas: Deltas {
                    available: points,
                    lifetime: points,
                    qualifying: points,
                    ..Deltas::default()
                },
                reason: "booking",
                source: Some(req.source.as_str()),
                reference: Some(req.booking_ref.as_str()),
                hold_id: None,
                details: json!({ "calculation": breakdown }),
            },
        )
        .await?;
    let expires_at = now + lot_expiry;
    let lot_id = lots::create(
        client,
        member_id,
        &ctx.home_region,
        entry.seq,
        points,
        expires_at,
        now,
    )
    .await?;
    let body = json!({
        "entry_id": entry.id,
        "member_id": member_id,
        "points": points,
        "source": req.source.as_str(),
        "booking_ref": req.booking_ref.as_str(),
        "expires_at": expires_at,
        "calculation": breakdown,
        "balance": balance_json(&ctx.balance),
    });
    let insert = client
        .prepare_cached(
            "INSERT INTO earns (source, booking_ref, member_id, home_region, entry_seq, lot_id, points, response, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await?;
    client
        .execute(
            &insert,
            &[
                &req.source.as_str(),
                &req.booking_ref.as_str(),
                &member_id,
                &ctx.home_region,
                &entry.seq,
                &lot_id,
                &points,
                &body,
                &now,
            ],
        )
        .await?;
    ctx.write_balance(client, now).await?;
    Ok(Output {
        status: StatusCode::CREATED,
        body,
        home_region: ctx.home_region,
        replayed: false,
    })
}

/// Reversal policy (docs/adr/0005-reversals.md): the reversed points first come out of the
/// earn's own lot, then out of the member's other available points, earliest-expiring
/// first. Points already spent or held are not clawed back: the shortfall is recorded on
/// the entry and in the response, and the balance never goes negative. Lifetime and
/// qualifying points drop by the full reversed amount.
async fn reverse_unit(
    client: &ClientWrapper,
    region: &str,
    member_id: Uuid,
    req: &ReverseRequest,
) -> Result<Output> {
    let mut ctx = member_ctx(client, region, member_id).await?;
    let stmt = client
        .prepare_cached("SELECT member_id, lot_id, points, reversed FROM earns WHERE source = $1 AND booking_ref = $2")
        .await?;
    let row = client
        .query_opt(&stmt, &[&req.source.as_str(), &req.booking_ref.as_str()])
        .await?
        .filter(|row| row.get::<_, Uuid>(0) == member_id)
        .ok_or_else(|| {
            ApiError::not_found("earn_not_found", "this member has no earn for this booking")
        })?;
    let (lot_id, earned, reversed): (Uuid, i64, i64) = (row.get(1), row.get(2), row.get(3));
    let reversible = earned - reversed;
    if reversible == 0 {
        return Err(
            ApiError::conflict("already_reversed", "this earn has been fully reversed").into(),
        );
    }
    let requested = req.points.map_or(reversible, Points::get);
    if requested > reversible {
        return Err(ApiError::unprocessable(
            "reversal_exceeds_earn",
            format!("at most {reversible} points of this earn can still be reversed"),
        )
        .with_field("points")
        .into());
    }
    let clawed_back = requested.min(ctx.balance.available);
    let shortfall = requested - clawed_back;
    let taken = lots::consume(client, member_id, clawed_back, Some(lot_id)).await?;
    let now = now_micros();
    let qualifying = requested.min(ctx.balance.qualifying);
    let entry = ctx
        .append(
            client,
            now,
            Draft {
                kind: EntryKind::Reverse,
                deltas: Deltas { available: -clawed_back, lifetime: -requested, qualifying: -qualifying, ..Deltas::default() },
                reason: "booking refunded",
                source: Some(req.source.as_str()),
                reference: Some(req.booking_ref.as_str()),
                hold_id: None,
                details: json!({ "reversed": requested, "clawed_back": clawed_back, "shortfall": shortfall, "lots": taken }),
            },
        )
        .await?;
    let update = client
        .prepare_cached(
            "UPDATE earns SET reversed = reversed + $3 WHERE source = $1 AND booking_ref = $2",
        )
        .await?;
    client
        .execute(
            &update,
            &[&req.source.as_str(), &req.booking_ref.as_str(), &requested],
        )
        .await?;
    ctx.write_balance(client, now).await?;
    let body = json!({
        "entry_id": entry.id,
        "member_id": member_id,
        "reversed": requested,
        "clawed_back": clawed_back,
        "shortfall": shortfall,
        "balance": balance_json(&ctx.balance),
    });
    Ok(Output {
        status: StatusCode::CREATED,
        body,
        home_region: ctx.home_region,
        replayed: false,
    })
}

impl Db {
    pub async fn earn(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: EarnRequest,
        rates: Arc<EarnRates>,
        lot_expiry: Duration,
    ) -> Result<Stored> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("earn", idem, |client| {
            let (region, req, rates) = (region.to_owned(), req.clone(), rates.clone());
            Box::pin(async move {
                earn_unit(client, &region, member_id, &req, &rates, lot_expiry).await
            })
        })
        .await
    }

    pub async fn reverse(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: ReverseRequest,
    ) -> Result<Stored> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("reverse", idem, |client| {
            let (region, req) = (region.to_owned(), req.clone());
            Box::pin(async move { reverse_unit(client, &region, member_id, &req).await })
        })
        .await
    }
}
