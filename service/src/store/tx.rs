//! The connection pool and the serializable retry loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    ClientWrapper, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Timeouts,
};
use futures::future::BoxFuture;
use rand::Rng;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Attempts of one unit of work before it is abandoned with a 503 `contention`.
pub const MAX_TX_ATTEMPTS: u32 = 16;
/// First backoff after a serialization failure; doubles per attempt up to the cap.
const BACKOFF_BASE_MS: u64 = 2;
const BACKOFF_CAP_MS: u64 = 200;
/// In-process lock stripes that queue concurrent requests for one member (see [`Db::member_lock`]).
const MEMBER_LOCK_STRIPES: usize = 1024;
const _: () = assert!(MEMBER_LOCK_STRIPES.is_power_of_two());
/// In-process lock stripes for campaign budgets (see [`Db::campaign_lock_keys`]).
const CAMPAIGN_LOCK_STRIPES: usize = 64;
const _: () = assert!(BACKOFF_BASE_MS <= BACKOFF_CAP_MS);

/// Constraint violations that mean "a concurrent transaction inserted the same natural key
/// first": re-running the unit of work finds that row and answers from it.
const RACE_CONSTRAINTS: &[&str] = &[
    "earns_pkey",
    "idempotency_keys_pkey",
    "members_external_id_key",
];

/// The pool plus what every transaction needs.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    metrics: Metrics,
    stripes: Arc<Vec<Mutex<()>>>,
    campaign_stripes: Arc<Vec<Mutex<()>>>,
}

/// Outcome of one attempt, as the retry loop sees it.
enum Attempt<T> {
    Done(T),
    Retry(&'static str),
    Ambiguous,
}

impl Db {
    pub fn connect(
        url: &str,
        pool_size: usize,
        pool_wait: Duration,
        metrics: Metrics,
    ) -> Result<Self, anyhow::Error> {
        let pg_config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            pg_config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .timeouts(Timeouts {
                wait: Some(pool_wait),
                create: Some(Duration::from_secs(5)),
                recycle: None,
            })
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()?;
        let stripes = Arc::new((0..MEMBER_LOCK_STRIPES).map(|_| Mutex::new(())).collect());
        let campaign_stripes =
            Arc::new((0..CAMPAIGN_LOCK_STRIPES).map(|_| Mutex::new(())).collect());
        Ok(Self {
            pool,
            metrics,
            stripes,
            campaign_stripes,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A pooled connection; the wait is measured.
    pub async fn conn(&self) -> Result<Object> {
        let started = Instant::now();
        let result = self.pool.get().await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .pool_wait
            .with_label_values(&[outcome])
            .observe(started.elapsed().as_secs_f64());
        Ok(result?)
    }

    /// Queues this process's requests for one member behind each other. This only reduces
    /// contention (so 64 concurrent redemptions do not burn retries); correctness comes from
    /// SERIALIZABLE, which also covers other processes and regions.
    pub async fn member_lock(&self, member: Uuid) -> MutexGuard<'_, ()> {
        self.stripes[member_stripe(member)].lock().await
    }

    /// Both members' locks, taken in stripe order so two transfers in opposite directions
    /// cannot wait on each other.
    pub async fn member_locks(&self, a: Uuid, b: Uuid) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes = [member_stripe(a), member_stripe(b)];
        stripes.sort_unstable();
        let mut guards = vec![self.stripes[stripes[0]].lock().await];
        if stripes[1] != stripes[0] {
            guards.push(self.stripes[stripes[1]].lock().await);
        }
        guards
    }

    /// Queues this process's earns that may draw on the same campaign budgets, always
    /// locking in stripe order so two earns can never wait on each other. Taken after the
    /// member lock. Like [`Db::member_lock`], this only reduces contention.
    pub async fn campaign_lock_keys<'a>(
        &self,
        keys: impl Iterator<Item = &'a str>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = keys
            .map(|k| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(k, &mut h);
                (std::hash::Hasher::finish(&h) as usize) % CAMPAIGN_LOCK_STRIPES
            })
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.campaign_stripes[stripe].lock().await);
        }
        guards
    }

    /// Runs `unit` in a SERIALIZABLE transaction, re-running it as a whole on 40001/40P01
    /// and on races for a natural key, with bounded, jittered exponential backoff.
    ///
    /// An ambiguous COMMIT (40003, or the connection dying during COMMIT) is reported as
    /// `Ok(None)`: the caller resolves it through its idempotency record, never by blindly
    /// running the unit again.
    pub async fn serializable<T, F>(
        &self,
        operation: &'static str,
        mut unit: F,
    ) -> Result<Option<T>>
    where
        F: for<'c> FnMut(&'c ClientWrapper) -> BoxFuture<'c, Result<T>>,
    {
        for attempt in 1..=MAX_TX_ATTEMPTS {
            match self.attempt(&mut unit).await {
                Ok(Attempt::Done(value)) => {
                    self.metrics
                        .tx_outcomes
                        .with_label_values(&[operation, "committed"])
                        .inc();
                    return Ok(Some(value));
                }
                Ok(Attempt::Ambiguous) => {
                    self.metrics
                        .tx_outcomes
                        .with_label_values(&[operation, "ambiguous"])
                        .inc();
                    return Ok(None);
                }
                Ok(Attempt::Retry(sqlstate)) => {
                    self.metrics.tx_retries.with_label_values(&[sqlstate]).inc();
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => {
                    self.metrics
                        .tx_outcomes
                        .with_label_values(&[operation, e.metric_label()])
                        .inc();
                    return Err(e);
                }
            }
        }
        self.metrics
            .tx_outcomes
            .with_label_values(&[operation, "contention"])
            .inc();
        Err(Error::Contention {
            attempts: MAX_TX_ATTEMPTS,
        })
    }

    async fn attempt<T, F>(&self, unit: &mut F) -> Result<Attempt<T>>
    where
        F: for<'c> FnMut(&'c ClientWrapper) -> BoxFuture<'c, Result<T>>,
    {
        let client = self.conn().await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
            .await?;
        match unit(&client).await {
            Ok(value) => match client.batch_execute("COMMIT").await {
                Ok(()) => Ok(Attempt::Done(value)),
                Err(e) if commit_is_ambiguous(&e) => Ok(Attempt::Ambiguous),
                Err(e) => classify(e.into()),
            },
            Err(e) => {
                // A failed statement aborts the transaction; roll back so the connection is
                // clean when it returns to the pool. If even that fails the connection is
                // broken and the pool's recycle check discards it.
                let _ = client.batch_execute("ROLLBACK").await;
                classify(e)
            }
        }
    }
}

/// The outcome of statements sent together in one round trip. Once one fails, PostgreSQL
/// answers every later statement of the transaction with 25P02 (in failed transaction), and
/// a statement prepared on first use may run after the others, so the error that explains
/// the failure (a 40001 to retry, a constraint) is the first that is not 25P02.
pub fn settle_pipeline<const N: usize>(results: [Result<()>; N]) -> Result<()> {
    let errors: Vec<Error> = results.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(root_error(errors))
    }
}

/// Two pipelined reads' results, or the error that explains their failure.
pub fn settle_pair<A, B>(a: Result<A>, b: Result<B>) -> Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(root_error(a.err().into_iter().chain(b.err()).collect())),
    }
}

fn root_error(mut errors: Vec<Error>) -> Error {
    let is_aborted = |e: &Error| matches!(e, Error::Db(db) if db.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    let root = errors.iter().position(|e| !is_aborted(e)).unwrap_or(0);
    errors.swap_remove(root)
}

fn member_stripe(member: Uuid) -> usize {
    let (hi, lo) = member.as_u64_pair();
    ((hi ^ lo) as usize) & (MEMBER_LOCK_STRIPES - 1)
}

/// Retry on serialization failures, deadlocks and natural-key races; pass everything else up.
fn classify<T>(e: Error) -> Result<Attempt<T>> {
    if let Error::Db(db) = &e
        && let Some(code) = db.code()
    {
        if *code == SqlState::T_R_SERIALIZATION_FAILURE {
            return Ok(Attempt::Retry("40001"));
        }
        if *code == SqlState::T_R_DEADLOCK_DETECTED {
            return Ok(Attempt::Retry("40P01"));
        }
        let constraint = db.as_db_error().and_then(|d| d.constraint());
        if *code == SqlState::UNIQUE_VIOLATION
            && constraint.is_some_and(|c| RACE_CONSTRAINTS.contains(&c))
        {
            return Ok(Attempt::Retry("23505"));
        }
    }
    Err(e)
}

/// CockroachDB's 40003 (statement completion unknown), or a connection lost while COMMIT
/// was in flight: the transaction may or may not have committed.
fn commit_is_ambiguous(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(code) => *code == SqlState::T_R_STATEMENT_COMPLETION_UNKNOWN,
        None => true,
    }
}

/// Full jitter over an exponentially growing, capped window.
fn backoff(attempt: u32) -> Duration {
    let window_ms = BACKOFF_BASE_MS
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_CAP_MS);
    Duration::from_millis(rand::rng().random_range(0..=window_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_its_cap() {
        for attempt in 1..=MAX_TX_ATTEMPTS {
            assert!(backoff(attempt) <= Duration::from_millis(BACKOFF_CAP_MS));
        }
    }
}
