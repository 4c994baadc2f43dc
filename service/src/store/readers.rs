//! Connections shared by single-statement reads that need no transaction (the balance read).
//!
//! A pooled connection serves one request at a time, so every balance read cost a wake-up of
//! a PostgreSQL backend of its own, and the service and the database spent more of the
//! machine on those wake-ups than on the statement (docs/perf-log.md, 2026-12-02). A few
//! shared connections let tokio-postgres pipeline the reads of concurrent requests: their
//! messages leave together and the backend takes the next one without sleeping. A read here
//! is one statement with its own implicit transaction, so sharing cannot mix one request's
//! state with another's; writes and multi-statement reads keep their pooled connection.
//!
//! A connection that fails is dropped and the next read through its slot opens a new one, so
//! a database restart costs the reads in flight, as it does with the pool.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex as SyncMutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use loyalty_pgtls::MakeRustlsConnect;
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Row, Statement};

use super::Db;
use crate::error::Result;

/// How the shared connections show in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "loyalty-shared-reads";

/// One open connection and the statements prepared on it.
struct Open {
    client: Client,
    prepared: SyncMutex<HashMap<&'static str, Statement>>,
}

/// A slot's connection, opened on first use and again after it fails.
#[derive(Default)]
struct Slot {
    open: Mutex<Option<Arc<Open>>>,
}

pub struct Readers {
    config: Config,
    tls: MakeRustlsConnect,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

impl Readers {
    /// `connections` shared connections (at least one), named [`APPLICATION_NAME`] in
    /// `pg_stat_activity`.
    pub fn new(mut config: Config, tls: MakeRustlsConnect, connections: usize) -> Self {
        config.application_name(APPLICATION_NAME);
        Self {
            config,
            tls,
            slots: (0..connections.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Readers on the same database with `connections` connections.
    pub fn resized(&self, connections: usize) -> Self {
        Self::new(self.config.clone(), self.tls.clone(), connections)
    }

    /// Runs `sql` (a constant, prepared once per connection) and returns its row, if any.
    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let open = self.connection().await?;
        let statement = open.statement(sql).await?;
        Ok(open.client.query_opt(&statement, params).await?)
    }

    /// The next slot's connection, round robin; opened here when the slot has none or its
    /// connection has closed.
    async fn connection(&self) -> Result<Arc<Open>> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let mut open = slot.open.lock().await;
        if let Some(live) = open.as_ref().filter(|o| !o.client.is_closed()) {
            return Ok(Arc::clone(live));
        }
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "a shared read connection failed; the next read opens another");
            }
        });
        let live = Arc::new(Open {
            client,
            prepared: SyncMutex::default(),
        });
        *open = Some(Arc::clone(&live));
        Ok(live)
    }
}

impl Open {
    async fn statement(&self, sql: &'static str) -> Result<Statement> {
        let cached = self
            .prepared
            .lock()
            .expect("not poisoned")
            .get(sql)
            .cloned();
        if let Some(statement) = cached {
            return Ok(statement);
        }
        let statement = self.client.prepare(sql).await?;
        self.prepared
            .lock()
            .expect("not poisoned")
            .insert(sql, statement.clone());
        Ok(statement)
    }
}

impl Db {
    /// Runs one statement that needs no transaction: on a shared read connection when there
    /// are any, else on a pooled one.
    pub(super) async fn read_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        if let Some(readers) = self.readers() {
            return readers.query_opt(sql, params).await;
        }
        let client = self.conn().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_opt(&statement, params).await?)
    }
}
