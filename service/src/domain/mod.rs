//! Value types of the loyalty domain. Request bodies are parsed into these once, at the
//! edge, so the rest of the service never sees an unchecked amount or reference.

mod actor;
pub mod earn;
pub mod events;
mod money;
pub mod partner_bonus;
mod points;
pub mod rules;
pub mod schema;
mod text;

pub use actor::Actor;
pub use earn::{
    EarnRates, PointsBreakdown, ProductType, compute_base_points, parse_product, product_name,
};
pub use money::{CurrencyCode, Money};
pub use points::Points;
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
