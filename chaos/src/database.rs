//! The topology's one PostgreSQL (standing in for CockroachDB): started from the project's
//! harness with its data in the run directory, so that it can be crashed (SIGKILL of the
//! postmaster) and restarted on the same port with its data intact.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loyalty_service::store::{migrate, seed};
use pgharness::{PgConfig, PgServer};
use tokio_postgres::{Client, NoTls};

use crate::error::{Error, Result};
use crate::signals::{self, ProcSignal};

/// The database every service instance and the operator use.
pub const DATABASE: &str = "loyalty";
/// How long a restart after a crash may take (crash recovery, old backends exiting).
pub const RESTART_TIMEOUT_MS: u64 = 30_000;
/// Pause between restart attempts while the crashed server's backends are still exiting.
const RESTART_RETRY_MS: u64 = 200;

/// A PostgreSQL server owned by the topology.
pub struct Database {
    server: Option<PgServer>,
    data_dir: PathBuf,
    port: u16,
}

fn config(data_dir: &Path, port: Option<u16>) -> PgConfig {
    PgConfig {
        data_dir: Some(data_dir.to_path_buf()),
        port,
        // The harness's fast mode acknowledges commits before their WAL is written, so a
        // crash of the server loses acknowledged writes (the db-crash scenario caught exactly
        // that). `fsync` stays off: a process crash keeps what the OS already holds.
        settings: vec![("synchronous_commit".into(), "on".into())],
        ..PgConfig::default()
    }
}

impl Database {
    /// Starts a new cluster in `dir/pgdata` and creates the [`DATABASE`] (about a second).
    pub async fn start(dir: &Path) -> Result<Database> {
        let data_dir = dir.join("pgdata");
        let dir_for_start = data_dir.clone();
        let server = blocking(move || {
            let server = PgServer::start(config(&dir_for_start, None))?;
            server.create_database(DATABASE, None)?;
            Ok(server)
        })
        .await?;
        let port = server.port();
        Ok(Database {
            server: Some(server),
            data_dir,
            port,
        })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A direct connection (not through any proxy), for set-up, SQL fencing and the checker.
    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) = tokio_postgres::connect(&self.url(), NoTls).await?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away.
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Applies the service's migrations and its reference data (currencies, earn rates,
    /// tiers). The seeded demo regions are removed again: the operator creates every region's
    /// row from its LoyaltyRegion, with the transition that records its first epoch.
    pub async fn prepare(&self) -> Result<()> {
        let client = self.connect().await?;
        let service = |e: loyalty_service::error::Error| Error::Service(e.to_string());
        migrate::run(&client).await.map_err(service)?;
        seed::reference_data(&client).await.map_err(service)?;
        client
            .batch_execute(
                "DELETE FROM country_homes; DELETE FROM region_transitions; DELETE FROM regions;",
            )
            .await?;
        Ok(())
    }

    /// Kills the postmaster with SIGKILL: every connection drops, nothing is checkpointed.
    pub fn crash(&mut self) -> Result<()> {
        let pid_file = self.data_dir.join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .map_err(Error::io(format!("read {}", pid_file.display())))?;
        let pid: u32 = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| Error::Scenario(format!("no pid in {}", pid_file.display())))?;
        signals::send(pid, ProcSignal::Kill)?;
        // The harness notices the exit, removes its run directory and keeps the data directory.
        drop(self.server.take());
        Ok(())
    }

    /// Starts the server again on the same port after [`Database::crash`], retrying while the
    /// old backends are still exiting.
    pub async fn restart(&mut self) -> Result<()> {
        let (data_dir, port) = (self.data_dir.clone(), self.port);
        let server = blocking(move || {
            let deadline = Instant::now() + Duration::from_millis(RESTART_TIMEOUT_MS);
            loop {
                match PgServer::start(config(&data_dir, Some(port))) {
                    Ok(server) => return Ok(server),
                    Err(error) if Instant::now() >= deadline => return Err(error.into()),
                    Err(_) => std::thread::sleep(Duration::from_millis(RESTART_RETRY_MS)),
                }
            }
        })
        .await?;
        self.server = Some(server);
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }
}

/// Runs the harness's blocking start on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Scenario(format!("database start panicked: {e}")))?
}
