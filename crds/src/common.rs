//! What the kinds share: status conditions, the vocabulary of the business (product types,
//! tiers, channels, weekdays), newtypes for names and codes, and references to Secrets.
//!
//! The newtypes carry the same pattern in their JSON schema as in their Rust constructor, so
//! the API server rejects exactly the values the Rust side cannot parse and a watch never meets
//! an object it cannot deserialize.

mod condition;
mod names;
mod secret;
mod vocabulary;

pub use condition::{Condition, ConditionStatus, find_condition, is_condition_true, set_condition};
pub use names::{CountryCode, CurrencyCode, PartnerCode, RegionName, ResidencyGroup};
pub use secret::SecretKeyRef;
pub use vocabulary::{
    ActivityKind, Channel, Money, ProductType, Tier, UnknownActivity, UnknownTier, Weekday,
};

/// Whether `url` is an absolute https URL with a host: `https://host[:port][/path]`, no
/// whitespace. Deliberately strict and small; it is no general URL parser.
pub fn is_https_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    has_plain_host(url, rest)
}

/// Loopback prefixes a region's endpoint may use with plain `http://`: the local multi-region
/// topology (chaos suite, sandbox) runs every region's service on this machine without TLS.
pub const LOOPBACK_HTTP_PREFIXES: [&str; 3] =
    ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"];

/// Whether `url` may be a region's service endpoint: an absolute https URL, or plain http to
/// a loopback address with a port (local topologies only; nothing off the machine is reachable
/// that way).
pub fn is_region_endpoint(url: &str) -> bool {
    if is_https_url(url) {
        return true;
    }
    LOOPBACK_HTTP_PREFIXES.iter().any(|p| url.starts_with(p))
        && url
            .strip_prefix("http://")
            .is_some_and(|rest| has_plain_host(url, rest))
}

fn has_plain_host(url: &str, rest: &str) -> bool {
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
    use super::{is_https_url, is_region_endpoint};

    #[test]
    fn region_endpoints_are_https_or_plain_http_to_a_loopback_port() {
        for ok in [
            "https://eu.loyalty.example",
            "http://127.0.0.1:18080",
            "http://localhost:8080/",
            "http://[::1]:8080",
        ] {
            assert!(is_region_endpoint(ok), "{ok}");
        }
        for bad in [
            "http://eu.loyalty.example",
            "http://127.0.0.1",
            "http://127.0.0.1.evil.example:80",
            "http://localhost:80 /x",
            "http://10.0.0.1:8080",
        ] {
            assert!(!is_region_endpoint(bad), "{bad}");
        }
    }

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
            "http://127.0.0.1:8080",
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
