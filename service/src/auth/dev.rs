//! The development issuer: an Ed25519 key this service generates for `serve --demo`, the
//! tests, the chaos suite and the benchmark, its JWKS, and tokens signed with it. Nothing
//! here is used to verify a production token: production keys come from the identity
//! provider's key set (`auth.jwks_url`), and `serve` without `--demo` refuses to start on
//! the demo key set (config::Config::development_secrets).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pkcs8::LineEnding;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Scope;

/// The issuer and audience of demo tokens (`.invalid`: no real host has this name).
pub const DEMO_ISSUER: &str = "https://issuer.loyalty-demo.invalid";
pub const DEMO_AUDIENCE: &str = "loyalty-api";
const KEY_FILE: &str = "signing-key.pem";
const JWKS_FILE: &str = "jwks.json";
/// The demo partner (Air France) that `PARTNER_TOKEN` acts for.
pub const DEMO_PARTNER_CODE: &str = "AF";
/// How long the demo's ready-made tokens stay valid; `serve --demo` writes fresh ones.
const DEMO_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

pub struct DevIssuer {
    signing: SigningKey,
    kid: String,
    pub issuer: String,
    pub audience: String,
}

impl DevIssuer {
    /// A fresh random key for `issuer` and `audience`.
    pub fn generate(issuer: &str, audience: &str) -> Self {
        Self::from_key(SigningKey::from_bytes(&rand::random()), issuer, audience)
    }

    fn from_key(signing: SigningKey, issuer: &str, audience: &str) -> Self {
        let digest = Sha256::digest(signing.verifying_key().as_bytes());
        let kid = format!("dev-{}", hex(&digest[..8]));
        Self {
            signing,
            kid,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// The demo key in `dir`, created (with its JWKS) when there is none yet.
    pub fn demo(dir: &Path) -> anyhow::Result<Self> {
        let key_file = dir.join(KEY_FILE);
        if key_file.exists() {
            return Self::load_demo(dir);
        }
        let issuer = Self::generate(DEMO_ISSUER, DEMO_AUDIENCE);
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let pem = issuer.signing.to_pkcs8_pem(LineEnding::LF)?;
        write_private(&key_file, pem.as_bytes())?;
        issuer.write_jwks(&dir.join(JWKS_FILE))?;
        Ok(issuer)
    }

    /// The demo key `serve --demo` created in `dir`; an error when there is none.
    pub fn load_demo(dir: &Path) -> anyhow::Result<Self> {
        let key_file = dir.join(KEY_FILE);
        let pem = fs::read_to_string(&key_file).with_context(|| {
            format!(
                "reading the demo signing key {} (run `serve --demo` once first)",
                key_file.display()
            )
        })?;
        let signing = SigningKey::from_pkcs8_pem(&pem)
            .context("the demo signing key is not an Ed25519 PKCS#8 key")?;
        Ok(Self::from_key(signing, DEMO_ISSUER, DEMO_AUDIENCE))
    }

    /// Where the demo's key set is.
    pub fn demo_jwks(dir: &Path) -> PathBuf {
        dir.join(JWKS_FILE)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key set that verifies this issuer's tokens.
    pub fn jwks(&self) -> Value {
        let x = URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes());
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]})
    }

    /// Atomically: the file is written beside `path` and renamed over it, so a service
    /// reading it at the same moment sees the old key set or the new one, never half of one.
    pub fn write_jwks(&self, path: &Path) -> anyhow::Result<()> {
        let partial = path.with_extension(format!("partial-{}", Uuid::new_v4().simple()));
        fs::write(&partial, serde_json::to_vec_pretty(&self.jwks())?)
            .with_context(|| format!("writing {}", partial.display()))?;
        fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
    }

    /// A token for `subject` with `scopes`, valid for `ttl` from now.
    pub fn token(&self, subject: &str, client: &str, scopes: &[Scope], ttl: Duration) -> String {
        self.sign(&self.claims(subject, client, scopes, ttl))
    }

    /// A partner system's token (`loyalty:partner`), acting for partner `code`.
    pub fn partner_token(&self, subject: &str, code: &str, ttl: Duration) -> String {
        let mut claims = self.claims(subject, subject, &[Scope::Partner], ttl);
        claims["partner_code"] = json!(code);
        self.sign(&claims)
    }

    fn claims(&self, subject: &str, client: &str, scopes: &[Scope], ttl: Duration) -> Value {
        let now = now_s();
        let scope: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        json!({
            "iss": self.issuer, "aud": self.audience, "sub": subject, "client_id": client,
            "scope": scope.join(" "), "iat": now, "nbf": now, "exp": now + ttl.as_secs() as i64,
            "jti": Uuid::new_v4(),
        })
    }

    /// The environment of a `serve` child process (the chaos suite's regions, the benchmark's
    /// service) that trusts this issuer through the key set written at `jwks`: the auth
    /// settings, a random leaderboard key, and no rate limits (those runs measure the
    /// service, not the limiter).
    pub fn service_env(&self, jwks: &Path) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "LOYALTY_AUTH__JWKS_FILE".to_owned(),
                jwks.display().to_string(),
            ),
            ("LOYALTY_AUTH__ISSUER".to_owned(), self.issuer.clone()),
            ("LOYALTY_AUTH__AUDIENCE".to_owned(), self.audience.clone()),
            (
                "LOYALTY_LEADERBOARD__NAME_KEY".to_owned(),
                hex(&rand::random::<[u8; 16]>()),
            ),
        ];
        env.extend(crypto_env(jwks));
        let limits = Scope::ALL.iter().map(|s| s.label()).chain(["per_address"]);
        env.extend(limits.map(|name| {
            (
                format!("LOYALTY_LIMITS__{}__PER_SECOND", name.to_uppercase()),
                "0".to_owned(),
            )
        }));
        env
    }

    /// The auth settings of an in-process service that trusts this issuer through the key set
    /// written at `jwks` (tests, the benchmark's smoke run).
    pub fn auth_config(&self, jwks: &Path) -> crate::config::AuthConfig {
        crate::config::AuthConfig {
            jwks_file: Some(jwks.to_path_buf()),
            issuer: Some(self.issuer.clone()),
            audience: Some(self.audience.clone()),
            ..crate::config::Config::default().auth
        }
    }

    /// A member's own token.
    pub fn member_token(&self, member: Uuid, ttl: Duration) -> String {
        self.token(&member.to_string(), "member-app", &[Scope::Member], ttl)
    }

    /// Any claims, signed with this key under its `kid` (tests craft bad claims with it).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let der = self
            .signing
            .to_pkcs8_der()
            .expect("an Ed25519 key encodes as PKCS#8");
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes()))
            .expect("EdDSA signing with a valid key cannot fail")
    }
}

/// The tokens `serve --demo` writes (name, subject, client, scopes): the README uses them.
pub fn demo_callers() -> Vec<(&'static str, String, &'static str, Vec<Scope>)> {
    let mut callers = vec![
        (
            "booking",
            "hotel-bookings".to_owned(),
            "hotel-bookings",
            vec![Scope::Earn],
        ),
        (
            "checkout",
            "checkout".to_owned(),
            "checkout",
            vec![Scope::Bookings],
        ),
        (
            "support",
            "support-agent-7".to_owned(),
            "support-console",
            vec![Scope::Support],
        ),
        (
            "admin",
            "ops-oncall".to_owned(),
            "ops-console",
            vec![Scope::Admin],
        ),
        (
            "platform",
            "platform-tests".to_owned(),
            "platform-tests",
            Scope::SERVICES.to_vec(),
        ),
    ];
    for (id, external_id, _) in crate::store::seed::DEMO_MEMBERS {
        let name = external_id.trim_start_matches("demo-");
        callers.push((
            name,
            Uuid::from_u128(*id).to_string(),
            "member-app",
            vec![Scope::Member],
        ));
    }
    callers
}

/// Writes a fresh token per demo caller into `dir/tokens/<name>.jwt`, and all of them as
/// shell variables into `dir/tokens.env` (`ALICE_TOKEN=...`), for the README's examples.
pub fn write_demo_tokens(issuer: &DevIssuer, dir: &Path) -> anyhow::Result<PathBuf> {
    let tokens_dir = dir.join("tokens");
    fs::create_dir_all(&tokens_dir)?;
    let mut env = String::from(
        "# Demo tokens, valid 24 h; `serve --demo` writes fresh ones. Never for production.\n",
    );
    let partner = (
        "partner",
        issuer.partner_token("air-france", DEMO_PARTNER_CODE, DEMO_TOKEN_TTL),
    );
    let callers = demo_callers()
        .into_iter()
        .map(|(name, subject, client, scopes)| {
            (
                name,
                issuer.token(&subject, client, &scopes, DEMO_TOKEN_TTL),
            )
        });
    for (name, token) in callers.chain([partner]) {
        write_private(&tokens_dir.join(format!("{name}.jwt")), token.as_bytes())?;
        env.push_str(&format!("export {}_TOKEN={token}\n", name.to_uppercase()));
    }
    let env_file = dir.join("tokens.env");
    write_private(&env_file, env.as_bytes())?;
    Ok(env_file)
}

/// Writes a file only its owner can read.
/// The key files of services started beside the key set at `jwks` (chaos regions, the
/// benchmark's service): generated once next to it, so every instance sharing a database
/// opens what the others sealed.
fn crypto_env(jwks: &Path) -> Vec<(String, String)> {
    let dir = jwks.with_extension("keys");
    let defaults = crate::config::Config::default().crypto;
    let config = crate::crypto::files::with_generated_keys(defaults, &dir)
        .expect("write the harness's key files next to its key set");
    let path = |p: Option<PathBuf>| p.map(|p| p.display().to_string()).unwrap_or_default();
    vec![
        ("LOYALTY_CRYPTO__KEK_FILE".to_owned(), path(config.kek_file)),
        (
            "LOYALTY_CRYPTO__INDEX_KEY_FILE".to_owned(),
            path(config.index_key_file),
        ),
        (
            "LOYALTY_CRYPTO__DIGEST_KEY_FILE".to_owned(),
            path(config.digest_key_file),
        ),
    ]
}

pub(crate) fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
