//! The identity provider's signing keys: a JWKS read from a file or fetched from a URL,
//! cached by key id, and refreshed on an interval. A token naming a key id the cache does
//! not know triggers a refresh, at most once per `min_refresh`, so a flood of tokens with
//! made-up key ids costs the identity provider one request per interval, not one each.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

/// The largest key set accepted: a real one is a few kilobytes.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// How long a fetch of the key set may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// A verification key and the one algorithm it may verify.
#[derive(Clone)]
pub struct Key {
    pub decoding: DecodingKey,
    pub algorithm: Algorithm,
}

/// The cached key set.
pub struct KeySet {
    source: JwksSource,
    http: reqwest::Client,
    keys: RwLock<Arc<HashMap<String, Key>>>,
    /// Bumped by every refresh that replaced the keys (a key may be withdrawn, or its
    /// material changed under the same id): tokens verified earlier must verify again (see
    /// `auth::cache`).
    generation: AtomicU64,
    /// When the last refresh started; held while one runs, so concurrent misses wait for it.
    last_refresh: Mutex<Instant>,
    min_refresh: Duration,
}

impl KeySet {
    /// Loads the key set once; startup fails when it cannot be read or holds no usable key.
    pub async fn load(source: JwksSource, min_refresh: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let keys = read(&source, &http).await?;
        if keys.is_empty() {
            bail!(
                "the key set at {source:?} has no usable signing key (RS256, ES256 or EdDSA with a kid)"
            );
        }
        Ok(Self {
            source,
            http,
            keys: RwLock::new(Arc::new(keys)),
            generation: AtomicU64::new(0),
            last_refresh: Mutex::new(Instant::now()),
            min_refresh,
        })
    }

    /// The key with id `kid`, refreshing the set once if it is unknown and the last refresh
    /// is at least `min_refresh` old.
    pub async fn key(&self, kid: &str) -> Option<Key> {
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let mut last = self.last_refresh.lock().await;
        if let Some(key) = self.cached(kid) {
            return Some(key); // another request refreshed while this one waited
        }
        if last.elapsed() < self.min_refresh {
            return None;
        }
        *last = Instant::now();
        self.replace().await;
        self.cached(kid)
    }

    /// Re-reads the set (the periodic refresh); a failure keeps the keys already cached.
    pub async fn refresh(&self) {
        let mut last = self.last_refresh.lock().await;
        *last = Instant::now();
        self.replace().await;
    }

    async fn replace(&self) {
        match read(&self.source, &self.http).await {
            Ok(keys) if !keys.is_empty() => {
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            Ok(_) => {
                tracing::warn!(source = ?self.source, "the refreshed key set has no usable key; keeping the cached one")
            }
            Err(e) => {
                tracing::warn!(source = ?self.source, error = %e, "key set refresh failed; keeping the cached one")
            }
        }
    }

    /// Changes with every refresh that replaced the keys.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn cached(&self, kid: &str) -> Option<Key> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .cloned()
    }
}

async fn read(source: &JwksSource, http: &reqwest::Client) -> anyhow::Result<HashMap<String, Key>> {
    let bytes = match source {
        JwksSource::File(path) => tokio::fs::read(path)
            .await
            .with_context(|| format!("reading the key set {}", path.display()))?,
        JwksSource::Url(url) => fetch(http, url).await?,
    };
    if bytes.len() > MAX_JWKS_BYTES {
        bail!("the key set is larger than {MAX_JWKS_BYTES} bytes");
    }
    let set: JwkSet = serde_json::from_slice(&bytes).context("the key set is not a JWKS")?;
    Ok(usable(&set))
}

async fn fetch(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let response = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching the key set from {url}"))?
        .error_for_status()?;
    if response.content_length().unwrap_or(0) > MAX_JWKS_BYTES as u64 {
        bail!("the key set at {url} is larger than {MAX_JWKS_BYTES} bytes");
    }
    Ok(response.bytes().await?.to_vec())
}

/// The signing keys of `set` this service accepts, by key id. A key without an id, a
/// symmetric key (`kty: oct`), or one of another algorithm is skipped: symmetric keys would
/// let anyone holding the key set mint tokens.
fn usable(set: &JwkSet) -> HashMap<String, Key> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let algorithm = algorithm_of(jwk)?;
            let decoding = DecodingKey::from_jwk(jwk).ok()?;
            Some((
                kid,
                Key {
                    decoding,
                    algorithm,
                },
            ))
        })
        .collect()
}

/// The one algorithm a key verifies: its declared `alg` if it has one (and that agrees with
/// the key's type), else the allowed algorithm of its type.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    let declared = match jwk.common.key_algorithm {
        None => by_type,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    (declared == by_type).then_some(by_type)
}
