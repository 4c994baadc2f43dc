//! The connection pool, the serializable retry loop, and [`Tx`], the transaction handle
//! every unit of work writes through.
//!
//! Round trips, not statements, dominate a short transaction's cost on a busy machine: each
//! one wakes the service and a PostgreSQL backend. tokio-postgres queues a request on the
//! connection when its future is first polled and the server answers in order, so
//! statements sent back to back share one round trip. [`Tx`] uses that: `BEGIN` goes out
//! with the unit's first reads, and writes wait in a queue until the transaction's next
//! read (so every read sees them) or its `COMMIT`, with which they travel. An earn is two
//! round trips: `BEGIN` + idempotency lookup + fence + member + booking, then the four
//! writes + idempotency record + `COMMIT`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex as SyncMutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    ClientWrapper, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Timeouts,
};
use futures::future::BoxFuture;
use loyalty_schema::retry::{Retry, RetryPolicy, SqlClass, classify as classify_sqlstate};
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use uuid::Uuid;

use super::readers::Readers;
use crate::config::DEFAULT_READ_CONNECTIONS;
use crate::crypto::{DigestKeys, Keyring};
use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Attempts of one unit of work before it is abandoned with a 503 `contention`.
/// Backoff after a serialization failure: 2 ms doubling up to 200 ms, jittered.
pub const TX_RETRY: RetryPolicy = RetryPolicy::new(16, 2, 200);
/// The database ends a session of ours that sits inside a transaction this long without a
/// statement: a process paused mid-transaction (a stopped VM, SIGSTOP) would otherwise keep
/// its row locks, and the region serving its members after a failover would wait on them for
/// as long as it stays paused. Far above any unit of work's own time between statements.
const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 5_000;
/// In-process lock stripes that queue concurrent requests for one member (see [`Db::member_lock`]).
const MEMBER_LOCK_STRIPES: usize = 1024;
const _: () = assert!(MEMBER_LOCK_STRIPES.is_power_of_two());
/// In-process lock stripes for campaign budgets (see [`Db::campaign_lock_keys`]).
const CAMPAIGN_LOCK_STRIPES: usize = 64;

/// Constraint violations that mean "a concurrent transaction inserted the same natural key
/// first": re-running the unit of work finds that row and answers from it.
const RACE_CONSTRAINTS: &[&str] = &[
    "earns_pkey",
    "idempotency_keys_pkey",
    "members_external_id_key",
    "members_external_id_index_key",
    // Two replicas rebuilding the same group's rank bands at once: the re-run finds the
    // other's build and writes nothing.
    "leaderboard_bands_pkey",
];

/// The pool plus what every transaction needs.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    metrics: Metrics,
    stripes: Arc<Vec<Mutex<()>>>,
    campaign_stripes: Arc<Vec<Mutex<()>>>,
    /// Whether a write refuses when this instance's region is fenced. Always true, unless a
    /// `chaos-hooks` build was told to skip the check (see [`Db::skipping_fence_check`]).
    enforce_fence: bool,
    /// Who this handle's writes are made for; recorded on every ledger entry (see
    /// [`Db::acting_as`]).
    actor: Option<Arc<Actor>>,
    /// What seals and opens members' personal fields (see [`Db::with_keys`]).
    keyring: Option<Keyring>,
    /// What signs and verifies the chain-head digests (shared: a `Db` is cloned per write).
    digest_keys: Arc<DigestKeys>,
    /// The connections balance reads share; `None` sends them through the pool.
    readers: Option<Arc<Readers>>,
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
        // sslmode and sslrootcert are read the libpq way, for PostgreSQL and CockroachDB alike.
        let (mut pg_config, tls) = loyalty_pgtls::DatabaseUrl::parse(url)?.into_parts()?;
        let options = format!(
            "{} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}",
            pg_config.get_options().unwrap_or_default()
        );
        pg_config.options(options.trim());
        let readers = Readers::new(pg_config.clone(), tls.clone(), DEFAULT_READ_CONNECTIONS);
        let manager = Manager::from_config(
            pg_config,
            tls,
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
            enforce_fence: true,
            actor: None,
            keyring: None,
            digest_keys: Arc::default(),
            readers: Some(Arc::new(readers)),
        })
    }

    /// This pool, sealing and opening personal fields with `keyring` and signing or
    /// verifying digests with `digest_keys` (ADR 0021).
    pub fn with_keys(self, keyring: Option<Keyring>, digest_keys: DigestKeys) -> Self {
        Self {
            keyring,
            digest_keys: Arc::new(digest_keys),
            ..self
        }
    }

    /// The keyring; a pool built without one cannot touch personal fields.
    pub fn keyring(&self) -> Result<&Keyring> {
        self.keyring.as_ref().ok_or_else(|| {
            Error::Invariant("this pool was built without the personal-data keys".into())
        })
    }

    /// This pool, with `connections` connections shared by balance reads (0: none, the reads
    /// take pooled connections).
    pub fn with_read_connections(self, connections: usize) -> Self {
        let readers = match (&self.readers, connections) {
            (_, 0) | (None, _) => None,
            (Some(readers), n) => Some(Arc::new(readers.resized(n))),
        };
        Self { readers, ..self }
    }

    /// The shared read connections, if this pool has them.
    pub(super) fn readers(&self) -> Option<&Readers> {
        self.readers.as_deref()
    }

    pub fn digest_keys(&self) -> &DigestKeys {
        &self.digest_keys
    }

    /// This pool, with every ledger entry written through it recorded as made by `actor`.
    /// Cheap: the pool and the lock stripes are shared.
    pub fn acting_as(&self, actor: Actor) -> Self {
        Self {
            actor: Some(Arc::new(actor)),
            ..self.clone()
        }
    }

    /// Writes stop refusing when this region is fenced; they still read its row and record
    /// its epoch, and still refuse members of another residency group. Test-only: it lets
    /// the chaos suite show that its checker catches a region writing through its fence.
    #[cfg(feature = "chaos-hooks")]
    pub fn skipping_fence_check(mut self) -> Self {
        self.enforce_fence = false;
        self
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
        F: for<'c> FnMut(&'c Tx<'c>) -> BoxFuture<'c, Result<T>>,
    {
        let mut retry = Retry::new(TX_RETRY);
        loop {
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
                    if !retry.again().await {
                        break;
                    }
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
            attempts: retry.attempt(),
        })
    }

    async fn attempt<T, F>(&self, unit: &mut F) -> Result<Attempt<T>>
    where
        F: for<'c> FnMut(&'c Tx<'c>) -> BoxFuture<'c, Result<T>>,
    {
        let conn = InTx::new(self.conn().await?);
        let client = conn.client();
        let tx = Tx::new(client, self.enforce_fence, self.actor.clone());
        // BEGIN is sent first and the unit's first statements right behind it, in the same
        // round trip (`biased` polls in order; a request is queued when first polled). BEGIN
        // cannot fail on a healthy connection that is not already in a transaction, which
        // `InTx` guarantees; if it failed anyway, the unit's statements failed with it.
        let (begun, outcome) = tokio::join!(
            biased;
            client.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            unit(&tx)
        );
        let outcome = begun.map_err(Error::from).and(outcome);
        // What the attempt amounts to, and whether the transaction is still open.
        let (result, open) = match outcome {
            Ok(value) if !tx.is_discarded() => match tx.flush(true).await {
                Flushed {
                    writes: Ok(()),
                    commit: Some(Ok(())),
                } => (Ok(Attempt::Done(value)), false),
                Flushed {
                    writes: Ok(()),
                    commit: Some(Err(e)),
                } if commit_is_ambiguous(&e) => (Ok(Attempt::Ambiguous), false),
                Flushed {
                    writes: Ok(()),
                    commit: Some(Err(e)),
                } => (classify(e.into()), false),
                // A write failed, so PostgreSQL answered the COMMIT with a rollback.
                Flushed {
                    writes: Err(e),
                    commit: Some(_),
                } => (classify(e), false),
                // A write could not be sent, so neither was COMMIT.
                Flushed {
                    writes: Err(e),
                    commit: None,
                } => (classify(e), true),
                Flushed {
                    writes: Ok(()),
                    commit: None,
                } => unreachable!("COMMIT is sent unless a write could not be"),
            },
            // The unit answered without writing (e.g. an idempotent replay): nothing of this
            // transaction, queued or sent, may persist.
            Ok(value) => (Ok(Attempt::Done(value)), true),
            // A failed statement aborted the transaction.
            Err(e) => (classify(e), true),
        };
        // Roll back so the connection is clean when it returns to the pool. If even that
        // fails the connection is broken: returning before `finished` closes it instead.
        if open && client.batch_execute("ROLLBACK").await.is_err() {
            return result;
        }
        conn.finished();
        result
    }
}

/// A pooled connection while a transaction is open on it. If the future driving the
/// transaction is dropped half-way (the HTTP client hung up, a timeout fired), the
/// connection must not go back to the pool inside that transaction, where the next user's
/// BEGIN would only warn and its statements, and its COMMIT, would join the abandoned work.
/// Unless [`InTx::finished`] was reached, dropping this closes the connection instead, and
/// PostgreSQL rolls the transaction back.
struct InTx(Option<Object>);

impl InTx {
    fn new(conn: Object) -> Self {
        Self(Some(conn))
    }

    fn client(&self) -> &ClientWrapper {
        self.0.as_ref().expect("connection present until dropped")
    }

    /// The transaction ended (COMMIT or ROLLBACK answered): the connection may be reused.
    fn finished(mut self) {
        drop(self.0.take());
    }
}

impl Drop for InTx {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            tracing::warn!("a transaction did not end cleanly; closing its connection");
            drop(Object::take(conn));
        }
    }
}

/// Statement parameters a queued write owns until it is sent.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// Boxes each value as a [`Param`] of a queued write.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        vec![$(Box::new($value) as $crate::store::tx::Param),*]
    };
}
pub(super) use params;

/// A prepared write waiting for the transaction's next statement.
struct Queued {
    statement: Statement,
    params: Vec<Param>,
}

/// One SERIALIZABLE transaction, as a unit of work sees it (see the module docs).
///
/// Reads go out at once, behind any queued writes; writes are queued. A unit must not
/// depend on a write's row count, and learns of a write's failure (a constraint, a
/// serialization failure) from its next read or from the commit.
pub struct Tx<'c> {
    client: &'c ClientWrapper,
    queued: SyncMutex<Vec<Queued>>,
    discarded: std::sync::atomic::AtomicBool,
    enforce_fence: bool,
    actor: Option<Arc<Actor>>,
}

impl<'c> Tx<'c> {
    fn new(client: &'c ClientWrapper, enforce_fence: bool, actor: Option<Arc<Actor>>) -> Self {
        Self {
            client,
            queued: SyncMutex::new(Vec::new()),
            discarded: std::sync::atomic::AtomicBool::new(false),
            enforce_fence,
            actor,
        }
    }

    /// Who this transaction's ledger entries are made by, when the caller said.
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_deref()
    }

    /// Whether this transaction must refuse to write when its region is fenced (always,
    /// outside a `chaos-hooks` test build).
    pub fn enforces_fence(&self) -> bool {
        self.enforce_fence
    }

    /// The rows of a read, sent behind the queued writes.
    pub async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.read(
            sql,
            |st| async move { self.client.query(&st, params).await },
        )
        .await
    }

    /// At most one row of a read, sent behind the queued writes.
    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        self.read(
            sql,
            |st| async move { self.client.query_opt(&st, params).await },
        )
        .await
    }

    /// Exactly one row of a read (an error otherwise), sent behind the queued writes.
    pub async fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        self.read(
            sql,
            |st| async move { self.client.query_one(&st, params).await },
        )
        .await
    }

    async fn read<T, F>(&self, sql: &str, run: impl FnOnce(Statement) -> F) -> Result<T>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let statement = self.client.prepare_cached(sql).await?;
        let (flushed, read) = tokio::join!(biased; self.flush(false), run(statement));
        settle_pair(flushed.writes, read.map_err(Error::from)).map(|((), value)| value)
    }

    /// Queues a write; it is prepared now and sent with the next read or the commit.
    pub async fn write(&self, sql: &str, params: Vec<Param>) -> Result<()> {
        let statement = self.client.prepare_cached(sql).await?;
        self.queued
            .lock()
            .expect("queue lock")
            .push(Queued { statement, params });
        Ok(())
    }

    /// Ends the transaction with ROLLBACK instead of COMMIT, dropping the queued writes.
    pub fn discard(&self) {
        self.discarded
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn is_discarded(&self) -> bool {
        self.discarded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends the queued writes in order and then, with `commit`, COMMIT, all before waiting
    /// for any answer; then collects the answers.
    ///
    /// A write that cannot even be sent (its parameters fail to encode, or the connection is
    /// gone) stops everything after it, COMMIT included: a transaction must never commit
    /// without one of its writes.
    async fn flush(&self, commit: bool) -> Flushed {
        type Sending<'a, T> =
            Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'a>>;
        let queued = std::mem::take(&mut *self.queued.lock().expect("queue lock"));
        // tokio-postgres puts a request on the wire when its future is first polled; a
        // future that is ready at once has failed without sending anything.
        let mut writes: Vec<(Sending<'_, u64>, Option<_>)> = Vec::with_capacity(queued.len());
        let mut stopped = false;
        for q in &queued {
            let mut write: Sending<'_, u64> = Box::pin(self.client.execute_raw(
                &q.statement,
                q.params.iter().map(|p| &**p as &(dyn ToSql + Sync)),
            ));
            let early = match futures::poll!(write.as_mut()) {
                Poll::Ready(result) => Some(result),
                Poll::Pending => None,
            };
            stopped = matches!(early, Some(Err(_)));
            writes.push((write, early));
            if stopped {
                break;
            }
        }
        let mut commit: Option<(Sending<'_, ()>, Option<_>)> = (commit && !stopped).then(|| {
            let sending: Sending<'_, ()> = Box::pin(self.client.batch_execute("COMMIT"));
            (sending, None)
        });
        if let Some((sending, early)) = commit.as_mut()
            && let Poll::Ready(result) = futures::poll!(sending.as_mut())
        {
            *early = Some(result);
        }
        // Answers arrive in the order the requests went out; awaiting in that order never
        // leaves an answer waiting on a future nobody polls.
        let mut results = Vec::with_capacity(writes.len());
        for (write, early) in writes {
            let result = match early {
                Some(result) => result,
                None => write.await,
            };
            results.push(result.map(drop).map_err(Error::from));
        }
        let commit = match commit {
            Some((_, Some(result))) => Some(result),
            Some((sending, None)) => Some(sending.await),
            None => None,
        };
        Flushed {
            writes: settle_all(results),
            commit,
        }
    }
}

/// What became of the queued writes and, when it was asked for, COMMIT.
struct Flushed {
    /// The error that explains a failed write, if one failed.
    writes: Result<()>,
    /// COMMIT's answer; `None` when it was not sent (not asked for, or a write could not be
    /// sent), in which case the transaction is still open.
    commit: Option<Result<(), tokio_postgres::Error>>,
}

/// The outcome of statements sent together in one round trip. Once one fails, PostgreSQL
/// answers every later statement of the transaction with 25P02 (in failed transaction), and
/// a statement prepared on first use may run after the others, so the error that explains
/// the failure (a 40001 to retry, a constraint) is the first that is not 25P02.
pub fn settle_all(results: impl IntoIterator<Item = Result<()>>) -> Result<()> {
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
        if let SqlClass::Retry(sqlstate) = classify_sqlstate(Some(code.code())) {
            return Ok(Attempt::Retry(sqlstate));
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
        Some(code) => classify_sqlstate(Some(code.code())) == SqlClass::Ambiguous,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private database on the harness's PostgreSQL with one INT4 table, and a pool on it.
    async fn scratch() -> (Db, tokio_postgres::Client) {
        let name = format!("tx_{}", Uuid::new_v4().simple());
        let db_name = name.clone();
        tokio::task::spawn_blocking(move || pgharness::shared().create_database(&db_name, None))
            .await
            .unwrap()
            .unwrap();
        let url = pgharness::shared().url(&name);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute("CREATE TABLE t (n INT4 PRIMARY KEY)")
            .await
            .unwrap();
        let db = Db::connect(&url, 1, Duration::from_secs(5), Metrics::new()).unwrap();
        (db, client)
    }

    async fn rows(client: &tokio_postgres::Client) -> Vec<i32> {
        let rows = client
            .query("SELECT n FROM t ORDER BY n", &[])
            .await
            .unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    #[tokio::test]
    async fn queued_writes_are_read_back_and_commit_together() {
        let (db, client) = scratch().await;
        let seen = db
            .serializable("test", |tx| {
                Box::pin(async move {
                    tx.write("INSERT INTO t VALUES ($1)", params![1_i32])
                        .await?;
                    tx.write("INSERT INTO t VALUES ($1)", params![2_i32])
                        .await?;
                    let row = tx.query_one("SELECT COUNT(*)::INT4 FROM t", &[]).await?;
                    tx.write("INSERT INTO t VALUES ($1)", params![3_i32])
                        .await?;
                    Ok(row.get::<_, i32>(0))
                })
            })
            .await
            .unwrap();
        assert_eq!(seen, Some(2), "a read sees the writes queued before it");
        assert_eq!(rows(&client).await, vec![1, 2, 3]);
    }

    /// Inserts each of `values()` into `t` as a queued write, in one transaction.
    async fn insert_each(db: &Db, values: fn() -> Vec<Param>) -> Result<Option<()>> {
        db.serializable("test", |tx| {
            Box::pin(async move {
                for value in values() {
                    tx.write("INSERT INTO t VALUES ($1)", vec![value]).await?;
                }
                Ok(())
            })
        })
        .await
    }

    #[tokio::test]
    async fn a_write_that_cannot_be_sent_commits_nothing() {
        let (db, client) = scratch().await;
        // An i64 for an INT4 parameter fails to encode: that write is never sent.
        let outcome = insert_each(&db, || params![1_i32, 2_i64, 3_i32]).await;
        assert!(outcome.is_err(), "{outcome:?}");
        assert!(rows(&client).await.is_empty());
        // The only pooled connection came back clean: the next transaction commits alone.
        insert_each(&db, || params![4_i32]).await.unwrap();
        assert_eq!(rows(&client).await, vec![4]);
    }

    #[tokio::test]
    async fn a_failing_write_rolls_back_the_whole_transaction() {
        let (db, client) = scratch().await;
        client
            .batch_execute("INSERT INTO t VALUES (2)")
            .await
            .unwrap();
        let outcome = insert_each(&db, || params![1_i32, 2_i32, 3_i32]).await;
        let Err(Error::Db(e)) = outcome else {
            panic!("expected the duplicate key error, got {outcome:?}");
        };
        assert_eq!(e.code(), Some(&SqlState::UNIQUE_VIOLATION), "{e}");
        assert_eq!(rows(&client).await, vec![2]);
    }

    #[test]
    fn backoff_stays_within_its_cap() {
        for attempt in 1..=TX_RETRY.max_attempts {
            assert!(TX_RETRY.delay(attempt) <= Duration::from_millis(TX_RETRY.cap_ms));
        }
    }
}
