//! Who made a ledger entry: the authenticated caller (token subject and OAuth2 client), or a
//! job of the service itself. Recorded in every entry's `details.actor`, so "who redeemed my
//! points" has an answer that survives in the hash-chained ledger.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The token's `sub`, or `job:<name>` for the service's own jobs.
    pub sub: String,
    /// The token's `client_id` (RFC 9068) or `azp`, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl Actor {
    pub fn new(sub: impl Into<String>, client: Option<String>) -> Self {
        Self {
            sub: sub.into(),
            client,
        }
    }

    /// One of the service's own jobs (the sweeps).
    pub fn job(name: &str) -> Self {
        Self::new(format!("job:{name}"), None)
    }
}
