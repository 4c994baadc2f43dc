//! One region of the topology: its service process, the fault proxy between that service and
//! the database, and the fault proxy between the operator and the service (the address the
//! LoyaltyRegion declares as its endpoint).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loyalty_loadgen::http::Conn;

use super::RegionSpec;
use crate::error::{Error, Result};
use crate::process::{ChildProc, Spawn};
use crate::proxy::FaultProxy;

/// How long a service instance may take to answer `/healthz` after it was started.
pub const SERVICE_START_TIMEOUT_MS: u64 = 30_000;
/// Pause between two start-up health checks.
const HEALTH_POLL_MS: u64 = 100;
/// Timeout of one start-up health check.
const HEALTH_TIMEOUT_MS: u64 = 1_000;

/// How a region's service instances are started.
#[derive(Debug, Clone)]
pub struct ServiceLaunch {
    pub binary: PathBuf,
    /// Adds `LOYALTY_CHAOS__SKIP_FENCE_CHECK=true`: the test-only hook that removes the fence
    /// refusal from the write path, so that the checker can be shown to catch its absence.
    pub skip_fence_check: bool,
    /// `RUST_LOG` of the instances.
    pub log_filter: String,
    /// The settings that make the instances trust the run's token issuer.
    pub auth_env: Vec<(String, String)>,
}

/// A region and its running parts.
pub struct Region {
    pub spec: RegionSpec,
    /// Where clients reach the service directly (its listening address).
    pub service_addr: SocketAddr,
    /// Between the service and the database.
    pub db_proxy: FaultProxy,
    /// Between the operator and the service: the LoyaltyRegion's endpoint.
    pub probe_proxy: FaultProxy,
    service: Option<ChildProc>,
    /// How many instances were started so far (names their log files).
    starts: u32,
    log_dir: PathBuf,
}

/// A free loopback port, released so that a child process can bind it.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(Error::io("bind a free loopback port"))?;
    Ok(listener
        .local_addr()
        .map_err(Error::io("read a bound address"))?
        .port())
}

impl Region {
    /// Creates the proxies (the service is started separately).
    pub async fn new(spec: RegionSpec, db: SocketAddr, log_dir: &Path) -> Result<Region> {
        let service_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let db_proxy = FaultProxy::start(format!("{}-db", spec.name), db).await?;
        let probe_proxy = FaultProxy::start(format!("{}-probe", spec.name), service_addr).await?;
        Ok(Region {
            spec,
            service_addr,
            db_proxy,
            probe_proxy,
            service: None,
            starts: 0,
            log_dir: log_dir.to_path_buf(),
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// `http://127.0.0.1:PORT` of the operator-side proxy: the LoyaltyRegion's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.probe_proxy.addr())
    }

    /// The database URL the service uses: through this region's database proxy.
    fn database_url(&self, database: &str) -> String {
        format!("postgres://postgres@{}/{database}", self.db_proxy.addr())
    }

    /// Starts the service instance and waits until it answers `/healthz`.
    pub async fn start_service(&mut self, launch: &ServiceLaunch, database: &str) -> Result<()> {
        self.starts += 1;
        let mut env = vec![
            ("LOYALTY_REGION".to_owned(), self.spec.name.clone()),
            ("LOYALTY_LISTEN".to_owned(), self.service_addr.to_string()),
            (
                "LOYALTY_DATABASE__URL".to_owned(),
                self.database_url(database),
            ),
            ("RUST_LOG".to_owned(), launch.log_filter.clone()),
        ];
        env.extend(launch.auth_env.iter().cloned());
        if launch.skip_fence_check {
            env.push((
                "LOYALTY_CHAOS__SKIP_FENCE_CHECK".to_owned(),
                "true".to_owned(),
            ));
        }
        let name = format!("{}-service", self.spec.name);
        let child = ChildProc::spawn(Spawn {
            log: self.log_dir.join(format!("{name}-{}.log", self.starts)),
            name,
            program: &launch.binary,
            args: vec!["serve".to_owned()],
            env,
        })?;
        self.service = Some(child);
        self.wait_healthy().await
    }

    async fn wait_healthy(&mut self) -> Result<()> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(SERVICE_START_TIMEOUT_MS);
        let mut conn =
            Conn::new(self.service_addr).with_timeout(Duration::from_millis(HEALTH_TIMEOUT_MS));
        loop {
            if let Some(child) = self.service.as_mut() {
                child.check_running()?;
            }
            if let Ok(reply) = conn.get("/healthz").await
                && reply.status.is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{} to answer /healthz", self.spec.name),
                    after: Duration::from_millis(SERVICE_START_TIMEOUT_MS),
                });
            }
            tokio::time::sleep(Duration::from_millis(HEALTH_POLL_MS)).await;
        }
    }

    /// The running instance, if any.
    pub fn service(&mut self) -> Option<&mut ChildProc> {
        self.service.as_mut()
    }

    /// Takes the instance out (to kill or stop it).
    pub fn take_service(&mut self) -> Option<ChildProc> {
        self.service.take()
    }
}
