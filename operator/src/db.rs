//! The rows the operator writes: campaigns, partners, regions, country homes, placements and
//! configuration versions. The schema belongs to the service's migrations; nothing here
//! creates a table.
//!
//! Every write is one SERIALIZABLE transaction run by [`Db::serializable`], which re-runs the
//! whole unit of work on SQLSTATE 40001 (serialization failure) or 40P01 (deadlock) with
//! bounded, jittered exponential backoff, as the portable-SQL rules require (ADR 0002); the
//! classification and backoff are `loyalty_schema::retry`, shared with the service.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use loyalty_pgtls::DatabaseUrl;
use serde_json::Value;
use tokio_postgres::{IsolationLevel, Transaction};

use loyalty_schema::ConfigSet;
use loyalty_schema::retry::{Retry, RetryPolicy, SqlClass, classify};

use crate::metrics::Metrics;
use crate::{Error, Result};

mod failover;
mod region;
mod subscriptions;
pub use failover::{FenceRow, MoveRegion, ReadFences, record_transition};
pub use region::{FenceRegion, RecordPlacement, RegionRow, UpsertRegion};
pub use subscriptions::{
    DeleteSubscriptions, DeliveryCounts, PublishSubscriptions, ReadDeliveryCounts, SubscriptionRow,
};

/// Connections the operator holds at most: controllers run a few reconciles at a time.
pub const POOL_SIZE: usize = 4;
/// How often one unit of work runs before the operator gives up and the reconcile backs off,
/// and how long it waits between runs (10 ms doubling up to 1 s, jittered).
pub const TX_RETRY: RetryPolicy = RetryPolicy::new(8, 10, 1_000);

/// One unit of work, run inside a serializable transaction and re-run as a whole on conflict.
pub trait Work: Sync {
    /// What the unit of work returns.
    type Output: Send;
    /// Runs the statements. Must be safe to run again from the start.
    fn run(&self, tx: &Transaction<'_>) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// The operator's connection pool.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    metrics: Metrics,
}

impl Db {
    /// A pool for `url` (`postgres://…`, PostgreSQL or CockroachDB, with libpq's `sslmode`
    /// and `sslrootcert`). Connects lazily, but reads the CA bundle now.
    pub fn connect(url: &str, metrics: Metrics) -> Result<Self> {
        let (config, tls) = DatabaseUrl::parse(url)
            .and_then(DatabaseUrl::into_parts)
            .map_err(|e| Error::DatabaseUrl(e.to_string()))?;
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Pool(e.to_string()))?;
        Ok(Self { pool, metrics })
    }

    /// A pooled connection, for reads and for the placement backends' DDL.
    pub async fn conn(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => Error::Db(e),
            other => Error::Pool(other.to_string()),
        })
    }

    /// Whether the database answers: `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        self.conn().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Runs `work` in a SERIALIZABLE transaction, re-running it on 40001 and 40P01.
    #[tracing::instrument(skip(self, work), err)]
    pub async fn serializable<W: Work>(
        &self,
        operation: &'static str,
        work: &W,
    ) -> Result<W::Output> {
        let mut retry = Retry::new(TX_RETRY);
        loop {
            let e = match self.try_once(work).await {
                Ok(out) => return Ok(out),
                Err(e) => e,
            };
            let SqlClass::Retry(state) = classify(e.sqlstate()) else {
                return Err(e);
            };
            self.metrics.db_retries.with_label_values(&[state]).inc();
            tracing::debug!(
                attempt = retry.attempt(),
                sqlstate = state,
                "retrying transaction"
            );
            if !retry.again().await {
                return Err(Error::RetriesExhausted {
                    operation,
                    attempts: retry.attempt(),
                });
            }
        }
    }

    async fn try_once<W: Work>(&self, work: &W) -> Result<W::Output> {
        let mut conn = self.conn().await?;
        let tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::Serializable)
            .start()
            .await?;
        let out = work.run(&tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// Bumps a configuration set's version in the caller's transaction and returns the new one.
pub async fn bump_config_version(tx: &Transaction<'_>, set: ConfigSet) -> Result<i64> {
    let row = tx
        .query_one(
            "INSERT INTO config_versions (name, version, updated_at) VALUES ($1, 1, now()) \
             ON CONFLICT (name) DO UPDATE SET version = config_versions.version + 1, updated_at = now() \
             RETURNING version",
            &[&set.as_str()],
        )
        .await?;
    Ok(row.get(0))
}

/// Publishes a valid campaign: upserts its row (active) and bumps `config_versions('campaigns')`
/// in the same transaction. Writes nothing when the row already holds this spec and generation.
pub struct PublishCampaign {
    pub namespace: String,
    pub name: String,
    pub spec: Value,
    pub generation: i64,
}

impl Work for PublishCampaign {
    /// The row's version.
    type Output = i64;
    async fn run(&self, tx: &Transaction<'_>) -> Result<i64> {
        let current = tx
            .query_opt(
                "SELECT spec, generation, active, version FROM campaigns WHERE namespace = $1 AND name = $2",
                &[&self.namespace, &self.name],
            )
            .await?;
        if let Some(row) = &current {
            let (spec, generation, active): (Value, i64, bool) =
                (row.get(0), row.get(1), row.get(2));
            if active && generation == self.generation && spec == self.spec {
                return Ok(row.get(3));
            }
        }
        let version = bump_config_version(tx, ConfigSet::Campaigns).await?;
        tx.execute(
            "INSERT INTO campaigns (namespace, name, spec, generation, active, version, updated_at) \
             VALUES ($1, $2, $3, $4, true, $5, now()) \
             ON CONFLICT (namespace, name) DO UPDATE SET spec = EXCLUDED.spec, \
             generation = EXCLUDED.generation, active = true, version = EXCLUDED.version, \
             updated_at = EXCLUDED.updated_at",
            &[&self.namespace, &self.name, &self.spec, &self.generation, &version],
        )
        .await?;
        Ok(version)
    }
}

/// Withdraws a campaign (deleted, or no longer valid): sets `active = false` and bumps the
/// version, only if an active row exists. Returns the new version when something changed.
pub struct WithdrawCampaign {
    pub namespace: String,
    pub name: String,
}

impl Work for WithdrawCampaign {
    type Output = Option<i64>;
    async fn run(&self, tx: &Transaction<'_>) -> Result<Option<i64>> {
        let active = tx
            .query_opt(
                "SELECT 1 FROM campaigns WHERE namespace = $1 AND name = $2 AND active",
                &[&self.namespace, &self.name],
            )
            .await?;
        if active.is_none() {
            return Ok(None);
        }
        let version = bump_config_version(tx, ConfigSet::Campaigns).await?;
        tx.execute(
            "UPDATE campaigns SET active = false, version = $3, updated_at = now() \
             WHERE namespace = $1 AND name = $2",
            &[&self.namespace, &self.name, &version],
        )
        .await?;
        Ok(Some(version))
    }
}

/// A partner's row as the operator publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerRow {
    pub code: String,
    pub namespace: String,
    pub name: String,
    pub display_name: String,
    pub endpoint: String,
    /// Hex sha256 of the resolved credential; the value itself never leaves the Secret.
    pub credentials_sha256: String,
    pub retry_policy: Value,
    pub bonus_rules: Value,
    pub enabled: bool,
    pub generation: i64,
}

/// What publishing a partner did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnerPublished {
    /// The row was written and `config_versions('partners')` bumped.
    Written,
    /// The row already said exactly this.
    Unchanged,
    /// Another Partner resource owns the code; nothing was written.
    CodeTaken { namespace: String, name: String },
}

/// Upserts a partner's row, refusing a code owned by another Partner resource.
pub struct PublishPartner(pub PartnerRow);

impl Work for PublishPartner {
    type Output = PartnerPublished;
    async fn run(&self, tx: &Transaction<'_>) -> Result<PartnerPublished> {
        let p = &self.0;
        let owner = tx
            .query_opt(
                "SELECT namespace, name, display_name, endpoint, credentials_sha256, retry_policy, \
                 bonus_rules, enabled, generation FROM partners WHERE code = $1",
                &[&p.code],
            )
            .await?;
        if let Some(row) = owner {
            let (namespace, name): (String, String) = (row.get(0), row.get(1));
            if (namespace.as_str(), name.as_str()) != (p.namespace.as_str(), p.name.as_str()) {
                return Ok(PartnerPublished::CodeTaken { namespace, name });
            }
            let current = PartnerRow {
                code: p.code.clone(),
                namespace,
                name,
                display_name: row.get(2),
                endpoint: row.get(3),
                credentials_sha256: row.get(4),
                retry_policy: row.get(5),
                bonus_rules: row.get(6),
                enabled: row.get(7),
                generation: row.get(8),
            };
            if current == *p {
                return Ok(PartnerPublished::Unchanged);
            }
        }
        // A resource whose code changed (the API forbids it, a hand edit may not) leaves a row
        // under its old code that would violate partners_namespace_name_key.
        tx.execute(
            "DELETE FROM partners WHERE namespace = $1 AND name = $2 AND code <> $3",
            &[&p.namespace, &p.name, &p.code],
        )
        .await?;
        tx.execute(
            "INSERT INTO partners (code, namespace, name, display_name, endpoint, credentials_sha256, \
             retry_policy, bonus_rules, enabled, generation, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now()) \
             ON CONFLICT (code) DO UPDATE SET display_name = EXCLUDED.display_name, \
             endpoint = EXCLUDED.endpoint, credentials_sha256 = EXCLUDED.credentials_sha256, \
             retry_policy = EXCLUDED.retry_policy, bonus_rules = EXCLUDED.bonus_rules, \
             enabled = EXCLUDED.enabled, generation = EXCLUDED.generation, updated_at = EXCLUDED.updated_at",
            &[
                &p.code,
                &p.namespace,
                &p.name,
                &p.display_name,
                &p.endpoint,
                &p.credentials_sha256,
                &p.retry_policy,
                &p.bonus_rules,
                &p.enabled,
                &p.generation,
            ],
        )
        .await?;
        bump_config_version(tx, ConfigSet::Partners).await?;
        Ok(PartnerPublished::Written)
    }
}

/// The Partner resource (namespace, name) that owns a partner code, if one was published.
pub struct PartnerOwner {
    pub code: String,
}

impl Work for PartnerOwner {
    type Output = Option<(String, String)>;
    async fn run(&self, tx: &Transaction<'_>) -> Result<Option<(String, String)>> {
        let row = tx
            .query_opt(
                "SELECT namespace, name FROM partners WHERE code = $1",
                &[&self.code],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}

/// Deletes a partner's row (the Partner resource is being deleted). Returns whether a row went.
pub struct DeletePartner {
    pub namespace: String,
    pub name: String,
}

impl Work for DeletePartner {
    type Output = bool;
    async fn run(&self, tx: &Transaction<'_>) -> Result<bool> {
        let deleted = tx
            .execute(
                "DELETE FROM partners WHERE namespace = $1 AND name = $2",
                &[&self.namespace, &self.name],
            )
            .await?;
        if deleted > 0 {
            bump_config_version(tx, ConfigSet::Partners).await?;
        }
        Ok(deleted > 0)
    }
}
