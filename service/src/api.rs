//! The bodies of the API's successful responses to writes, quotes and probes: what clients
//! see, serialized through these types and described by them in the OpenAPI document.
//!
//! A write's body is its store unit's typed outcome. The idempotency record (and an earn's
//! record) stores its serialization and a replay reads it back into the same type, so the
//! write outcomes derive `Deserialize` too. Responses are sent through a JSON `Value`, with
//! sorted keys, so the bytes clients see are what they were when the bodies were `json!`
//! literals.

use chrono::{DateTime, Utc};
use loyalty_crds::common::Tier;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::activity::{ActivityCap, ActivityKind};
use crate::domain::caps::Granted;
use crate::domain::fraud::{Flag, Operation, ReviewState};
use crate::domain::partner_bonus::PartnerBonus;
use crate::domain::rules::PlannedAward;
use crate::domain::valuation::Valuation;
use crate::domain::{PointsBreakdown, schema};

/// The balance as it stands after a write, included in every write's response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BalanceAfter {
    pub available: i64,
    pub pending: i64,
    pub held: i64,
    pub lifetime: i64,
    pub qualifying: i64,
}

/// How an earn's points were computed; also the details of its ledger entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EarnExplanation {
    pub calculation: PointsBreakdown,
    #[schema(schema_with = schema::tier)]
    pub tier: Tier,
    pub tier_multiplier_milli: i64,
    pub tier_points: i64,
    /// Each campaign's grant after its caps and budget.
    pub campaigns: Vec<Granted>,
    /// The partner the booking names: its rules applied, or why none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<PartnerBonus>,
}

/// `POST /v1/members/{member_id}/earn`: 201, also when the booking was already earned.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Earned {
    pub entry_id: Uuid,
    pub member_id: Uuid,
    pub points: i64,
    /// The points stay pending until `vests_at`.
    pub pending: bool,
    pub vests_at: Option<DateTime<Utc>>,
    pub source: String,
    pub booking_ref: String,
    pub expires_at: DateTime<Utc>,
    pub balance: BalanceAfter,
    #[serde(flatten)]
    pub explanation: EarnExplanation,
    /// Present when this earn lifted the member into a higher tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::tier)]
    pub tier_upgraded_to: Option<Tier>,
}

/// `POST /v1/members/{member_id}/reversals`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Reversed {
    pub entry_id: Uuid,
    pub member_id: Uuid,
    pub reversed: i64,
    /// Points taken back from the member's balance.
    pub clawed_back: i64,
    /// Points already spent that could not be taken back.
    pub shortfall: i64,
    pub balance: BalanceAfter,
}

/// `POST /v1/partners/{partner_code}/bonuses`: 201, and the same body again on a replay of
/// the same `webhook-id`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PartnerBonusAwarded {
    pub entry_id: Uuid,
    pub member_id: Uuid,
    pub partner: String,
    pub points: i64,
    pub reference: String,
    pub expires_at: DateTime<Utc>,
    pub balance: BalanceAfter,
}

/// `POST /v1/members/{member_id}/redeem`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Redeemed {
    pub entry_id: Uuid,
    pub member_id: Uuid,
    pub points: i64,
    pub reference: String,
    pub balance: BalanceAfter,
    /// The discount granted, when the redemption named its booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Valuation>,
}

/// A hold's state after the request that answered it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Active,
    Captured,
    Voided,
}

/// `POST /v1/members/{member_id}/holds`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Held {
    pub hold_id: Uuid,
    pub member_id: Uuid,
    pub points: i64,
    pub reference: String,
    pub state: HoldState,
    pub expires_at: DateTime<Utc>,
    pub balance: BalanceAfter,
    /// The discount the hold pays for, when it named its booking (for a full capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Valuation>,
}

/// `POST .../holds/{hold_id}/capture` and `.../void`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HoldEnded {
    pub hold_id: Uuid,
    pub member_id: Uuid,
    pub state: HoldState,
    /// Points spent (captures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captured: Option<i64>,
    /// Points given back to the member.
    pub released: i64,
    pub balance: BalanceAfter,
}

/// `POST /v1/members/{member_id}/transfers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Transferred {
    pub transfer_id: Uuid,
    pub entry_id: Uuid,
    pub from_member_id: Uuid,
    pub to_member_id: Uuid,
    pub points: i64,
    pub reference: String,
    /// The sender's balance.
    pub balance: BalanceAfter,
}

/// A redemption, hold or transfer the fraud rules sent to review (docs/fraud.md), answered
/// `202 Accepted`: nothing is spent or sent yet. The points are reserved in the hold
/// `hold_id` (state `in_review`) until support approves or rejects the review, or it expires.
/// Which rules flagged it is not said here; support sees it in the queue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnderReview {
    pub review_id: Uuid,
    pub hold_id: Uuid,
    pub member_id: Uuid,
    pub operation: Operation,
    pub points: i64,
    pub reference: String,
    /// Always `open` in this answer.
    pub state: ReviewState,
    /// When the sweep rejects the review if nobody has decided it.
    pub expires_at: DateTime<Utc>,
    pub balance: BalanceAfter,
    /// The discount the points would pay for, when the request named its booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Valuation>,
    /// The rules that flagged it, for the metrics of a fresh write; never sent or stored.
    #[serde(skip)]
    pub flagged_by: Vec<String>,
}

/// The outcome of a screened write: done, or held for review. Untagged, so the body (and
/// the idempotency record) is the variant's own; [`UnderReview`] comes first because only it
/// has a `review_id`, and records written before screening existed read as `Done`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Screened<T> {
    UnderReview(Box<UnderReview>),
    Done(T),
}

/// `POST /v1/admin/reviews/{review_id}/approve` and `.../reject`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewDecided {
    pub review_id: Uuid,
    pub hold_id: Uuid,
    pub member_id: Uuid,
    pub operation: Operation,
    pub points: i64,
    /// `approved` or `rejected`.
    pub state: ReviewState,
    /// The hold after the decision: `captured` (an approved redemption or transfer),
    /// `active` (an approved hold, to capture or void as usual) or `voided` (rejected).
    pub hold_state: HoldState,
    /// An approved hold's new expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// An approved transfer's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<Uuid>,
    /// The member's balance after the decision.
    pub balance: BalanceAfter,
}

/// One review of the queue, as support sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Review {
    pub review_id: Uuid,
    pub member_id: Uuid,
    pub hold_id: Uuid,
    pub operation: Operation,
    pub points: i64,
    pub reference: String,
    /// The rules that flagged the operation, with what they measured.
    pub flags: Vec<Flag>,
    pub state: ReviewState,
    /// The recipient of a transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_to: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

/// `GET /v1/admin/reviews`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewQueue {
    pub reviews: Vec<Review>,
}

/// Where a member's streak of visits stands after a visit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreakProgress {
    /// Consecutive days visited, up to this one, since the last streak award.
    pub days: i64,
    /// The days the streak needs.
    pub required: i64,
}

/// What a referral gave the referred member.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReferredCredit {
    pub member_id: Uuid,
    pub points: i64,
    pub entry_id: Uuid,
}

/// `POST /v1/members/{member_id}/activities`: 201, also when the reference was already
/// reported (the original answer).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActivityEarned {
    pub member_id: Uuid,
    #[schema(schema_with = schema::activity_kind)]
    pub kind: ActivityKind,
    pub source: String,
    pub reference: String,
    /// The activity's local day, in the reported time zone (UTC by default).
    pub local_day: chrono::NaiveDate,
    /// Points earned: the activity's and the campaigns'; 0 when a cap left nothing or a
    /// visit did not complete a streak.
    pub points: i64,
    /// The activity's own points, after its daily, monthly and lifetime caps.
    pub activity_points: i64,
    /// The ledger entry, when points were earned.
    pub entry_id: Option<Uuid>,
    /// The activity cap that cut its own points, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capped_by: Option<ActivityCap>,
    /// The campaigns for this activity that added points, each after its own caps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaigns: Vec<Granted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streak: Option<StreakProgress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referred: Option<ReferredCredit>,
    pub balance: BalanceAfter,
}

/// `POST /v1/quote`: what a booking would earn, before per-member caps and budgets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Quote {
    pub points: i64,
    pub base_points: i64,
    pub calculation: PointsBreakdown,
    #[schema(schema_with = schema::tier)]
    pub tier: Tier,
    pub tier_multiplier_milli: i64,
    pub tier_points: i64,
    pub campaigns: Vec<PlannedAward>,
    /// The partner the booking names: its rules applied, or why none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<PartnerBonus>,
    pub note: &'static str,
    /// `redeem_points` valued as a discount on this booking, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redemption: Option<Valuation>,
}

/// `GET /v1/leaderboard`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Leaderboard {
    pub residency_group: String,
    pub standings: Vec<crate::store::leaderboard::Standing>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Alive {
    /// Always `alive`.
    pub status: &'static str,
}

/// `GET /readyz` answering 200.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ready {
    pub status: ReadyStatus,
    pub region_state: String,
    pub epoch: i64,
    pub served_by: String,
    /// The campaign set this instance evaluates; null before the first campaign.
    pub campaigns_version: Option<i64>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    Ready,
}

/// `GET /readyz` answering 503. The `reason` strings are stable: the operator's prober reads
/// `region_not_active` as "alive but fenced"; the region's fields come only with that reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotReady {
    pub status: NotReadyStatus,
    pub reason: NotReadyReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotReadyStatus {
    NotReady,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotReadyReason {
    RegionNotActive,
    RegionUnknown,
    DatabaseUnavailable,
}

impl NotReady {
    /// Not ready for `reason`, with nothing known about the region.
    pub fn because(reason: NotReadyReason) -> Self {
        Self {
            status: NotReadyStatus::NotReady,
            reason,
            region_state: None,
            epoch: None,
            served_by: None,
        }
    }
}

/// A response's JSON as the idempotency record stores it.
pub fn to_body<T: Serialize>(response: &T) -> serde_json::Value {
    serde_json::to_value(response).expect("response types serialize to JSON")
}
