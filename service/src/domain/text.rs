//! Bounded identifier strings supplied by clients. Each is a printable-ASCII token with a
//! length limit, so no control character, over-long string or markup ever reaches the
//! ledger or the logs.

use super::Invalid;

/// Longest booking reference, partner reference or hold reference.
pub const MAX_REFERENCE_LEN: usize = 128;
/// Longest earn source (the booking system or partner that reports the booking).
pub const MAX_SOURCE_LEN: usize = 64;
/// Longest external member id.
pub const MAX_EXTERNAL_ID_LEN: usize = 128;
/// Longest Idempotency-Key header value.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Checks a token: non-empty, at most `max_len` bytes, first byte alphanumeric, the rest
/// alphanumeric or one of `extra`.
fn token(
    raw: &str,
    max_len: usize,
    extra: &[u8],
    code: &'static str,
    what: &str,
) -> Result<String, Invalid> {
    let bytes = raw.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= max_len
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(b));
    if valid {
        Ok(raw.to_owned())
    } else {
        let allowed: String = extra.iter().map(|&b| b as char).collect();
        Err(Invalid::new(
            code,
            format!(
                "{what} must be 1 to {max_len} characters: letters, digits and '{allowed}', starting with a letter or digit"
            ),
        ))
    }
}

macro_rules! token_type {
    ($(#[$doc:meta])* $name:ident, $max:expr, $extra:expr, $code:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                token(raw, $max, $extra, $code, $what).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                super::schema::token($extra, $max, $what)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

token_type!(
    /// A booking, redemption or hold reference from the calling system.
    Reference, MAX_REFERENCE_LEN, b"-_.:/#", "invalid_reference", "reference"
);
token_type!(
    /// The system that reports an earn, e.g. `hotel-bookings` or a partner code.
    Source, MAX_SOURCE_LEN, b"-_.", "invalid_source", "source"
);
token_type!(
    /// The member's id in the travel company's customer system.
    ExternalId, MAX_EXTERNAL_ID_LEN, b"-_.:@", "invalid_external_id", "external_id"
);
token_type!(
    /// A client-chosen key that makes a mutating request safe to retry.
    IdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN, b"-_.:", "invalid_idempotency_key", "Idempotency-Key"
);

/// An ISO 3166-1 alpha-2 country code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                "invalid_country",
                "country must be an ISO 3166-1 alpha-2 code such as DE",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_reject_control_characters_and_overlong_values() {
        assert!(Reference::parse("BK-2026-001").is_ok());
        assert!(Reference::parse("").is_err());
        assert!(Reference::parse("BK\n1").is_err());
        assert!(Reference::parse("BK\u{0}1").is_err());
        assert!(Reference::parse("-leading").is_err());
        assert!(Reference::parse(&"x".repeat(MAX_REFERENCE_LEN)).is_ok());
        assert_eq!(
            Reference::parse(&"x".repeat(MAX_REFERENCE_LEN + 1))
                .unwrap_err()
                .code,
            "invalid_reference"
        );
    }

    #[test]
    fn country_codes_are_two_upper_case_letters() {
        assert!(CountryCode::parse("DE").is_ok());
        assert!(CountryCode::parse("de").is_err());
        assert!(CountryCode::parse("DEU").is_err());
    }
}
