//! Points transfers between two members of the same residency group: atomic (both sides in
//! one SERIALIZABLE transaction), within per-transfer and per-day limits, refused across
//! residency groups. The recipient's new lots keep the expiry of the lots the points came
//! from, so a transfer can never extend the life of points.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::context::member_ctx;
use super::earn::balance_after;
use super::idempotency::Output;
use super::ledger::{Deltas, Draft, EntryKind};
use super::lots::{self, NewLot};
use super::redeem::ensure_available;
use super::tx::Tx;
use super::{Db, IdemRequest, Stored, now_micros};
use crate::api::{Transferred, to_body};
use crate::domain::{Points, Reference};
use crate::error::{ApiError, Result};

#[derive(Debug, Clone)]
pub struct TransferRequest {
    pub to: Uuid,
    pub points: Points,
    pub reference: Reference,
    pub max_points: i64,
    pub daily_limit: i64,
}

async fn sent_today(tx: &Tx<'_>, member_id: Uuid, now: DateTime<Utc>) -> Result<i64> {
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    Ok(tx
        .query_one(
            "SELECT COALESCE(SUM(-available_delta), 0)::BIGINT FROM ledger_entries \
             WHERE member_id = $1 AND kind = 'transfer' AND available_delta < 0 AND created_at >= $2",
            &[&member_id, &day_start],
        )
        .await?
        .get(0))
}

async fn transfer_unit(
    tx: &Tx<'_>,
    region: &str,
    from: Uuid,
    req: &TransferRequest,
) -> Result<Output> {
    if req.to == from {
        return Err(ApiError::unprocessable(
            "transfer_to_self",
            "a member cannot transfer to themselves",
        )
        .with_field("to_member_id")
        .into());
    }
    let points = req.points.get();
    if points > req.max_points {
        return Err(ApiError::unprocessable(
            "transfer_too_large",
            format!("a transfer moves at most {} points", req.max_points),
        )
        .with_field("points")
        .into());
    }
    let mut sender = member_ctx(tx, region, from).await?;
    let recipient_group: String = tx
        .query_opt(
            "SELECT residency_group FROM members WHERE id = $1",
            &[&req.to],
        )
        .await?
        .ok_or_else(|| {
            ApiError::not_found("recipient_not_found", "no such recipient")
                .with_field("to_member_id")
        })?
        .get(0);
    if recipient_group != sender.residency_group {
        return Err(ApiError::unprocessable(
            "transfer_across_residency_groups",
            "points can only be transferred between members of the same residency group",
        )
        .with_field("to_member_id")
        .into());
    }
    let mut recipient = member_ctx(tx, region, req.to).await?;
    ensure_available(&sender, req.points)?;
    let now = now_micros();
    let sent = sent_today(tx, from, now).await?;
    if sent + points > req.daily_limit {
        return Err(ApiError::unprocessable(
            "transfer_limit_reached",
            format!("{sent} of {} points already sent today", req.daily_limit),
        )
        .with_field("points")
        .into());
    }
    let transfer_id = Uuid::new_v4();
    let taken = lots::consume(tx, from, points, None).await?;
    let details = json!({ "transfer_id": transfer_id, "from": from, "to": req.to, "lots": taken });
    let out = sender
        .append(
            tx,
            now,
            Draft {
                kind: EntryKind::Transfer,
                deltas: Deltas {
                    available: -points,
                    ..Deltas::default()
                },
                reason: "points sent",
                source: None,
                reference: Some(req.reference.as_str()),
                hold_id: None,
                details: details.clone(),
            },
        )
        .await?;
    let incoming = recipient
        .append(
            tx,
            now,
            Draft {
                kind: EntryKind::Transfer,
                deltas: Deltas {
                    available: points,
                    ..Deltas::default()
                },
                reason: "points received",
                source: None,
                reference: Some(req.reference.as_str()),
                hold_id: None,
                details,
            },
        )
        .await?;
    for allocation in &taken {
        let expires_at: DateTime<Utc> = tx
            .query_one(
                "SELECT expires_at FROM lots WHERE id = $1",
                &[&allocation.lot],
            )
            .await?
            .get(0);
        let lot = NewLot {
            id: Uuid::new_v4(),
            member_id: req.to,
            home_region: &recipient.home_region,
            earn_seq: incoming.seq,
            points: allocation.points,
            expires_at,
            vests_at: None,
            qualifying: 0,
            qualifying_until: None,
        };
        lots::create(tx, lot, now).await?;
    }
    sender.write_balance(tx, now).await?;
    recipient.write_balance(tx, now).await?;
    let body = to_body(&Transferred {
        transfer_id,
        entry_id: out.id,
        from_member_id: from,
        to_member_id: req.to,
        points,
        reference: req.reference.as_str().to_owned(),
        balance: balance_after(&sender.balance),
    });
    Ok(Output {
        status: StatusCode::CREATED,
        body,
        home_region: sender.home_region,
        replayed: false,
    })
}

impl Db {
    pub async fn transfer(
        &self,
        region: &str,
        from: Uuid,
        idem: &IdemRequest,
        req: TransferRequest,
    ) -> Result<Stored> {
        let _queue = self.member_locks(from, req.to).await;
        self.mutate("transfer", idem, |tx| {
            let (region, req) = (region.to_owned(), req.clone());
            Box::pin(async move { transfer_unit(tx, &region, from, &req).await })
        })
        .await
    }
}
