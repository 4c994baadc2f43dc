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
            },
            jobs: JobsConfig {
                interval_ms: 5_000,
                batch_size: 100,
                idempotency_retention_h: 72,
            },
            leaderboard: LeaderboardConfig {
                name_key: Secret::new("development-only-leaderboard-key"),
                max_top: 100,
                max_neighbours: 10,
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
        if !(1..=10_000).contains(&self.jobs.batch_size) {
            return Err(ConfigError("jobs.batch_size must be 1..=10000".into()));
        }
        Ok(())
    }
}

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
    fn out_of_range_settings_are_refused() {
        assert!(load_toml("out-of-range", "[database]\npool_size = 0\n").is_err());
    }
}
