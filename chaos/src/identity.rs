//! The chaos run's identity provider: one generated key whose key set every region's
//! service trusts. The workload acts as the platform's client (every service scope) and a
//! transfer as its sender, with that member's own token, as in production.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use hyper::header::HeaderValue;
use loyalty_loadgen::http::{bearer, use_token};
use loyalty_service::auth::Scope;
use loyalty_service::auth::dev::DevIssuer;
use uuid::Uuid;

use crate::{Error, Result};

/// Longer than any chaos run.
const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

fn issuer() -> &'static DevIssuer {
    static ISSUER: OnceLock<DevIssuer> = OnceLock::new();
    ISSUER.get_or_init(|| DevIssuer::generate("https://issuer.chaos.invalid", "loyalty-api"))
}

/// Writes the key set into `dir`, makes every connection of this process send the platform
/// token, and returns the environment that makes a service trust the key set.
pub fn service_env(dir: &Path) -> Result<Vec<(String, String)>> {
    let jwks = dir.join("jwks.json");
    issuer()
        .write_jwks(&jwks)
        .map_err(|e| Error::Service(format!("writing the key set: {e:#}")))?;
    use_token(issuer().token("chaos-workload", "chaos", &Scope::SERVICES, TOKEN_TTL));
    Ok(issuer().service_env(&jwks))
}

/// `Bearer <token>` of `member`'s own token.
pub fn member_bearer(member: Uuid) -> HeaderValue {
    bearer(&issuer().member_token(member, TOKEN_TTL))
}
