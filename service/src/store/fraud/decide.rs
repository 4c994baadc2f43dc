//! Deciding a review: support approves (the operation completes: a redemption is captured, a
//! hold becomes active, a transfer is sent) or rejects (the hold is voided, the points go
//! back); the sweep expires a review nobody decided, as a rejection. Each decision is one
//! member transaction that re-reads the review, so two decisions cannot both apply.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{ReviewEvent, record};
use crate::api::{HoldState, ReviewDecided};
use crate::domain::fraud::{Operation, ReviewState};
use crate::domain::{HoldStatus, Refusal};
use crate::error::{Error, Result};
use crate::store::context::MemberCtx;
use crate::store::earn::balance_after;
use crate::store::holds::{HoldRow, member_and_hold, release, set_state};
use crate::store::idempotency::Outcome;
use crate::store::ledger::{Deltas, Draft, EntryKind};
use crate::store::transfer::{credit_lots, recipient_ctx, transfer_draft};
use crate::store::tx::{Tx, params};
use crate::store::{Committed, Db, IdemRequest, lots, now_micros};

/// What support (or the sweep) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    /// The sweep's rejection of a review past its `expires_at`.
    Expire,
}

/// A review row, as a decision reads it.
struct ReviewRow {
    id: Uuid,
    member_id: Uuid,
    hold_id: Uuid,
    opened_seq: i64,
    operation: Operation,
    points: i64,
    reference: String,
    transfer_to: Option<Uuid>,
    hold_ttl: Option<Duration>,
    state: ReviewState,
    expires_at: DateTime<Utc>,
}

fn unreadable(e: impl std::fmt::Display) -> Error {
    Error::Invariant(format!("a stored review is unreadable: {e}"))
}

async fn load_review(tx: &Tx<'_>, review_id: Uuid) -> Result<ReviewRow> {
    let row = tx
        .query_opt(
            "SELECT member_id, hold_id, opened_seq, operation, points, reference, transfer_to, \
             hold_ttl_s, state, expires_at FROM fraud_reviews WHERE id = $1",
            &[&review_id],
        )
        .await?
        .ok_or(Refusal::ReviewNotFound)?;
    Ok(ReviewRow {
        id: review_id,
        member_id: row.get(0),
        hold_id: row.get(1),
        opened_seq: row.get(2),
        operation: row.get::<_, &str>(3).parse().map_err(unreadable)?,
        points: row.get(4),
        reference: row.get(5),
        transfer_to: row.get(6),
        hold_ttl: row.get::<_, Option<i64>>(7).map(Duration::seconds),
        state: row.get::<_, &str>(8).parse().map_err(unreadable)?,
        expires_at: row.get(9),
    })
}

/// The review, open, with its member (fence and residency checked) and its hold in review.
async fn open_review(
    tx: &Tx<'_>,
    region: &str,
    review_id: Uuid,
    decision: Decision,
) -> Result<(ReviewRow, MemberCtx, HoldRow)> {
    let review = load_review(tx, review_id).await?;
    let (ctx, hold) = member_and_hold(tx, region, review.member_id, review.hold_id).await?;
    if review.state != ReviewState::Open {
        return Err(Refusal::ReviewNotOpen {
            state: review.state.as_str().to_owned(),
        }
        .into());
    }
    if decision == Decision::Expire && review.expires_at > now_micros() {
        return Err(Refusal::ReviewNotOpen {
            state: "not yet expired".to_owned(),
        }
        .into());
    }
    if hold.state != HoldStatus::InReview {
        return Err(Error::Invariant(format!(
            "review {review_id} is open but its hold is {}",
            hold.state.as_str()
        )));
    }
    Ok((review, ctx, hold))
}

/// Approves a redemption: the whole hold is captured.
async fn capture(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    review: &ReviewRow,
    hold: &HoldRow,
    now: DateTime<Utc>,
) -> Result<()> {
    let draft = Draft {
        hold_id: Some(hold.id),
        reference: Some(&review.reference),
        ..Draft::new(
            EntryKind::Capture,
            Deltas {
                held: -hold.points,
                ..Deltas::default()
            },
            "redemption approved after review",
            lots::details(&hold.allocations),
        )
    };
    ctx.append(tx, now, draft).await?;
    set_state(tx, hold.id, HoldStatus::Captured, hold.points, now).await
}

/// Approves a transfer: the held points are sent to the recipient, who must still be a
/// member of the sender's residency group; their lots keep the expiry of the sender's.
async fn send(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    review: &ReviewRow,
    hold: &HoldRow,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let to = review.transfer_to.ok_or_else(|| {
        Error::Invariant(format!("transfer review {} has no recipient", review.id))
    })?;
    let mut recipient = recipient_ctx(tx, &ctx.region, ctx, to).await?;
    let transfer_id = Uuid::new_v4();
    let details = json!({ "transfer_id": transfer_id, "from": ctx.member_id, "to": to,
                          "lots": hold.allocations, "review_id": review.id });
    let mut sent = transfer_draft(0, "points sent", &review.reference, details.clone());
    sent.deltas.held = -hold.points;
    sent.hold_id = Some(hold.id);
    ctx.append(tx, now, sent).await?;
    let received = transfer_draft(hold.points, "points received", &review.reference, details);
    let incoming = recipient.append(tx, now, received).await?;
    credit_lots(tx, &recipient, &hold.allocations, incoming.seq, now).await?;
    recipient.write_balance(tx, now).await?;
    set_state(tx, hold.id, HoldStatus::Captured, hold.points, now).await?;
    Ok(transfer_id)
}

/// Approves a hold: it becomes an ordinary active hold for its requested lifetime, from now.
async fn activate(tx: &Tx<'_>, review: &ReviewRow, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let ttl = review
        .hold_ttl
        .ok_or_else(|| Error::Invariant(format!("hold review {} has no lifetime", review.id)))?;
    let expires_at = now + ttl;
    tx.write(
        "UPDATE holds SET state = 'active', expires_at = $2, updated_at = $3 WHERE id = $1",
        params![review.hold_id, expires_at, now],
    )
    .await?;
    Ok(expires_at)
}

/// What a decision did to the hold.
struct Effect {
    state: ReviewState,
    hold_state: HoldState,
    expires_at: Option<DateTime<Utc>>,
    transfer_id: Option<Uuid>,
}

async fn apply(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    review: &ReviewRow,
    hold: &HoldRow,
    decision: Decision,
    now: DateTime<Utc>,
) -> Result<Effect> {
    let mut effect = Effect {
        state: ReviewState::Approved,
        hold_state: HoldState::Captured,
        expires_at: None,
        transfer_id: None,
    };
    match (decision, review.operation) {
        (Decision::Approve, Operation::Redemption) => capture(tx, ctx, review, hold, now).await?,
        (Decision::Approve, Operation::Transfer) => {
            effect.transfer_id = Some(send(tx, ctx, review, hold, now).await?);
        }
        (Decision::Approve, Operation::Hold) => {
            effect.hold_state = HoldState::Active;
            effect.expires_at = Some(activate(tx, review, now).await?);
        }
        (Decision::Reject | Decision::Expire, _) => {
            let (state, hold_status, reason) = if decision == Decision::Reject {
                (
                    ReviewState::Rejected,
                    HoldStatus::Voided,
                    "rejected after review",
                )
            } else {
                (ReviewState::Expired, HoldStatus::Expired, "review expired")
            };
            release(tx, ctx, hold, &hold.allocations, reason, now).await?;
            set_state(tx, hold.id, hold_status, 0, now).await?;
            effect.state = state;
            effect.hold_state = HoldState::Voided;
        }
    }
    Ok(effect)
}

async fn decide_unit(
    tx: &Tx<'_>,
    region: &str,
    review_id: Uuid,
    decision: Decision,
) -> Result<Outcome<ReviewDecided>> {
    let (review, mut ctx, hold) = open_review(tx, region, review_id, decision).await?;
    let now = now_micros();
    let effect = apply(tx, &mut ctx, &review, &hold, decision, now).await?;
    let decided_by = json!(tx.actor());
    tx.write(
        "UPDATE fraud_reviews SET state = $2, decided_by = $3, decided_at = $4 WHERE id = $1",
        params![review.id, effect.state.as_str(), decided_by, now],
    )
    .await?;
    ctx.write_balance(tx, now).await?;
    let event = ReviewEvent {
        review_id,
        hold_id: review.hold_id,
        operation: review.operation,
        points: review.points,
        state: effect.state,
        opened_seq: review.opened_seq,
    };
    record(tx, &ctx, &event, None, now).await?;
    let decided = ReviewDecided {
        review_id,
        hold_id: review.hold_id,
        member_id: review.member_id,
        operation: review.operation,
        points: review.points,
        state: effect.state,
        hold_state: effect.hold_state,
        expires_at: effect.expires_at,
        transfer_id: effect.transfer_id,
        balance: balance_after(&ctx.balance),
    };
    Ok(Outcome::new(decided, ctx.home_region))
}

impl Db {
    /// The member a review is about, read outside any transaction to queue behind the
    /// member's other requests; the decision re-reads everything.
    async fn review_member(&self, review_id: Uuid) -> Result<Uuid> {
        let client = self.conn().await?;
        let row = client
            .query_opt(
                "SELECT member_id FROM fraud_reviews WHERE id = $1",
                &[&review_id],
            )
            .await?
            .ok_or(Refusal::ReviewNotFound)?;
        Ok(row.get(0))
    }

    /// Approves or rejects an open review (see [`Decision`]).
    pub async fn decide_review(
        &self,
        region: &str,
        review_id: Uuid,
        decision: Decision,
        idem: &IdemRequest,
    ) -> Result<Committed<ReviewDecided>> {
        let member_id = self.review_member(review_id).await?;
        let _queue = self.member_lock(member_id).await;
        let operation = match decision {
            Decision::Approve => "approve_review",
            Decision::Reject | Decision::Expire => "reject_review",
        };
        self.mutate(operation, idem, |tx| {
            let region = region.to_owned();
            Box::pin(async move { decide_unit(tx, &region, review_id, decision).await })
        })
        .await
    }

    /// Expires up to `batch` open reviews past their `expires_at`, of members homed in the
    /// regions this region serves, each in its own member transaction (a rejection by the
    /// sweep: the points go back). Returns how many it expired.
    pub async fn expire_reviews(&self, region: &str, batch: i64) -> Result<u64> {
        let candidates: Vec<Uuid> = {
            let client = self.conn().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id FROM fraud_reviews WHERE state = 'open' AND expires_at <= $1 \
                     AND home_region IN (SELECT name FROM regions WHERE served_by = $3) \
                     ORDER BY expires_at LIMIT $2",
                )
                .await?;
            let rows = client
                .query(&stmt, &[&now_micros(), &batch, &region])
                .await?;
            rows.iter().map(|r| r.get(0)).collect()
        };
        let mut expired = 0;
        for review_id in candidates {
            let member_id = self.review_member(review_id).await?;
            let _queue = self.member_lock(member_id).await;
            let outcome = self
                .serializable("expire_review", |tx| {
                    let region = region.to_owned();
                    Box::pin(
                        async move { decide_unit(tx, &region, review_id, Decision::Expire).await },
                    )
                })
                .await;
            if crate::store::sweeps::ended_here(outcome, "review", review_id)? {
                expired += 1;
            }
        }
        let fraud = &self.metrics().fraud;
        fraud
            .decisions
            .with_label_values(&["expired"])
            .inc_by(expired);
        fraud.reviews_open.set(self.open_reviews(region).await?);
        Ok(expired)
    }
}
