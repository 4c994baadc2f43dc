//! The local multi-region topology: one PostgreSQL, the Kubernetes API stand-in with the CRDs
//! and a LoyaltyRegion per region, the operator process(es), and one service process per
//! region, each behind its fault proxies. Everything listens on 127.0.0.1 at free ports.
//!
//! Dropping a [`Topology`] kills every child process, stops the proxies, the stand-in and the
//! database, and removes the run directory (unless it is kept for inspection).

mod cluster;
mod faults;
mod region;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cluster::{Cluster, LEADER_LEASE, OPERATOR_NAMESPACE};
pub use faults::Fault;
pub use region::{Region, ServiceLaunch, free_port};

use crate::binaries;
use crate::database::{DATABASE, Database};
use crate::error::{Error, Result};
use crate::process::{ChildProc, Spawn};

/// How long the operator may take to create every region's row after start.
pub const REGIONS_READY_TIMEOUT_MS: u64 = 30_000;
/// Pause between two polls of the regions' rows.
const REGIONS_POLL_MS: u64 = 200;

/// A region to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionSpec {
    pub name: String,
    pub group: String,
    pub countries: Vec<String>,
}

impl RegionSpec {
    pub fn new(name: &str, group: &str, countries: &[&str]) -> RegionSpec {
        RegionSpec {
            name: name.to_owned(),
            group: group.to_owned(),
            countries: countries.iter().map(|c| (*c).to_owned()).collect(),
        }
    }
}

/// The three regions of the standard topology: two in `eu`, one alone in `us`.
pub fn default_regions() -> Vec<RegionSpec> {
    vec![
        RegionSpec::new("eu-west-1", "eu", &["FR", "IE", "ES", "NL", "BE"]),
        RegionSpec::new("eu-central-1", "eu", &["DE", "AT", "IT", "PL"]),
        RegionSpec::new("us-east-1", "us", &["US", "CA"]),
    ]
}

/// `spec.failover` of every LoyaltyRegion: fast, so that a scenario takes seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailoverTimings {
    pub probe_interval_s: i32,
    pub failure_threshold: i32,
    pub success_threshold: i32,
    pub stabilization_window_s: i32,
}

impl Default for FailoverTimings {
    fn default() -> Self {
        FailoverTimings {
            probe_interval_s: 1,
            failure_threshold: 3,
            success_threshold: 2,
            stabilization_window_s: 5,
        }
    }
}

/// What to bring up.
#[derive(Debug, Clone)]
pub struct TopologyConfig {
    pub regions: Vec<RegionSpec>,
    pub failover: FailoverTimings,
    /// Operator processes (leader election picks one); 0 runs none.
    pub operators: usize,
    pub skip_fence_check: bool,
    /// `RUST_LOG` of the child processes.
    pub log_filter: String,
    /// Keep the run directory (logs, kubeconfig) after drop, for inspection.
    pub keep_dir: bool,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            regions: default_regions(),
            failover: FailoverTimings::default(),
            operators: 1,
            skip_fence_check: false,
            log_filter: "info".to_owned(),
            keep_dir: false,
        }
    }
}

/// A running topology. Field order is drop order: processes first, the directory last.
pub struct Topology {
    pub regions: Vec<Region>,
    operators: Vec<Option<ChildProc>>,
    operator_binary: PathBuf,
    service_launch: ServiceLaunch,
    pub cluster: Cluster,
    pub db: Database,
    dir: Option<tempfile::TempDir>,
    kept_dir: Option<PathBuf>,
}

fn run_dir() -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("loyalty-chaos-")
        .tempdir()
        .map_err(Error::io("create the run directory"))?;
    // PostgreSQL runs as `postgres` when this process is root and must reach its data here.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(Error::io("open the run directory to the postgres user"))?;
    Ok(dir)
}

impl Topology {
    /// Brings everything up and waits until every region's row exists and is active.
    pub async fn up(config: TopologyConfig) -> Result<Topology> {
        let operator_binary = binaries::find(binaries::OPERATOR)?;
        let dir = run_dir()?;
        let path = dir.path().to_path_buf();
        let service_launch = ServiceLaunch {
            binary: binaries::find(binaries::SERVICE)?,
            skip_fence_check: config.skip_fence_check,
            log_filter: config.log_filter.clone(),
            auth_env: crate::identity::service_env(&path)?,
        };
        let db = Database::start(&path).await?;
        db.prepare().await?;
        let cluster = Cluster::start(&path).await?;
        let mut regions = Vec::new();
        for spec in &config.regions {
            regions.push(Region::new(spec.clone(), db.addr(), &path).await?);
        }
        let mut topology = Topology {
            regions,
            operators: Vec::new(),
            operator_binary,
            service_launch,
            cluster,
            db,
            kept_dir: config.keep_dir.then(|| path.clone()),
            dir: Some(dir),
        };
        // Services first: by the time the operator probes a region, it answers.
        for region in &mut topology.regions {
            region
                .start_service(&topology.service_launch, DATABASE)
                .await?;
        }
        for (i, region) in topology.regions.iter().enumerate() {
            let endpoint = region.endpoint();
            topology
                .cluster
                .apply_region(&region.spec, &endpoint, &config.failover, i == 0)
                .await?;
        }
        for i in 0..config.operators {
            topology.start_operator(i).await?;
        }
        if config.operators > 0 {
            topology.wait_regions_active().await?;
        }
        Ok(topology)
    }

    /// The run directory (logs, kubeconfig, database).
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or_else(|| Path::new("."))
    }

    pub fn region(&self, name: &str) -> Result<&Region> {
        self.regions
            .iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| Error::UnknownRegion(name.to_owned()))
    }

    pub(crate) fn region_mut(&mut self, name: &str) -> Result<&mut Region> {
        self.regions
            .iter_mut()
            .find(|r| r.name() == name)
            .ok_or_else(|| Error::UnknownRegion(name.to_owned()))
    }

    /// Region name → the address clients reach its service at.
    pub fn service_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.regions
            .iter()
            .map(|r| (r.name().to_owned(), r.service_addr))
            .collect()
    }

    /// Operator `index`'s identity in the Lease.
    pub fn operator_identity(index: usize) -> String {
        format!("chaos-operator-{index}")
    }

    /// Starts operator `index` (again, after it was killed).
    pub async fn start_operator(&mut self, index: usize) -> Result<()> {
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let identity = Topology::operator_identity(index);
        let child = ChildProc::spawn(Spawn {
            name: identity.clone(),
            program: &self.operator_binary,
            args: vec!["--http-addr".into(), http.to_string()],
            env: vec![
                ("DATABASE_URL".into(), self.db.url()),
                (
                    "KUBECONFIG".into(),
                    self.cluster.kubeconfig().display().to_string(),
                ),
                ("POD_NAME".into(), identity.clone()),
                ("RUST_LOG".into(), self.service_launch.log_filter.clone()),
            ],
            log: self.dir().join(format!("{identity}.log")),
        })?;
        if self.operators.len() <= index {
            self.operators.resize_with(index + 1, || None);
        }
        self.operators[index] = Some(child);
        Ok(())
    }

    /// Waits until the operator has written an active row for every region.
    async fn wait_regions_active(&mut self) -> Result<()> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(REGIONS_READY_TIMEOUT_MS);
        let client = self.db.connect().await?;
        let wanted = i64::try_from(self.regions.len()).unwrap_or(i64::MAX);
        loop {
            for operator in self.operators.iter_mut().flatten() {
                operator.check_running()?;
            }
            let row = client
                .query_one(
                    "SELECT count(*) FROM regions WHERE state = 'active' AND endpoint LIKE 'http://127.0.0.1:%'",
                    &[],
                )
                .await?;
            if row.get::<_, i64>(0) >= wanted {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "the operator to create every region's row".into(),
                    after: Duration::from_millis(REGIONS_READY_TIMEOUT_MS),
                });
            }
            tokio::time::sleep(Duration::from_millis(REGIONS_POLL_MS)).await;
        }
    }

    /// Operator processes, by index (`None` once killed).
    pub fn operators(&mut self) -> &mut Vec<Option<ChildProc>> {
        &mut self.operators
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Children die with their handles (kill_on_drop); the run directory goes last unless
        // kept for inspection.
        self.regions.clear();
        self.operators.clear();
        if let (Some(dir), Some(_)) = (self.dir.take(), &self.kept_dir) {
            let _ = dir.keep();
        }
    }
}
