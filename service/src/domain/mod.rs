//! Value types of the loyalty domain. Request bodies are parsed into these once, at the
//! edge, so the rest of the service never sees an unchecked amount or reference.

pub mod activity;
mod actor;
pub mod booking;
pub mod caps;
pub mod delivery;
pub mod earn;
pub mod events;
pub mod expiry_notice;
pub mod fraud;
pub mod hold_status;
mod money;
pub mod partner_bonus;
mod points;
mod refusal;
pub mod rules;
pub mod schema;
mod text;
pub mod valuation;

pub use actor::Actor;
pub use booking::{Booking, Earner, Programme, Residency};
pub use earn::{
    EarnRates, PointsBreakdown, ProductType, compute_base_points, parse_product, product_name,
};
pub use hold_status::HoldStatus;
pub use money::{CurrencyCode, Money, Spend, amount_minor_in_range};
pub use points::Points;
pub use refusal::Refusal;
pub use text::{CountryCode, ExternalId, IdempotencyKey, Reference, Source};

/// Why a value failed to parse: a stable machine-readable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A stored tier name. An unknown one is an internal error (a row written by another
/// version, or by hand), never silently the lowest tier.
pub fn parse_tier(raw: &str) -> crate::error::Result<loyalty_crds::common::Tier> {
    raw.parse().map_err(|e: loyalty_crds::common::UnknownTier| {
        crate::error::Error::Invariant(e.to_string())
    })
}
