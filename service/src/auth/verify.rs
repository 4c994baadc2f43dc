//! Bearer token validation: an allow-list of asymmetric algorithms, the key chosen by `kid`
//! from the identity provider's set and bound to one algorithm, then signature, `iss`,
//! `aud`, `exp` and `nbf` (with a small leeway) by `jsonwebtoken`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use loyalty_crds::common::PartnerCode;
use serde::Deserialize;

use super::cache::VerifiedTokens;
use super::{Caller, KeySet, Refusal, Scope};

/// Algorithms a token may be signed with. Symmetric ones (HS*) are refused: with them a
/// token "signed" with the public key would verify (algorithm confusion).
const ALLOWED: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("ES256", Algorithm::ES256),
    ("EdDSA", Algorithm::EdDSA),
];
/// Longest token accepted; real access tokens are well under 2 KB.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a token must say about where it comes from and whom it is for.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

pub struct Verifier {
    keys: KeySet,
    /// Tokens that verified, until they expire or the key set changes.
    verified: VerifiedTokens,
    /// `VerifierSettings::leeway` in seconds, for the cached tokens' `exp`.
    leeway_s: u64,
    /// One validation per allowed algorithm (by its header name), built once: they differ
    /// only in the algorithm.
    validations: Vec<(&'static str, Algorithm, Validation)>,
}

/// The header fields read before the signature is checked, to pick the key.
#[derive(Deserialize)]
struct Peeked {
    alg: String,
    kid: Option<String>,
}

/// The claims this service reads; `exp`, `nbf`, `iss` and `aud` are checked by the library.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    /// Space-separated, as OAuth2 spells scopes (RFC 8693 `scope` claim).
    #[serde(default)]
    scope: String,
    client_id: Option<String>,
    azp: Option<String>,
    /// The partner a `loyalty:partner` token acts for.
    partner_code: Option<String>,
    /// Unix seconds; required and checked by the library, kept for the cache.
    exp: u64,
}

impl Verifier {
    /// A verifier remembering up to `cache_entries` verified tokens (0: none).
    pub fn new(keys: KeySet, settings: VerifierSettings, cache_entries: usize) -> Self {
        let validations = ALLOWED
            .iter()
            .map(|(name, alg)| (*name, *alg, validation(&settings, *alg)))
            .collect();
        Self {
            keys,
            verified: VerifiedTokens::new(cache_entries),
            leeway_s: settings.leeway.as_secs(),
            validations,
        }
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The caller `token` proves, or why it proves nothing.
    pub async fn verify(&self, token: &str) -> Result<Caller, Refusal> {
        // Read before verifying: a refresh during the check leaves the entry stale, not wrong.
        let generation = self.keys.generation();
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(caller) = self.verified.get(token, generation, now) {
            return Ok(caller);
        }
        let (caller, exp) = self.check(token).await?;
        let valid_until = exp.saturating_add(self.leeway_s);
        self.verified
            .insert(token, &caller, valid_until, generation);
        Ok(caller)
    }

    /// The full check of a token's header, signature and claims: its caller and `exp`.
    async fn check(&self, token: &str) -> Result<(Caller, u64), Refusal> {
        let peeked = peek(token)?;
        let (_, algorithm, validation) = self
            .validations
            .iter()
            .find(|(name, _, _)| *name == peeked.alg)
            .ok_or(Refusal::AlgorithmNotAllowed)?;
        let kid = peeked.kid.ok_or(Refusal::UnknownKey)?;
        let key = self.keys.key(&kid).await.ok_or(Refusal::UnknownKey)?;
        if key.algorithm != *algorithm {
            return Err(Refusal::AlgorithmNotAllowed);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, validation)
            .map_err(|e| refusal_of(e.kind()))?
            .claims;
        let exp = claims.exp;
        Ok((caller_of(claims)?, exp))
    }
}

/// What a token signed with `algorithm` must satisfy.
fn validation(settings: &VerifierSettings, algorithm: Algorithm) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_issuer(&[&settings.issuer]);
    v.set_audience(&[&settings.audience]);
    v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    v.leeway = settings.leeway.as_secs();
    v.validate_nbf = true;
    v
}

/// The unverified header of a compact JWS, only to choose the key and refuse early.
fn peek(token: &str) -> Result<Peeked, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::MalformedToken(format!(
            "longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::MalformedToken(
            "not three dot-separated parts".into(),
        ));
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Refusal::MalformedToken("the header is not base64url".into()))?;
    serde_json::from_slice(&json)
        .map_err(|_| Refusal::MalformedToken("the header is not a JSON object with alg".into()))
}

fn refusal_of(kind: &ErrorKind) -> Refusal {
    match kind {
        ErrorKind::InvalidSignature => Refusal::BadSignature,
        ErrorKind::ExpiredSignature => Refusal::Expired,
        ErrorKind::ImmatureSignature => Refusal::NotYetValid,
        ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
        ErrorKind::InvalidAudience => Refusal::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Refusal::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(claim) => {
            Refusal::MalformedToken(format!("the {claim} claim is missing"))
        }
        other => Refusal::MalformedToken(format!("{other:?}")),
    }
}

/// The caller of verified claims. A member token's subject must be the member's id; a
/// partner token must name a valid partner code.
fn caller_of(claims: Claims) -> Result<Caller, Refusal> {
    let scopes: Vec<Scope> = claims
        .scope
        .split_ascii_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let caller = Caller::new(claims.sub, claims.client_id.or(claims.azp), scopes);
    if caller.has(Scope::Member) && caller.member_id().is_none() {
        return Err(Refusal::InvalidSubject);
    }
    if !caller.has(Scope::Partner) {
        return Ok(caller);
    }
    let code = claims
        .partner_code
        .and_then(|c| PartnerCode::new(c).ok())
        .ok_or(Refusal::InvalidPartnerClaim)?;
    Ok(caller.for_partner(code))
}
