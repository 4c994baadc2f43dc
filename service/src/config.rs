//! Configuration: defaults, then an optional TOML file, then `LOYALTY_*` environment
//! variables (nested keys joined with `__`, e.g. `LOYALTY_DATABASE__POOL_SIZE=32`).
//! The database URL is a [`Secret`]: it never appears in logs or `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Upper bound of the connection pool; PostgreSQL's harness allows 300 connections and
/// several service instances may share one database.
pub const MAX_POOL_SIZE: usize = 128;
/// Longest hold a caller may ask for: seven days.
pub const MAX_HOLD_TTL_S: u64 = 7 * 24 * 3600;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// The cloud region this instance runs in, e.g. `eu-west-1`.
    pub region: String,
    pub database: DatabaseConfig,
    pub ledger: LedgerConfig,
    pub jobs: JobsConfig,
    pub leaderboard: LeaderboardConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub http: HttpConfig,
    pub partners: PartnersConfig,
    pub crypto: CryptoConfig,
    pub delivery: DeliveryConfig,
    /// `pretty` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// Test-only switches of the `chaos-hooks` build. Without that feature the field does
    /// not exist, so any `chaos.*` key is refused like every other unknown key.
    #[cfg(feature = "chaos-hooks")]
    pub chaos: ChaosConfig,
}

/// Ways to break the service on purpose, so the chaos suite can show that its checker fails
/// when an invariant is broken.
#[cfg(feature = "chaos-hooks")]
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosConfig {
    /// Writes still read the region row and record its epoch, but no longer refuse when this
    /// instance's region is fenced (the residency-group check stays).
    pub skip_fence_check: bool,
}

/// `database.read_connections` unless configured: one per core of the 2-core benchmark database.
pub const DEFAULT_READ_CONNECTIONS: usize = 2;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://...` of PostgreSQL or CockroachDB. Absent: the embedded PostgreSQL.
    pub url: Option<Secret>,
    /// Connections per instance. Small on purpose: past a few per database core, more
    /// connections only queue in the database's run queue instead of the pool
    /// (docs/perf-log.md: 8 against 16 on the 2-core benchmark machine).
    pub pool_size: usize,
    /// How long a request waits for a pooled connection before it is refused.
    pub pool_wait_ms: u64,
    /// Connections shared by the balance reads of concurrent requests, beside the pool
    /// (`store::readers`); about one per database core. 0 sends them through the pool.
    pub read_connections: usize,
    /// Where the embedded PostgreSQL keeps its data between runs.
    pub embedded_data_dir: PathBuf,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// Lifetime of an earned lot.
    pub lot_expiry_days: u32,
    /// Hold lifetime when the caller does not ask for one.
    pub default_hold_ttl_s: u64,
    /// Qualifying points count towards the tier for this long after they are earned.
    pub qualifying_window_days: u32,
    /// A member below their tier's threshold keeps the tier this long before a downgrade.
    pub tier_grace_days: u32,
    /// Largest single transfer between members.
    pub transfer_max_points: i64,
    /// Most points one member may send by transfer per UTC day.
    pub transfer_daily_limit_points: i64,
    /// How often rates, tiers and the campaign set's version are polled: a configuration
    /// change takes effect within this bound.
    pub config_poll_ms: u64,
    /// How long a fraud review stays open before the sweep rejects it (docs/fraud.md).
    pub review_ttl_h: u32,
}

impl LedgerConfig {
    /// [`LedgerConfig::review_ttl_h`] as a duration.
    pub fn review_ttl(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.review_ttl_h))
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// How often the in-process sweeps (hold expiry, lot expiry, vesting) run; 0 disables them.
    pub interval_ms: u64,
    /// Holds expired, or members whose lots are expired or vested, per sweep, at most.
    pub batch_size: i64,
    /// How long idempotency records are kept; a retry with the same key after that is a new
    /// request (earns stay idempotent on their booking forever).
    pub idempotency_retention_h: u64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardConfig {
    /// Key of the proxy display names; set a secret one in production (the same on every
    /// instance), or names can be recomputed from member ids.
    pub name_key: Secret,
    /// Largest top-N a caller may ask for.
    pub max_top: i64,
    /// Most neighbours a caller may ask for on each side.
    pub max_neighbours: i64,
    /// How often the rank bands of this region's residency group are rebuilt (the first
    /// build at start); 0 turns the job off, and ranks are then counted exactly, in
    /// O(rank). Several replicas may run it: a build younger than half this is not redone.
    pub bands_interval_s: u64,
    /// Members per rank band: a rank counts at most about this many members live.
    pub band_size: i64,
}

/// How bearer tokens are verified (docs/security.md).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The identity provider's key set (JWKS), fetched and cached; https, or http to a
    /// loopback address only.
    pub jwks_url: Option<String>,
    /// A key set in a file instead, re-read on every refresh (a mounted Secret rotates).
    pub jwks_file: Option<PathBuf>,
    /// The `iss` every token must carry.
    pub issuer: Option<String>,
    /// The `aud` every token must carry.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (at most 120).
    pub leeway_s: u64,
    /// How often the key set is re-read.
    pub jwks_refresh_s: u64,
    /// A token with an unknown key id re-reads the key set at most this often.
    pub jwks_min_refresh_s: u64,
    /// Where `serve --demo` keeps its generated signing key, key set and tokens.
    pub demo_dir: PathBuf,
    /// Verified tokens remembered until they expire or the key set is refreshed, so that a
    /// client's next request skips the signature check (0: every request is checked).
    pub token_cache_entries: usize,
}

impl AuthConfig {
    pub fn jwks_source(&self) -> Option<crate::auth::JwksSource> {
        use crate::auth::JwksSource;
        match (&self.jwks_url, &self.jwks_file) {
            (Some(url), _) => Some(JwksSource::Url(url.clone())),
            (None, Some(file)) => Some(JwksSource::File(file.clone())),
            (None, None) => None,
        }
    }

    /// The key set, issuer and audience `serve --demo` uses, where none is configured.
    pub fn or_demo(mut self) -> Self {
        if self.jwks_source().is_none() {
            self.jwks_file = Some(crate::auth::dev::DevIssuer::demo_jwks(&self.demo_dir));
            self.issuer = Some(crate::auth::dev::DEMO_ISSUER.to_owned());
            self.audience = Some(crate::auth::dev::DEMO_AUDIENCE.to_owned());
        }
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.jwks_url.is_some() && self.jwks_file.is_some() {
            return Err(ConfigError(
                "set auth.jwks_url or auth.jwks_file, not both".into(),
            ));
        }
        if let Some(url) = &self.jwks_url
            && !(url.starts_with("https://") || is_loopback_http(url))
        {
            return Err(ConfigError(
                "auth.jwks_url must be https:// (plain http:// only to a loopback address)".into(),
            ));
        }
        if self.leeway_s > 120 {
            return Err(ConfigError("auth.leeway_s must be at most 120".into()));
        }
        if self.jwks_refresh_s == 0 || self.jwks_min_refresh_s == 0 {
            return Err(ConfigError(
                "auth.jwks_refresh_s and auth.jwks_min_refresh_s must be positive".into(),
            ));
        }
        Ok(())
    }
}

fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| url.starts_with(prefix))
}

/// Partners' signing secrets and the webhook checks (docs/partners.md).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnersConfig {
    /// A directory with one file per partner code holding that partner's Standard Webhooks
    /// secrets (`whsec_…`, whitespace-separated during a rotation): the operator mounts the
    /// Partners' credential Secrets here. Re-read on every configuration poll.
    pub secrets_dir: PathBuf,
    /// How far a webhook's `webhook-timestamp` may be from this instance's clock.
    pub webhook_tolerance_s: u64,
}

/// The keys of personal data and of the chain-head digests (ADR 0021, docs/privacy.md).
/// Each file is a mounted Secret in production; `serve --demo` generates them in `demo_dir`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoConfig {
    /// Key-encryption key versions (`<id> <64 hex>` per line, the first current): wraps each
    /// member's data key. The production adapter for a KMS implements the same interface.
    pub kek_file: Option<PathBuf>,
    /// HMAC key (64 hex) of the external id's blind index; the same on every instance.
    pub index_key_file: Option<PathBuf>,
    /// Ed25519 seed (64 hex) that signs the chain-head digests; the database never holds it.
    pub digest_key_file: Option<PathBuf>,
    /// The digests' public key (64 hex), for an audit that runs without the signing key.
    pub digest_public_key: Option<String>,
    /// How often this instance signs a digest of the chain heads it serves (0 = never).
    pub digest_interval_s: u64,
    /// Where `serve --demo` keeps the keys it generated.
    pub demo_dir: PathBuf,
}

/// The dispatcher that delivers outbox events to partners' webhooks (docs/events.md). Retry
/// timing is each Partner's `retryPolicy`; these bound the dispatcher itself.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Interval of the dispatcher's rounds (fan-out, claim, send); 0 turns it off.
    pub poll_ms: u64,
    /// Deliveries created or claimed per round.
    pub batch_size: i64,
    /// Attempts in flight at once per instance.
    pub concurrency: usize,
    /// Added to the Partner's per-attempt timeout to make a delivery's lease: past it, another
    /// instance takes the delivery over.
    pub lease_slack_ms: u64,
    /// How far before its cursor the fan-out re-reads the outbox: longer than any write
    /// transaction plus the clock skew between instances.
    pub fanout_margin_ms: u64,
    /// The longest `Retry-After` honoured; longer ones wait this long.
    pub max_retry_after_s: u64,
    /// Test and local only: also deliver to `http://127.0.0.1:`/`localhost` URLs. `serve`
    /// refuses it outside `--demo`; the CRD only ever publishes https URLs.
    pub allow_loopback_http: bool,
    /// Extra trust anchors (a PEM bundle) for subscription endpoints, on top of the public
    /// roots: a company's own event gateway behind a private CA. A missing file, or one
    /// without a certificate that parses, stops the service at start.
    pub ca_file: Option<PathBuf>,
    /// How long delivered rows and fully delivered outbox events are kept before the sweep
    /// deletes them (0 = kept forever). Pending and dead deliveries, and the events they
    /// need, are never deleted.
    pub retention_h: u64,
}

impl DeliveryConfig {
    /// [`DeliveryConfig::fanout_margin_ms`] as a duration (the dispatcher's fan-out and the
    /// sweep's pruning must agree on it).
    pub fn fanout_margin(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(i64::try_from(self.fanout_margin_ms).unwrap_or(i64::MAX))
    }
}

/// Longest delivery retention: ten years.
pub const MAX_DELIVERY_RETENTION_H: u64 = 10 * 365 * 24;

/// Longest webhook timestamp tolerance: an hour.
pub const MAX_WEBHOOK_TOLERANCE_S: u64 = 3600;

/// Requests per second and burst for one key; `per_second = 0` means no limit.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateQuota {
    pub per_second: u32,
    pub burst: u32,
}

impl RateQuota {
    pub const UNLIMITED: Self = Self::new(0, 0);

    pub const fn new(per_second: u32, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

/// Rate limits: per client address over all authenticated routes, and per token subject
/// under the scope that admitted the request.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub per_address: RateQuota,
    pub member: RateQuota,
    pub earn: RateQuota,
    pub bookings: RateQuota,
    pub support: RateQuota,
    pub admin: RateQuota,
    pub partner: RateQuota,
}

impl LimitsConfig {
    /// No limit at all (benchmarks and load tests, which measure the service, not the limiter).
    pub const UNLIMITED: Self = Self {
        per_address: RateQuota::UNLIMITED,
        member: RateQuota::UNLIMITED,
        earn: RateQuota::UNLIMITED,
        bookings: RateQuota::UNLIMITED,
        support: RateQuota::UNLIMITED,
        admin: RateQuota::UNLIMITED,
        partner: RateQuota::UNLIMITED,
    };

    pub fn quota(&self, scope: crate::auth::Scope) -> &RateQuota {
        use crate::auth::Scope;
        match scope {
            Scope::Member => &self.member,
            Scope::Earn => &self.earn,
            Scope::Bookings => &self.bookings,
            Scope::Support => &self.support,
            Scope::Admin => &self.admin,
            Scope::Partner => &self.partner,
        }
    }
}

/// What a connection may cost the server before it sends a request worth serving.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's headers must arrive within this time of the connection's first byte
    /// (or of the previous response), or the connection is closed (slow-loris).
    pub header_read_timeout_ms: u64,
    /// A request must be answered within this time, body read included, or it gets 408.
    pub request_timeout_ms: u64,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Largest request head (request line and headers) accepted, in bytes.
    pub max_header_bytes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            region: "eu-west-1".to_owned(),
            database: DatabaseConfig {
                url: None,
                pool_size: 8,
                pool_wait_ms: 2_000,
                read_connections: DEFAULT_READ_CONNECTIONS,
                embedded_data_dir: PathBuf::from(".data/pg"),
            },
            ledger: LedgerConfig {
                lot_expiry_days: 365,
                default_hold_ttl_s: 900,
                config_poll_ms: 1_000,
                qualifying_window_days: 365,
                tier_grace_days: 30,
                transfer_max_points: 100_000,
                transfer_daily_limit_points: 250_000,
                review_ttl_h: 72,
            },
            jobs: JobsConfig {
                interval_ms: 5_000,
                batch_size: 100,
                idempotency_retention_h: 72,
            },
            leaderboard: LeaderboardConfig {
                name_key: Secret::new(DEVELOPMENT_LEADERBOARD_KEY),
                max_top: 100,
                max_neighbours: 10,
                bands_interval_s: 300,
                band_size: 1_000,
            },
            auth: AuthConfig {
                jwks_url: None,
                jwks_file: None,
                issuer: None,
                audience: None,
                leeway_s: 30,
                jwks_refresh_s: 300,
                jwks_min_refresh_s: 30,
                demo_dir: PathBuf::from(".data/demo-auth"),
                token_cache_entries: 10_000,
            },
            limits: LimitsConfig {
                per_address: RateQuota::new(1_000, 2_000),
                member: RateQuota::new(10, 30),
                earn: RateQuota::new(2_000, 4_000),
                bookings: RateQuota::new(2_000, 4_000),
                support: RateQuota::new(100, 200),
                admin: RateQuota::new(5, 10),
                partner: RateQuota::new(100, 200),
            },
            http: HttpConfig {
                header_read_timeout_ms: 5_000,
                request_timeout_ms: 10_000,
                max_connections: 4_096,
                max_header_bytes: 16 * 1024,
            },
            partners: PartnersConfig {
                secrets_dir: PathBuf::from(".data/partner-secrets"),
                webhook_tolerance_s: 300,
            },
            crypto: CryptoConfig {
                kek_file: None,
                index_key_file: None,
                digest_key_file: None,
                digest_public_key: None,
                digest_interval_s: 3_600,
                demo_dir: PathBuf::from(".data/demo-keys"),
            },
            delivery: DeliveryConfig {
                poll_ms: 500,
                batch_size: 100,
                concurrency: 16,
                lease_slack_ms: 5_000,
                fanout_margin_ms: 60_000,
                max_retry_after_s: 3_600,
                allow_loopback_http: false,
                ca_file: None,
                retention_h: 7 * 24,
            },
            log_format: LogFormat::Pretty,
            #[cfg(feature = "chaos-hooks")]
            chaos: ChaosConfig::default(),
        }
    }
}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            // LOYALTY_CONFIG names the file (the CLI reads it); it is not a key of its own.
            .merge(Env::prefixed("LOYALTY_").ignore(&["config"]).split("__"))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let db = &self.database;
        if db.pool_size == 0 || db.pool_size > MAX_POOL_SIZE {
            return Err(ConfigError(format!(
                "database.pool_size must be 1..={MAX_POOL_SIZE}"
            )));
        }
        if db.read_connections > MAX_POOL_SIZE {
            return Err(ConfigError(format!(
                "database.read_connections must be 0..={MAX_POOL_SIZE}"
            )));
        }
        if self.ledger.lot_expiry_days == 0 {
            return Err(ConfigError(
                "ledger.lot_expiry_days must be positive".into(),
            ));
        }
        let ttl = self.ledger.default_hold_ttl_s;
        if ttl == 0 || ttl > MAX_HOLD_TTL_S {
            return Err(ConfigError(format!(
                "ledger.default_hold_ttl_s must be 1..={MAX_HOLD_TTL_S}"
            )));
        }
        let ledger = &self.ledger;
        if ledger.transfer_max_points <= 0
            || ledger.transfer_daily_limit_points < ledger.transfer_max_points
        {
            return Err(ConfigError(
                "ledger.transfer_max_points must be positive and at most ledger.transfer_daily_limit_points".into(),
            ));
        }
        let max_review = crate::domain::fraud::MAX_REVIEW_TTL_H;
        if !(1..=max_review).contains(&ledger.review_ttl_h) {
            return Err(ConfigError(format!(
                "ledger.review_ttl_h must be 1..={max_review}"
            )));
        }
        if !(1..=10_000).contains(&self.jobs.batch_size) {
            return Err(ConfigError("jobs.batch_size must be 1..=10000".into()));
        }
        let bands = crate::store::rank_bands::BAND_SIZE_RANGE;
        if !bands.contains(&self.leaderboard.band_size) {
            return Err(ConfigError(format!(
                "leaderboard.band_size must be {}..={}",
                bands.start(),
                bands.end()
            )));
        }
        self.auth.validate()?;
        if !(1..=MAX_WEBHOOK_TOLERANCE_S).contains(&self.partners.webhook_tolerance_s) {
            return Err(ConfigError(format!(
                "partners.webhook_tolerance_s must be 1..={MAX_WEBHOOK_TOLERANCE_S}"
            )));
        }
        let d = &self.delivery;
        if !(1..=10_000).contains(&d.batch_size) || !(1..=256).contains(&d.concurrency) {
            return Err(ConfigError(
                "delivery.batch_size must be 1..=10000 and delivery.concurrency 1..=256".into(),
            ));
        }
        if d.retention_h > MAX_DELIVERY_RETENTION_H {
            return Err(ConfigError(format!(
                "delivery.retention_h must be at most {MAX_DELIVERY_RETENTION_H}"
            )));
        }
        let http = &self.http;
        if http.header_read_timeout_ms == 0
            || http.request_timeout_ms == 0
            || http.max_connections == 0
        {
            return Err(ConfigError(
                "http.* timeouts and max_connections must be positive".into(),
            ));
        }
        if !(8 * 1024..=1024 * 1024).contains(&http.max_header_bytes) {
            return Err(ConfigError(
                "http.max_header_bytes must be 8192..=1048576".into(),
            ));
        }
        Ok(())
    }

    /// What makes this configuration unfit outside `--demo`: a development secret or a
    /// missing one. `serve` refuses to start while the list is not empty.
    pub fn development_secrets(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if self.leaderboard.name_key.expose() == DEVELOPMENT_LEADERBOARD_KEY {
            problems.push("leaderboard.name_key is the development default (set LOYALTY_LEADERBOARD__NAME_KEY from a Secret)");
        }
        if self.auth.jwks_source().is_none() {
            problems.push("no key set to verify tokens with (auth.jwks_url or auth.jwks_file)");
        }
        if self.auth.issuer.is_none() || self.auth.audience.is_none() {
            problems.push("auth.issuer and auth.audience must be set");
        }
        if let Some(file) = &self.auth.jwks_file
            && file.starts_with(&self.auth.demo_dir)
        {
            problems.push("auth.jwks_file is the demo key set");
        }
        if self.delivery.allow_loopback_http {
            problems.push("delivery.allow_loopback_http is on (test and local only)");
        }
        if self.auth.issuer.as_deref() == Some(crate::auth::dev::DEMO_ISSUER) {
            problems.push("auth.issuer is the demo issuer");
        }
        problems.extend(self.crypto.development_secrets());
        problems
    }
}

impl CryptoConfig {
    fn development_secrets(&self) -> Vec<&'static str> {
        let files = [
            (
                &self.kek_file,
                "crypto.kek_file is not set (the key-encryption key)",
                "crypto.kek_file is the demo key",
            ),
            (
                &self.index_key_file,
                "crypto.index_key_file is not set (the blind-index key)",
                "crypto.index_key_file is the demo key",
            ),
            (
                &self.digest_key_file,
                "crypto.digest_key_file is not set (the digest signing key)",
                "crypto.digest_key_file is the demo key",
            ),
        ];
        files
            .into_iter()
            .filter_map(|(file, missing, demo)| match file {
                None => Some(missing),
                Some(path) if path.starts_with(&self.demo_dir) => Some(demo),
                Some(_) => None,
            })
            .collect()
    }
}

/// The leaderboard key of the defaults: fine for `--demo`, refused by `serve` otherwise.
const DEVELOPMENT_LEADERBOARD_KEY: &str = "development-only-leaderboard-key";

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// A value that must never be logged.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Secret::new("postgres://app:hunter2@db/loyalty");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn a_config_file_overrides_defaults() {
        let config = load_toml(
            "overrides",
            "region = \"us-east-1\"\n[database]\npool_size = 12\n",
        )
        .unwrap();
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.database.pool_size, 12);
        assert_eq!(config.ledger.lot_expiry_days, 365);
    }

    /// Writes `contents` as a config file in a directory of its own and loads it.
    fn load_toml(name: &str, contents: &str) -> Result<Config, ConfigError> {
        let dir =
            std::env::temp_dir().join(format!("loyalty-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(&file, contents).unwrap();
        let config = Config::load(Some(&file));
        std::fs::remove_dir_all(dir).unwrap();
        config
    }

    #[cfg(not(feature = "chaos-hooks"))]
    #[test]
    fn the_chaos_key_is_refused_as_unknown_without_the_chaos_hooks_feature() {
        let refused = load_toml("chaos-off", "[chaos]\nskip_fence_check = true\n");
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("chaos"), "{message}");
    }

    #[cfg(feature = "chaos-hooks")]
    #[test]
    fn the_chaos_hooks_feature_reads_skip_fence_check_and_defaults_it_off() {
        assert!(!Config::default().chaos.skip_fence_check);
        let config = load_toml("chaos-on", "[chaos]\nskip_fence_check = true\n").unwrap();
        assert!(config.chaos.skip_fence_check);
    }

    #[test]
    fn the_defaults_are_refused_outside_the_demo_for_each_development_secret() {
        let problems = Config::default().development_secrets();
        assert!(
            problems.iter().any(|p| p.contains("leaderboard.name_key")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("key set")),
            "{problems:?}"
        );
        let mut demo = Config::default();
        demo.auth = demo.auth.or_demo();
        let problems = demo.development_secrets();
        assert!(
            problems.iter().any(|p| p.contains("demo key set")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("demo issuer")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_production_configuration_has_no_development_secret() {
        let config = load_toml(
            "production",
            "[leaderboard]\nname_key = \"k-3f9a\"\n[crypto]\nkek_file = \"/run/secrets/kek\"\nindex_key_file = \"/run/secrets/index\"\ndigest_key_file = \"/run/secrets/digest\"\n[auth]\njwks_url = \"https://idp.example.com/jwks\"\nissuer = \"https://idp.example.com\"\naudience = \"loyalty-api\"\n",
        )
        .unwrap();
        assert_eq!(config.development_secrets(), Vec::<&str>::new());
    }

    #[test]
    fn a_plain_http_key_set_is_refused_unless_on_loopback() {
        assert!(
            load_toml(
                "jwks-http",
                "[auth]\njwks_url = \"http://idp.example.com/jwks\"\n"
            )
            .is_err()
        );
        assert!(
            load_toml(
                "jwks-loop",
                "[auth]\njwks_url = \"http://127.0.0.1:9/jwks\"\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        assert!(load_toml("out-of-range", "[database]\npool_size = 0\n").is_err());
        let retention = "[delivery]\nretention_h = 87601\n";
        assert!(load_toml("retention-out-of-range", retention).is_err());
    }
}
