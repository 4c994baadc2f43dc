//! OpenAPI schemas of the value types, built from the same constants their parsers check,
//! so the published constraints and the enforced ones cannot drift apart. Generated valid
//! requests are then valid requests (a fuzzer relies on that).

use std::borrow::Cow;

use loyalty_crds::campaign::StackingMode;
use loyalty_crds::common::{ActivityKind, Channel, PartnerCode, ProductType, Tier};
use serde::Serialize;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::money::MAX_AMOUNT_MINOR;
use super::points::MAX_POINTS_PER_OPERATION;
use super::{CountryCode, Points};

/// A string schema with a pattern (anchored, so it bounds the length where it is fixed).
fn string(pattern: &str, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
}

/// The pattern of a token (see `text::token`): an alphanumeric first byte, then
/// alphanumerics or `extra`. `-` goes last in the class so that it needs no escape.
pub(super) fn token_pattern(extra: &[u8]) -> String {
    let (dash, rest): (Vec<u8>, Vec<u8>) = extra.iter().partition(|b| **b == b'-');
    let class: String = rest.iter().chain(&dash).map(|&b| b as char).collect();
    format!("^[A-Za-z0-9][A-Za-z0-9{class}]*$")
}

/// A token's schema; `token_type!` in `text` implements the traits through it.
pub(super) fn token(extra: &[u8], max_len: usize, description: &str) -> RefOr<Schema> {
    string(&token_pattern(extra), description)
        .min_length(Some(1))
        .max_length(Some(max_len))
        .into()
}

/// An integer schema bounded on both sides.
pub fn bounded_integer(min: i64, max: i64, description: &str) -> RefOr<Schema> {
    integer(min, max, description).into()
}

/// [`bounded_integer`], or `null`: for an optional request field described by a function
/// (`schema_with` does not add the `null` that serde accepts for an `Option`).
pub fn optional_bounded_integer(min: i64, max: i64, description: &str) -> RefOr<Schema> {
    integer(min, max, description)
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .into()
}

fn integer(min: i64, max: i64, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
}

/// A string schema that also admits `null` (an optional request field, as above).
fn nullable_string(schema: ObjectBuilder) -> RefOr<Schema> {
    schema
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .into()
}

/// A string enum whose values are the serde names of `values`.
fn serde_enum<T: Serialize>(values: &[T], description: &str) -> RefOr<Schema> {
    let names = values
        .iter()
        .map(|v| serde_json::to_value(v).expect("enum serializes"));
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(description))
        .into()
}

/// Implements `ToSchema` under `name` with the schema `build` returns.
macro_rules! schema {
    ($ty:ty, $name:literal, $build:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $build
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

schema!(
    Points,
    "Points",
    bounded_integer(
        1,
        MAX_POINTS_PER_OPERATION,
        "a positive number of points moved by one operation"
    )
);
schema!(
    CountryCode,
    "CountryCode",
    string("^[A-Z]{2}$", "an ISO 3166-1 alpha-2 country code").into()
);
/// A currency: the schema of `Money::currency`.
pub fn currency() -> RefOr<Schema> {
    string(
        "^[A-Z]{3}$",
        "an ISO 4217 code; one the programme has no rate for is refused with 422 unknown_currency",
    )
    .into()
}

/// Spend in minor units: the schema of `Money::amount_minor`.
pub fn amount_minor() -> RefOr<Schema> {
    bounded_integer(1, MAX_AMOUNT_MINOR, "spend in minor units (cents)")
}

/// An optional amount in minor units.
pub fn optional_amount_minor() -> RefOr<Schema> {
    optional_bounded_integer(1, MAX_AMOUNT_MINOR, "an amount in minor units (cents)")
}

/// The product types, named as on the wire.
pub fn product() -> RefOr<Schema> {
    serde_enum(&ProductType::ALL, "what a booking is for")
}

/// The tiers, lowest first.
pub fn tier() -> RefOr<Schema> {
    serde_enum(&Tier::ALL, "a member's tier")
}

/// The activities the programme rewards.
pub fn activity_kind() -> RefOr<Schema> {
    serde_enum(&ActivityKind::ALL, "what the member did")
}

/// The booking channels, or `null` for the default. Listed here with an exhaustive match so
/// that a new channel does not compile until it is documented.
pub fn optional_channel() -> RefOr<Schema> {
    const ALL: [Channel; 4] = [
        Channel::Web,
        Channel::App,
        Channel::CallCenter,
        Channel::Partner,
    ];
    match ALL[0] {
        Channel::Web | Channel::App | Channel::CallCenter | Channel::Partner => {}
    }
    let names = ALL.map(|c| serde_json::to_value(c).expect("enum serializes"));
    let schema = ObjectBuilder::new()
        .enum_values(Some(names.into_iter().chain([serde_json::Value::Null])))
        .description(Some("where the booking was made; default web"));
    nullable_string(schema)
}

/// How a campaign stacks with the others (exhaustive for the same reason as
/// [`optional_channel`]).
pub fn stacking_mode() -> RefOr<Schema> {
    const ALL: [StackingMode; 3] = [
        StackingMode::Exclusive,
        StackingMode::BestOf,
        StackingMode::Additive,
    ];
    match ALL[0] {
        StackingMode::Exclusive | StackingMode::BestOf | StackingMode::Additive => {}
    }
    serde_enum(&ALL, "how the campaign stacks with the others")
}

/// A partner code, with the pattern its parser checks, or `null` for none.
pub fn optional_partner() -> RefOr<Schema> {
    nullable_string(string(PartnerCode::PATTERN, "a partner code such as AF"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_pattern_puts_the_dash_last_so_it_is_literal() {
        assert_eq!(token_pattern(b"-_."), "^[A-Za-z0-9][A-Za-z0-9_.-]*$");
        assert_eq!(token_pattern(b"_"), "^[A-Za-z0-9][A-Za-z0-9_]*$");
    }
}
