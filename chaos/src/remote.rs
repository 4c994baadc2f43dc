//! The workload and the checker against a deployment the suite did not start (a real cluster,
//! reached for example through `kubectl port-forward`): the history goes to a file, and the
//! checker judges the deployment's database against it later.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::NoTls;

use crate::checker::{self, CheckReport};
use crate::error::{Error, Result};
use crate::members::{self, EnrolTarget};
use crate::workload::{Clock, History, Router, Workload, WorkloadConfig};

/// One region of the deployment: `NAME=GROUP=HOST:PORT=CC,CC` on the command line.
#[derive(Debug, Clone)]
pub struct RemoteRegion {
    pub name: String,
    pub group: String,
    pub addr: SocketAddr,
    pub countries: Vec<String>,
}

impl std::str::FromStr for RemoteRegion {
    type Err = Error;

    fn from_str(text: &str) -> Result<RemoteRegion> {
        let parts: Vec<&str> = text.split('=').collect();
        let [name, group, addr, countries] = parts[..] else {
            return Err(Error::Scenario(format!(
                "region {text:?}: expected NAME=GROUP=HOST:PORT=CC,CC"
            )));
        };
        let addr = addr
            .parse()
            .map_err(|e| Error::Scenario(format!("region {text:?}: address: {e}")))?;
        Ok(RemoteRegion {
            name: name.to_owned(),
            group: group.to_owned(),
            addr,
            countries: countries.split(',').map(str::to_owned).collect(),
        })
    }
}

/// Enrols members in every region, runs the workload for `config.duration`, returns the history.
pub async fn run_workload(
    regions: &[RemoteRegion],
    config: WorkloadConfig,
    members_per_region: usize,
) -> Result<History> {
    let targets: Vec<EnrolTarget> = regions
        .iter()
        .map(|r| EnrolTarget {
            region: r.name.clone(),
            addr: r.addr,
            countries: r.countries.clone(),
        })
        .collect();
    let run_tag = format!("s{}-{}", config.seed, chrono::Utc::now().timestamp());
    let members = members::enrol(&targets, members_per_region, &run_tag).await?;
    let routes: Vec<_> = regions
        .iter()
        .map(|r| (r.name.clone(), r.group.clone(), r.addr))
        .collect();
    let router = Arc::new(Router::new(&routes, Clock::start()));
    let duration = config.duration;
    let workload = Workload::start(config, router, members);
    tokio::time::sleep(duration).await;
    Ok(workload.stop().await)
}

/// Judges the database at `database_url` against the history in `path`.
pub async fn check_history(path: &Path, database_url: &str) -> Result<CheckReport> {
    let text =
        std::fs::read_to_string(path).map_err(Error::io(format!("read {}", path.display())))?;
    let history: History = serde_json::from_str(&text)?;
    let (client, connection) = tokio_postgres::connect(database_url, NoTls).await?;
    tokio::spawn(connection);
    checker::check(&history, &client, database_url).await
}

/// Bounds a remote workload: at most an hour.
pub const MAX_REMOTE_DURATION: Duration = Duration::from_secs(3_600);
