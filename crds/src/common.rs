//! What the kinds share: status conditions, the vocabulary of the business (product types,
//! tiers, channels, weekdays) and newtypes for names and codes.
//!
//! The newtypes carry the same pattern in their JSON schema as in their Rust constructor, so
//! the API server rejects exactly the values the Rust side cannot parse and a watch never meets
//! an object it cannot deserialize.

mod condition;
mod names;
mod vocabulary;

pub use condition::{Condition, ConditionStatus, find_condition, is_condition_true, set_condition};
pub use names::{CountryCode, CurrencyCode, PartnerCode, RegionName, ResidencyGroup};
pub use vocabulary::{Channel, Money, ProductType, Tier, Weekday};

/// Whether `url` is an absolute https URL with a host: `https://host[:port][/path]`, no
/// whitespace. Deliberately strict and small; it is no general URL parser.
pub fn is_https_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, port)| {
            if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                host
            } else {
                ""
            }
        });
    !host.is_empty()
        && !host.contains('@')
        && !url.chars().any(char::is_whitespace)
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
}

#[cfg(test)]
mod tests {
    use super::is_https_url;

    #[test]
    fn only_absolute_https_urls_with_a_host_are_accepted() {
        for ok in [
            "https://a.example",
            "https://a.example:8443/x?y=1",
            "https://10.0.0.1/",
            "https://[::1]:443/",
        ] {
            assert!(is_https_url(ok), "{ok}");
        }
        for bad in [
            "http://a.example",
            "https://",
            "https:///path",
            "https://a b",
            "https://user@a.example",
            "https://a.example:port",
            "ftp://a",
        ] {
            assert!(!is_https_url(bad), "{bad}");
        }
    }
}
