//! Newtypes for names and codes. Each is parsed once (from YAML, JSON or a string) and is
//! valid from then on; its JSON schema carries the same pattern, so the API server agrees.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Declares a string newtype: private field, `FromStr`/`TryFrom<String>` through `$check`,
/// serde through those, and a JSON schema with `$pattern` and `$max_len`.
macro_rules! string_newtype {
    (
        $(#[$doc:meta])*
        $name:ident, what = $what:literal, pattern = $pattern:literal,
        max_len = $max_len:literal, check = $check:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The regular expression the API server checks (anchored).
            pub const PATTERN: &'static str = $pattern;

            /// Parses `value`, failing unless it matches [`Self::PATTERN`].
            pub fn new(value: impl Into<String>) -> crate::Result<Self> {
                let value = value.into();
                let check: fn(&str) -> bool = $check;
                if value.len() <= $max_len && check(&value) {
                    Ok(Self(value))
                } else {
                    Err(Error::InvalidValue {
                        what: $what,
                        value,
                        expected: $pattern,
                    })
                }
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> crate::Result<Self> {
                Self::new(value)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(value: &str) -> crate::Result<Self> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "maxLength": $max_len,
                })
            }
        }
    };
}

fn all_upper(value: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_region_name(value: &str) -> bool {
    let lower_alnum = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    value.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && value.contains('-')
        && value.split('-').all(lower_alnum)
}

string_newtype!(
    /// A cloud region's name, e.g. `eu-west-1` or `europe-west1`: lowercase letters and digits
    /// in at least two dash-separated parts, starting with a letter.
    RegionName,
    what = "region name",
    pattern = "^[a-z][a-z0-9]*(-[a-z0-9]+)+$",
    max_len = 32,
    check = is_region_name
);

string_newtype!(
    /// A residency group, e.g. `eu`: the set of regions whose members' data may live together.
    /// Two to sixteen lowercase letters.
    ResidencyGroup,
    what = "residency group",
    pattern = "^[a-z]{2,16}$",
    max_len = 16,
    check = |v| (2..=16).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_lowercase())
);

string_newtype!(
    /// An ISO 3166-1 alpha-2 country code, e.g. `FR`.
    CountryCode,
    what = "country code",
    pattern = "^[A-Z]{2}$",
    max_len = 2,
    check = |v| all_upper(v, 2..=2)
);

string_newtype!(
    /// An ISO 4217 currency code, e.g. `EUR`.
    CurrencyCode,
    what = "currency code",
    pattern = "^[A-Z]{3}$",
    max_len = 3,
    check = |v| all_upper(v, 3..=3)
);

string_newtype!(
    /// A partner's code, e.g. `AF` or `HILTON`: two to sixteen uppercase letters or digits.
    PartnerCode,
    what = "partner code",
    pattern = "^[A-Z0-9]{2,16}$",
    max_len = 16,
    check = |v| {
        (2..=16).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_accept_cloud_spellings_and_reject_others() {
        for ok in ["eu-west-1", "ap-southeast-1", "europe-west1", "us-east-2"] {
            assert!(RegionName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "eu",
            "EU-west-1",
            "eu--west",
            "-eu-west",
            "eu-west-",
            "1eu-west",
            "eu_west_1",
        ] {
            assert!(RegionName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_uppercase_of_the_exact_length() {
        assert!(CountryCode::new("FR").is_ok());
        assert!(CountryCode::new("fr").is_err());
        assert!(CountryCode::new("FRA").is_err());
        assert!(CurrencyCode::new("EUR").is_ok());
        assert!(CurrencyCode::new("EU").is_err());
        assert!(PartnerCode::new("AF01").is_ok());
        assert!(PartnerCode::new("A").is_err());
        assert!(PartnerCode::new("af").is_err());
    }

    #[test]
    fn residency_groups_are_short_lowercase_words() {
        assert!(ResidencyGroup::new("apac").is_ok());
        assert!(ResidencyGroup::new("e").is_err());
        assert!(ResidencyGroup::new("EU").is_err());
        assert!(ResidencyGroup::new("eu-1").is_err());
    }

    #[test]
    fn newtypes_deserialize_only_valid_strings() {
        let ok: CountryCode = serde_json::from_str("\"DE\"").unwrap();
        assert_eq!(ok.as_str(), "DE");
        assert!(serde_json::from_str::<CountryCode>("\"Germany\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"DE\"");
    }

    #[test]
    fn the_parse_error_names_the_value_and_the_expected_shape() {
        let err = RegionName::new("Paris").unwrap_err();
        assert_eq!(err.metric_label(), "invalid_value");
        assert!(err.to_string().contains("\"Paris\""));
        assert!(err.to_string().contains(RegionName::PATTERN));
    }
}
