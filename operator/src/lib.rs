//! The loyalty operator: controllers for LoyaltyRegion, Campaign and Partner, database
//! placement, and leader election.
//!
//! - [`controller`]: the three controllers (`campaign`, `partner`, `region`), each with its
//!   reconcile and error policy, and the [`controller::Context`] they share;
//! - [`db`]: the rows the operator writes, each write one SERIALIZABLE transaction with a
//!   bounded retry loop;
//! - [`placement`]: the [`placement::PlacementBackend`] trait and its CockroachDB and
//!   PostgreSQL implementations;
//! - [`failover`]: probes every region and fences a failed one towards a healthy region of its
//!   group, fails it back after recovery, and applies manual fences and switchovers;
//! - [`leader`]: Lease-based leader election: only the leader runs controllers and failover;
//! - [`metrics`], [`http`], [`telemetry`], [`error`].
//!
//! [`run`] wires them together; `main.rs` only parses flags and signals.

pub mod controller;
pub mod db;
pub mod error;
pub mod failover;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod placement;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

pub use error::{Error, Result};

use controller::{Dependencies, Settings, ShutdownSignal};
use leader::{LeaderElector, LeaseConfig};
use placement::PlacementBackend;

/// Which placement backend applies database placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// Records placement in `region_placements` only (PostgreSQL: development and tests).
    Postgres,
    /// Applies and verifies CockroachDB multi-region DDL.
    Cockroach,
}

/// Everything the operator needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub backend: BackendKind,
    pub http_addr: SocketAddr,
    pub lease: LeaseConfig,
    pub settings: Settings,
}

/// The database name in a URL, the one placement DDL alters (`loyalty` when absent).
pub fn database_name(url: &str) -> Result<String> {
    let url =
        loyalty_pgtls::DatabaseUrl::parse(url).map_err(|e| Error::DatabaseUrl(e.to_string()))?;
    Ok(url.config().get_dbname().unwrap_or("loyalty").to_owned())
}

/// Runs the operator with the kube `client` until `shutdown` resolves: the HTTP endpoints
/// always, the controllers while this instance leads.
pub async fn run(config: Config, client: kube::Client, shutdown: ShutdownSignal) -> Result<()> {
    let metrics = metrics::Metrics::new();
    let db = db::Db::connect(&config.database_url, metrics.clone())?;
    let placement: Arc<dyn PlacementBackend> = match config.backend {
        BackendKind::Postgres => Arc::new(placement::postgres::PostgresBackend),
        BackendKind::Cockroach => Arc::new(placement::cockroach::CockroachBackend::new(
            database_name(&config.database_url)?,
        )),
    };
    let (addr, server) = http::serve(
        config.http_addr,
        metrics.clone(),
        db.clone(),
        shutdown.clone(),
    )
    .await?;
    tracing::info!(%addr, backend = ?config.backend, identity = %config.lease.identity, "operator started");
    let server = tokio::spawn(server);
    let deps = Dependencies {
        client: client.clone(),
        db,
        placement,
        metrics: metrics.clone(),
        settings: config.settings,
    };
    LeaderElector::new(client, config.lease, metrics)
        .run(shutdown, |stop| controller::run(deps.clone(), stop))
        .await;
    if let Ok(Err(e)) = server.await {
        tracing::warn!(error = %e, "http server failed");
    }
    tracing::info!("operator stopped");
    Ok(())
}
