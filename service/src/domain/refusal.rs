//! Why the ledger refused an operation: one enum for every business refusal a store unit can
//! answer. Nothing was written when a unit answers one of these. The HTTP status, the request
//! field and the machine-readable details of each are chosen in `routes/`, not here.

use uuid::Uuid;

/// A refusal that is the caller's to act on (as opposed to an [`crate::error::Error`] of the
/// database or an internal invariant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no such member")]
    MemberNotFound,
    #[error("this instance's region {region} is not declared")]
    RegionUnknown { region: String },
    /// This region may not serve the member (it is fenced, or in another residency group).
    #[error("this member is served by region {serving}")]
    WrongRegion { serving: String, endpoint: String },
    #[error("no region homes members from this country")]
    UnsupportedCountry,
    #[error("a member with this external_id exists")]
    MemberExists { member_id: Uuid },
    #[error("this booking has already earned points for another member")]
    BookingAlreadyEarned,
    #[error("the booking earns no points")]
    NoPoints,
    #[error("this member has no earn for this booking")]
    EarnNotFound,
    #[error("this earn has been fully reversed")]
    AlreadyReversed,
    #[error("at most {reversible} points of this earn can still be reversed")]
    ReversalExceedsEarn { reversible: i64 },
    #[error("{requested} points requested, {available} available")]
    InsufficientPoints { requested: i64, available: i64 },
    #[error("this member has no such hold")]
    HoldNotFound,
    #[error("the hold is {state}")]
    HoldNotActive { state: String },
    #[error("the hold has expired")]
    HoldExpired,
    #[error("the hold is for {held} points")]
    CaptureExceedsHold { held: i64 },
    #[error("a member cannot transfer to themselves")]
    TransferToSelf,
    #[error("a transfer moves at most {max} points")]
    TransferTooLarge { max: i64 },
    #[error("no such recipient")]
    RecipientNotFound,
    #[error("points can only be transferred between members of the same residency group")]
    TransferAcrossResidencyGroups,
    #[error("{sent} of {limit} points already sent today")]
    TransferLimitReached { sent: i64, limit: i64 },
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("points cannot be used for {product}")]
    NotRedeemable { product: String },
    #[error("a redemption uses at least {min} points")]
    BelowMinimumRedemption { min: i64 },
    #[error("a redemption uses a multiple of {step} points")]
    NotARedemptionStep { step: i64 },
    #[error("this activity reference was already reported for another member")]
    ActivityAlreadyReported,
    #[error("the programme does not reward {kind} activities")]
    ActivityNotRewarded { kind: String },
    #[error("no such referred member")]
    ReferredNotFound,
    #[error("a member cannot refer themselves")]
    SelfReferral,
    #[error("the referred account shares an identity with the referrer")]
    ReferralSameIdentity,
    #[error("this member was already referred")]
    AlreadyReferred,
    #[error("the referred member already referred this member, directly or through others")]
    ReferralRing,
    #[error("the referred member has not completed a booking yet")]
    ReferralNotCompleted,
    #[error("referrals stay within a residency group")]
    ReferralAcrossResidencyGroups,
    #[error(
        "points may pay at most {max_discount_minor} minor units ({max_share_bp} basis points) of this booking"
    )]
    DiscountExceedsShare {
        max_discount_minor: i64,
        max_share_bp: i64,
    },
    #[error("no such review")]
    ReviewNotFound,
    #[error("the review is {state}")]
    ReviewNotOpen { state: String },
}

impl Refusal {
    /// The stable machine-readable code clients and metrics see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MemberNotFound => "member_not_found",
            Self::RegionUnknown { .. } => "region_unknown",
            Self::WrongRegion { .. } => "wrong_region",
            Self::UnsupportedCountry => "unsupported_country",
            Self::MemberExists { .. } => "member_exists",
            Self::BookingAlreadyEarned => "booking_already_earned",
            Self::NoPoints => "no_points",
            Self::EarnNotFound => "earn_not_found",
            Self::AlreadyReversed => "already_reversed",
            Self::ReversalExceedsEarn { .. } => "reversal_exceeds_earn",
            Self::InsufficientPoints { .. } => "insufficient_points",
            Self::HoldNotFound => "hold_not_found",
            Self::HoldNotActive { .. } => "hold_not_active",
            Self::HoldExpired => "hold_expired",
            Self::CaptureExceedsHold { .. } => "capture_exceeds_hold",
            Self::TransferToSelf => "transfer_to_self",
            Self::TransferTooLarge { .. } => "transfer_too_large",
            Self::RecipientNotFound => "recipient_not_found",
            Self::TransferAcrossResidencyGroups => "transfer_across_residency_groups",
            Self::TransferLimitReached { .. } => "transfer_limit_reached",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::NotRedeemable { .. } => "not_redeemable",
            Self::ActivityAlreadyReported => "activity_already_reported",
            Self::ActivityNotRewarded { .. } => "activity_not_rewarded",
            Self::ReferredNotFound => "referred_member_not_found",
            Self::SelfReferral => "self_referral",
            Self::ReferralSameIdentity => "referral_same_identity",
            Self::AlreadyReferred => "already_referred",
            Self::ReferralRing => "referral_ring",
            Self::ReferralNotCompleted => "referral_not_completed",
            Self::ReferralAcrossResidencyGroups => "referral_across_residency_groups",
            Self::BelowMinimumRedemption { .. } => "below_minimum_redemption",
            Self::NotARedemptionStep { .. } => "not_a_redemption_step",
            Self::DiscountExceedsShare { .. } => "discount_exceeds_share",
            Self::ReviewNotFound => "review_not_found",
            Self::ReviewNotOpen { .. } => "review_not_open",
        }
    }
}
