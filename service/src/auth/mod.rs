//! Who is calling, and may they? OAuth2 bearer tokens (JWT) on every `/v1` route, checked
//! against the identity provider's key set; scopes per kind of caller; object-level checks
//! so that a member's token reaches only that member; rate limits per token subject and per
//! client address. `docs/security.md` has the scope table and the threat model; ADR 0013
//! says why these crates.
//!
//! Identity arrives through [`middleware::authorize`] and the [`Caller`] extractor: handlers
//! only read the caller to record who wrote an entry, never to decide access.

mod cache;
mod caller;
pub mod dev;
mod jwks;
mod limits;
pub mod middleware;
pub mod policy;
mod refusal;
mod scope;
mod verify;

pub use caller::Caller;
pub use jwks::{JwksSource, KeySet};
pub use limits::Limits;
pub use refusal::Refusal;
pub use scope::Scope;
pub use verify::{Verifier, VerifierSettings};

use std::time::Duration;

use anyhow::Context as _;

use crate::config::{AuthConfig, LimitsConfig};

/// What the middleware needs: the token verifier and the rate limits.
pub struct Auth {
    pub verifier: Verifier,
    pub limits: Limits,
}

impl Auth {
    /// Loads the key set `config` names (startup fails without one) and builds the limits.
    pub async fn from_config(config: &AuthConfig, limits: &LimitsConfig) -> anyhow::Result<Self> {
        let source = config.jwks_source().ok_or_else(|| {
            anyhow::anyhow!("no key set to verify tokens with: set auth.jwks_url or auth.jwks_file (`serve --demo` uses a generated one)")
        })?;
        let keys = KeySet::load(source, Duration::from_secs(config.jwks_min_refresh_s)).await?;
        let settings = VerifierSettings {
            issuer: config.issuer.clone().context("auth.issuer is not set")?,
            audience: config
                .audience
                .clone()
                .context("auth.audience is not set")?,
            leeway: Duration::from_secs(config.leeway_s),
        };
        Ok(Self {
            verifier: Verifier::new(keys, settings, config.token_cache_entries),
            limits: Limits::new(limits),
        })
    }
}
