//! Points transfers between two members of the same residency group: atomic (both sides in
//! one SERIALIZABLE transaction), within per-transfer and per-day limits, refused across
//! residency groups. The recipient's new lots keep the expiry of the lots the points came
//! from, so a transfer can never extend the life of points. A transfer the fraud rules flag
//! waits in a hold of the sender's until its review is decided (`store::fraud`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::context::{MemberCtx, member_ctx};
use super::earn::balance_after;
use super::fraud::Screening;
use super::idempotency::Outcome;
use super::ledger::{Deltas, Draft, EntryKind};
use super::lots::{self, NewLot};
use super::redeem::ensure_available;
use super::tx::Tx;
use super::{Committed, Db, IdemRequest, now_micros};
use crate::api::{Screened, Transferred};
use crate::domain::fraud::{FraudRules, Operation};
use crate::domain::{Points, Programme, Reference, Refusal};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct TransferRequest {
    pub to: Uuid,
    pub points: Points,
    pub reference: Reference,
    pub max_points: i64,
    pub daily_limit: i64,
    /// How long a review of this transfer stays open (`ledger.review_ttl_h`).
    pub review_ttl: chrono::Duration,
}

/// Points sent today: transfers out (from available, or from a reviewed transfer's hold when
/// it was approved), plus transfers still in review.
async fn sent_today(tx: &Tx<'_>, member_id: Uuid, now: DateTime<Utc>) -> Result<i64> {
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    Ok(tx
        .query_one(
            "SELECT (SELECT COALESCE(SUM(-(available_delta + held_delta)), 0) FROM ledger_entries \
             WHERE member_id = $1 AND kind = 'transfer' AND available_delta + held_delta < 0 AND created_at >= $2)::BIGINT \
             + (SELECT COALESCE(SUM(points), 0) FROM fraud_reviews \
             WHERE member_id = $1 AND operation = 'transfer' AND state = 'open')::BIGINT",
            &[&member_id, &day_start],
        )
        .await?
        .get(0))
}

/// Refuses what no read is needed to refuse: a transfer to oneself, or one over the
/// per-transfer limit.
fn check_request(from: Uuid, req: &TransferRequest) -> Result<()> {
    if req.to == from {
        return Err(Refusal::TransferToSelf.into());
    }
    if req.points.get() > req.max_points {
        return Err(Refusal::TransferTooLarge {
            max: req.max_points,
        }
        .into());
    }
    Ok(())
}

/// The recipient, who must exist and live in the sender's residency group.
pub(super) async fn recipient_ctx(
    tx: &Tx<'_>,
    region: &str,
    sender: &MemberCtx,
    to: Uuid,
) -> Result<MemberCtx> {
    let group: String = tx
        .query_opt("SELECT residency_group FROM members WHERE id = $1", &[&to])
        .await?
        .ok_or(Refusal::RecipientNotFound)?
        .get(0);
    if group != sender.residency_group {
        return Err(Refusal::TransferAcrossResidencyGroups.into());
    }
    member_ctx(tx, region, to).await
}

/// Refuses a transfer that would take the sender over the daily limit.
async fn check_daily_limit(
    tx: &Tx<'_>,
    from: Uuid,
    req: &TransferRequest,
    now: DateTime<Utc>,
) -> Result<()> {
    let sent = sent_today(tx, from, now).await?;
    if sent + req.points.get() > req.daily_limit {
        return Err(Refusal::TransferLimitReached {
            sent,
            limit: req.daily_limit,
        }
        .into());
    }
    Ok(())
}

/// The transfer's entry on one side: points sent (negative) or received.
pub(super) fn transfer_draft<'a>(
    points: i64,
    reason: &'a str,
    reference: &'a str,
    details: serde_json::Value,
) -> Draft<'a> {
    Draft {
        reference: Some(reference),
        ..Draft::new(
            EntryKind::Transfer,
            Deltas {
                available: points,
                ..Deltas::default()
            },
            reason,
            details,
        )
    }
}

/// Gives the recipient one lot per lot the points came from, with the same expiry.
pub(super) async fn credit_lots(
    tx: &Tx<'_>,
    recipient: &MemberCtx,
    taken: &[lots::Allocation],
    earn_seq: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    for allocation in taken {
        let expires_at: DateTime<Utc> = tx
            .query_one(
                "SELECT expires_at FROM lots WHERE id = $1",
                &[&allocation.lot],
            )
            .await?
            .get(0);
        let lot = NewLot {
            id: Uuid::new_v4(),
            member_id: recipient.member_id,
            home_region: &recipient.home_region,
            earn_seq,
            points: allocation.points,
            expires_at,
            vests_at: None,
            qualifying: 0,
            qualifying_until: None,
        };
        lots::create(tx, lot, now).await?;
    }
    Ok(())
}

async fn transfer_unit(
    tx: &Tx<'_>,
    region: &str,
    from: Uuid,
    req: &TransferRequest,
    rules: &FraudRules,
) -> Result<Outcome<Screened<Transferred>>> {
    check_request(from, req)?;
    let mut sender = member_ctx(tx, region, from).await?;
    let mut recipient = recipient_ctx(tx, region, &sender, req.to).await?;
    ensure_available(&sender, req.points)?;
    let now = now_micros();
    check_daily_limit(tx, from, req, now).await?;
    let screening = Screening {
        transfer_to: Some(req.to),
        ..Screening::new(
            Operation::Transfer,
            req.points,
            &req.reference,
            req.review_ttl,
        )
    };
    if let Some(review) = screening.run(tx, &mut sender, rules, None, now).await? {
        return Ok(review);
    }
    let points = req.points.get();
    let transfer_id = Uuid::new_v4();
    let taken = lots::consume(tx, from, points, None).await?;
    let details = json!({ "transfer_id": transfer_id, "from": from, "to": req.to, "lots": taken });
    let reference = req.reference.as_str();
    let sent = transfer_draft(-points, "points sent", reference, details.clone());
    let out = sender.append(tx, now, sent).await?;
    let received = transfer_draft(points, "points received", reference, details);
    let incoming = recipient.append(tx, now, received).await?;
    credit_lots(tx, &recipient, &taken, incoming.seq, now).await?;
    sender.write_balance(tx, now).await?;
    recipient.write_balance(tx, now).await?;
    let transferred = Transferred {
        transfer_id,
        entry_id: out.id,
        from_member_id: from,
        to_member_id: req.to,
        points,
        reference: req.reference.as_str().to_owned(),
        balance: balance_after(&sender.balance),
    };
    Ok(Outcome::new(
        Screened::Done(transferred),
        sender.home_region,
    ))
}

impl Db {
    pub async fn transfer(
        &self,
        region: &str,
        from: Uuid,
        idem: &IdemRequest,
        req: TransferRequest,
        programme: Arc<Programme>,
    ) -> Result<Committed<Screened<Transferred>>> {
        let _queue = self.member_locks(from, req.to).await;
        self.mutate("transfer", idem, |tx| {
            let (region, req, programme) = (region.to_owned(), req.clone(), programme.clone());
            Box::pin(async move { transfer_unit(tx, &region, from, &req, &programme.fraud).await })
        })
        .await
    }
}
