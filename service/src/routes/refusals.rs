//! How the crate's errors answer over HTTP: each business [`Refusal`] with its status, the
//! request field it is about and its machine-readable details; infrastructure failures as a
//! bare 500 or 503 after logging their cause.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::ApiError;
use crate::domain::Refusal;
use crate::error::Error;

fn status(r: &Refusal) -> StatusCode {
    use Refusal::*;
    match r {
        MemberNotFound | EarnNotFound | HoldNotFound | RecipientNotFound | ReferredNotFound
        | ReviewNotFound => StatusCode::NOT_FOUND,
        RegionUnknown { .. } => StatusCode::SERVICE_UNAVAILABLE,
        WrongRegion { .. } => StatusCode::MISDIRECTED_REQUEST,
        MemberExists { .. }
        | BookingAlreadyEarned
        | AlreadyReversed
        | HoldNotActive { .. }
        | HoldExpired
        | IdempotencyKeyReused
        | ActivityAlreadyReported
        | AlreadyReferred
        | ReviewNotOpen { .. } => StatusCode::CONFLICT,
        UnsupportedCountry
        | NoPoints
        | ReversalExceedsEarn { .. }
        | InsufficientPoints { .. }
        | CaptureExceedsHold { .. }
        | TransferToSelf
        | TransferTooLarge { .. }
        | TransferAcrossResidencyGroups
        | TransferLimitReached { .. }
        | NotRedeemable { .. }
        | BelowMinimumRedemption { .. }
        | NotARedemptionStep { .. }
        | DiscountExceedsShare { .. }
        | ActivityNotRewarded { .. }
        | SelfReferral
        | ReferralSameIdentity
        | ReferralRing
        | ReferralNotCompleted
        | ReferralAcrossResidencyGroups => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The request field a refusal is about, if one.
fn field(r: &Refusal) -> Option<&'static str> {
    use Refusal::*;
    match r {
        UnsupportedCountry => Some("country"),
        MemberExists { .. } => Some("external_id"),
        ReversalExceedsEarn { .. }
        | InsufficientPoints { .. }
        | CaptureExceedsHold { .. }
        | TransferTooLarge { .. }
        | TransferLimitReached { .. }
        | BelowMinimumRedemption { .. }
        | NotARedemptionStep { .. }
        | DiscountExceedsShare { .. } => Some("points"),
        NotRedeemable { .. } => Some("booking.product"),
        ReferredNotFound
        | SelfReferral
        | ReferralSameIdentity
        | AlreadyReferred
        | ReferralRing
        | ReferralNotCompleted
        | ReferralAcrossResidencyGroups => Some("referred_member_id"),
        ActivityAlreadyReported => Some("reference"),
        ActivityNotRewarded { .. } => Some("kind"),
        TransferToSelf | RecipientNotFound | TransferAcrossResidencyGroups => Some("to_member_id"),
        _ => None,
    }
}

fn details(r: &Refusal) -> Option<Value> {
    match r {
        Refusal::WrongRegion { serving, endpoint } => {
            Some(json!({ "serving_region": serving, "endpoint": endpoint }))
        }
        Refusal::MemberExists { member_id } => Some(json!({ "member_id": member_id })),
        Refusal::InsufficientPoints { available, .. } => Some(json!({ "available": available })),
        Refusal::HoldNotActive { state } | Refusal::ReviewNotOpen { state } => {
            Some(json!({ "state": state }))
        }
        Refusal::BelowMinimumRedemption { min } => Some(json!({ "min_points": min })),
        Refusal::NotARedemptionStep { step } => Some(json!({ "step_points": step })),
        Refusal::DiscountExceedsShare {
            max_discount_minor,
            max_share_bp,
        } => {
            Some(json!({ "max_discount_minor": max_discount_minor, "max_share_bp": max_share_bp }))
        }
        _ => None,
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let mut e = ApiError::new(status(&r), r.code(), r.to_string());
        e.field = field(&r).map(str::to_owned);
        e.details = details(&r);
        e
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Refused(r) => r.into(),
            Error::Invalid(invalid) => invalid.into(),
            Error::Contention { attempts } => {
                tracing::warn!(
                    attempts,
                    "transaction abandoned after repeated serialization failures"
                );
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "contention",
                    "too much contention on this member; retry with the same Idempotency-Key",
                )
            }
            Error::CommitUnknown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "commit_unknown",
                "the outcome of the write is unknown; retry with the same Idempotency-Key",
            ),
            Error::Pool(err) => {
                // The cause (a refused TLS handshake, say) is only in the source chain.
                tracing::error!(error = %err, causes = %causes(&err), "database pool unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "database unavailable",
                )
            }
            Error::Db(err) => {
                tracing::error!(error = %err, sqlstate = ?err.code().map(|c| c.code()), "database error");
                ApiError::internal()
            }
            Error::Invariant(what) => {
                tracing::error!(%what, "internal invariant violated");
                ApiError::internal()
            }
        }
    }
}

/// The chain of `err`'s sources, outermost first: "a: b: c".
fn causes(err: &dyn std::error::Error) -> String {
    let mut chain = Vec::new();
    let mut next = err.source();
    while let Some(cause) = next {
        chain.push(cause.to_string());
        next = cause.source();
    }
    chain.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invariant_violation_answers_internal_never_a_client_code() {
        let e = ApiError::from(Error::Invariant("lots do not cover the balance".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code, "internal");
        assert_eq!(e.message, "internal error");
    }

    /// One of each refusal. A variant missing here fails to compile in the match below.
    fn every_refusal() -> Vec<Refusal> {
        use Refusal::*;
        let (s, n) = (String::new, i64::default);
        let all = vec![
            MemberNotFound,
            RegionUnknown { region: s() },
            WrongRegion {
                serving: s(),
                endpoint: s(),
            },
            UnsupportedCountry,
            MemberExists {
                member_id: uuid::Uuid::nil(),
            },
            BookingAlreadyEarned,
            NoPoints,
            EarnNotFound,
            AlreadyReversed,
            ReversalExceedsEarn { reversible: n() },
            InsufficientPoints {
                requested: n(),
                available: n(),
            },
            HoldNotFound,
            HoldNotActive { state: s() },
            HoldExpired,
            CaptureExceedsHold { held: n() },
            TransferToSelf,
            TransferTooLarge { max: n() },
            RecipientNotFound,
            TransferAcrossResidencyGroups,
            TransferLimitReached {
                sent: n(),
                limit: n(),
            },
            IdempotencyKeyReused,
            NotRedeemable { product: s() },
            BelowMinimumRedemption { min: n() },
            NotARedemptionStep { step: n() },
            DiscountExceedsShare {
                max_discount_minor: n(),
                max_share_bp: n(),
            },
            ActivityAlreadyReported,
            ActivityNotRewarded { kind: s() },
            ReferredNotFound,
            SelfReferral,
            ReferralSameIdentity,
            AlreadyReferred,
            ReferralRing,
            ReferralNotCompleted,
            ReferralAcrossResidencyGroups,
            ReviewNotFound,
            ReviewNotOpen { state: s() },
        ];
        for r in &all {
            match r {
                MemberNotFound
                | RegionUnknown { .. }
                | WrongRegion { .. }
                | UnsupportedCountry
                | MemberExists { .. }
                | BookingAlreadyEarned
                | NoPoints
                | EarnNotFound
                | AlreadyReversed
                | ReversalExceedsEarn { .. }
                | InsufficientPoints { .. }
                | HoldNotFound
                | HoldNotActive { .. }
                | HoldExpired
                | CaptureExceedsHold { .. }
                | TransferToSelf
                | TransferTooLarge { .. }
                | RecipientNotFound
                | TransferAcrossResidencyGroups
                | TransferLimitReached { .. }
                | IdempotencyKeyReused
                | NotRedeemable { .. }
                | BelowMinimumRedemption { .. }
                | NotARedemptionStep { .. }
                | DiscountExceedsShare { .. }
                | ActivityAlreadyReported
                | ActivityNotRewarded { .. }
                | ReferredNotFound
                | SelfReferral
                | ReferralSameIdentity
                | AlreadyReferred
                | ReferralRing
                | ReferralNotCompleted
                | ReferralAcrossResidencyGroups
                | ReviewNotFound
                | ReviewNotOpen { .. } => {}
            }
        }
        all
    }

    #[test]
    fn every_refusal_is_a_client_error_the_document_lists_under_its_status() {
        for r in every_refusal() {
            let e = ApiError::from(r.clone());
            assert!(
                e.status.is_client_error() || e.status == StatusCode::SERVICE_UNAVAILABLE,
                "{r:?} answers {}",
                e.status
            );
            assert!(
                super::super::openapi::documents(e.status, e.code),
                "{} ({}) is not in the OpenAPI document's refusals",
                e.code,
                e.status
            );
        }
    }

    #[test]
    fn a_wrong_region_names_where_to_go() {
        let e = ApiError::from(Refusal::WrongRegion {
            serving: "eu-west-1".into(),
            endpoint: "https://eu.example".into(),
        });
        assert_eq!(e.status, StatusCode::MISDIRECTED_REQUEST);
        assert_eq!(
            e.details,
            Some(json!({ "serving_region": "eu-west-1", "endpoint": "https://eu.example" }))
        );
    }
}
