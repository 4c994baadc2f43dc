//! Fraud checks with a review queue (docs/fraud.md, ADR 0022). Every redemption, hold and
//! transfer out is screened inside its own SERIALIZABLE transaction: the member's recent
//! movements are read there (so two concurrent operations cannot both see the window before
//! the other), [`crate::domain::fraud::evaluate`] decides, and a flagged operation is not
//! refused but reserved: its points go into a hold `in_review` and a `fraud_reviews` row
//! queues it for support, who approve or reject it ([`decide`]); the sweep rejects reviews
//! nobody decided in time ([`decide`] too). [`queue`] lists them.

mod decide;
mod queue;
pub(super) mod rules;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::context::MemberCtx;
use super::earn::balance_after;
use super::holds::{Reservation, reserve};
use super::idempotency::{Outcome, to_json};
use super::outbox;
use super::tx::Tx;
use crate::api::{Screened, UnderReview};
use crate::domain::HoldStatus;
use crate::domain::events::{Event, EventType};
use crate::domain::fraud::{
    Facts, Flag, FraudRules, MAX_FACT_ROWS, Movement, Operation, ReviewState, evaluate,
};
use crate::domain::valuation::Valuation;
use crate::domain::{Points, Reference};
use crate::error::Result;

pub use decide::Decision;
pub use queue::ReviewFilter;

/// The reason of a review hold's entry.
const REVIEW_HOLD_REASON: &str = "held for fraud review";

/// An outgoing operation about to be written, as the fraud rules see it.
pub struct Screening<'a> {
    pub operation: Operation,
    pub points: Points,
    pub reference: &'a Reference,
    pub review_ttl: Duration,
    /// A transfer's recipient.
    pub transfer_to: Option<Uuid>,
    /// A hold's lifetime once approved.
    pub hold_ttl: Option<Duration>,
}

impl<'a> Screening<'a> {
    pub fn new(
        operation: Operation,
        points: Points,
        reference: &'a Reference,
        review_ttl: Duration,
    ) -> Self {
        Self {
            operation,
            points,
            reference,
            review_ttl,
            transfer_to: None,
            hold_ttl: None,
        }
    }

    /// Evaluates `rules` on this operation of `ctx`'s member, whose preconditions (balance,
    /// limits) the caller has checked. Unflagged: `None`, and the caller goes on. Flagged:
    /// the points are reserved for review, the balance written, and the unit's outcome is
    /// the review.
    pub async fn run<T>(
        &self,
        tx: &Tx<'_>,
        ctx: &mut MemberCtx,
        rules: &FraudRules,
        discount: Option<&Valuation>,
        now: DateTime<Utc>,
    ) -> Result<Option<Outcome<Screened<T>>>> {
        if rules.rules.is_empty() {
            return Ok(None);
        }
        let facts = match rules.lookback() {
            Some(lookback) => read_facts(tx, ctx.member_id, now - lookback).await?,
            None => Facts::default(),
        };
        let flags = evaluate(rules, &facts, self.points.get(), now);
        if flags.is_empty() {
            return Ok(None);
        }
        let review = self.open(tx, ctx, flags, discount, now).await?;
        let outcome = Screened::UnderReview(Box::new(review));
        Ok(Some(Outcome::new(outcome, ctx.home_region.clone())))
    }

    /// Reserves the points in a hold `in_review`, queues the review and its event.
    async fn open(
        &self,
        tx: &Tx<'_>,
        ctx: &mut MemberCtx,
        flags: Vec<Flag>,
        discount: Option<&Valuation>,
        now: DateTime<Utc>,
    ) -> Result<UnderReview> {
        let points = self.points.get();
        let expires_at = now + self.review_ttl;
        let reservation = Reservation {
            points,
            reference: self.reference.as_str(),
            state: HoldStatus::InReview,
            expires_at,
            reason: REVIEW_HOLD_REASON,
            discount,
        };
        let (hold_id, entry) = reserve(tx, ctx, reservation, now).await?;
        let review_id = Uuid::new_v4();
        tx.write(
            "INSERT INTO fraud_reviews (id, member_id, home_region, hold_id, opened_seq, operation, points, \
             reference, flags, transfer_to, hold_ttl_s, state, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $13)",
            super::tx::params![
                review_id,
                ctx.member_id,
                ctx.home_region.clone(),
                hold_id,
                entry.seq,
                self.operation.as_str(),
                points,
                self.reference.as_str().to_owned(),
                to_json(&flags)?,
                self.transfer_to,
                self.hold_ttl.map(|t| t.num_seconds()),
                expires_at,
                now,
            ],
        )
        .await?;
        ctx.write_balance(tx, now).await?;
        let event = ReviewEvent {
            review_id,
            hold_id,
            operation: self.operation,
            points,
            state: ReviewState::Open,
            opened_seq: entry.seq,
        };
        let rules = flags.iter().map(|f| f.rule.clone()).collect();
        record(tx, ctx, &event, Some(rules), now).await?;
        Ok(UnderReview {
            review_id,
            hold_id,
            member_id: ctx.member_id,
            operation: self.operation,
            points,
            reference: self.reference.as_str().to_owned(),
            state: ReviewState::Open,
            expires_at,
            balance: balance_after(&ctx.balance),
            discount: discount.cloned(),
            flagged_by: flags.into_iter().map(|f| f.rule).collect(),
        })
    }
}

/// The member's redemptions, holds and transfers since `since`, newest first, at most
/// [`MAX_FACT_ROWS`] (one more tells that there were more). Read in the caller's transaction:
/// under SERIALIZABLE, a concurrent operation of the same member that this read misses
/// conflicts with it, and one of the two re-runs.
async fn read_facts(tx: &Tx<'_>, member_id: Uuid, since: DateTime<Utc>) -> Result<Facts> {
    let rows = tx
        .query(
            "SELECT kind, available_delta, created_at FROM ledger_entries \
             WHERE member_id = $1 AND created_at > $2 AND kind IN ('redeem', 'hold', 'transfer') \
             AND available_delta <> 0 ORDER BY seq DESC LIMIT $3",
            &[&member_id, &since, &(MAX_FACT_ROWS + 1)],
        )
        .await?;
    let mut facts = Facts {
        truncated: rows.len() as i64 > MAX_FACT_ROWS,
        ..Facts::default()
    };
    for row in rows.iter().take(MAX_FACT_ROWS as usize) {
        let (kind, delta, at): (&str, i64, DateTime<Utc>) = (row.get(0), row.get(1), row.get(2));
        let movement = Movement {
            at,
            points: delta.saturating_abs(),
        };
        if delta < 0 {
            facts.outgoing.push(movement);
        } else if kind == "transfer" {
            facts.transfers_in.push(movement);
        }
    }
    Ok(facts)
}

/// What a review event says: no personal data, only ids, the operation and its points.
struct ReviewEvent {
    review_id: Uuid,
    hold_id: Uuid,
    operation: Operation,
    points: i64,
    state: ReviewState,
    /// The seq of the entry that opened the review: every event of one review carries it, so
    /// each (member, seq, type) is unique even when a decision writes no entry.
    opened_seq: i64,
}

/// Queues the review's event in `ctx`'s member's outbox; `rules` names the flags (only on
/// opening: rule names are configuration, not personal data).
async fn record(
    tx: &Tx<'_>,
    ctx: &MemberCtx,
    review: &ReviewEvent,
    rules: Option<Vec<String>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let kind = match review.state {
        ReviewState::Open => EventType::ReviewOpened,
        ReviewState::Approved => EventType::ReviewApproved,
        ReviewState::Rejected => EventType::ReviewRejected,
        ReviewState::Expired => EventType::ReviewExpired,
    };
    let event = Event {
        id: Uuid::new_v4(),
        kind,
        member_id: ctx.member_id,
        member_seq: review.opened_seq,
        region: ctx.region.clone(),
        time: now,
        data: json!({
            "review_id": review.review_id,
            "hold_id": review.hold_id,
            "operation": review.operation,
            "points": review.points,
            "state": review.state,
            "rules": rules,
        }),
    };
    outbox::record(tx, &event, &ctx.home_region).await
}
