//! Faults the topology can suffer, by region name: crash, pause and resume a service,
//! partition a region from the operator or from the database, crash and restart the database,
//! kill an operator, and heal.

use serde::{Deserialize, Serialize};

use super::Topology;
use crate::database::DATABASE;
use crate::error::{Error, Result};
use crate::proxy::Mode;
use crate::signals::ProcSignal;

/// One fault, as scenarios and the `loyalty-chaos` subcommands name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum Fault {
    /// SIGKILL of the region's service instance.
    Kill { region: String },
    /// SIGSTOP of the region's service instance.
    Pause { region: String },
    /// SIGCONT of a paused instance.
    Resume { region: String },
    /// The operator's probes go into a black hole; the service still reaches the database.
    PartitionFromOperator { region: String },
    /// The service's database connections go into a black hole.
    PartitionFromDb { region: String },
    /// Both proxies pass again, a paused instance resumes, a killed one restarts.
    Heal { region: String },
    /// SIGKILL of the database's postmaster.
    CrashDb,
    /// The database starts again on the same port with the same data.
    RestartDb,
    /// SIGKILL of the operator process that holds the Lease.
    KillOperatorLeader,
}

impl Topology {
    /// Applies `fault`.
    pub async fn inject(&mut self, fault: &Fault) -> Result<()> {
        match fault {
            Fault::Kill { region } => self.kill_service(region).await,
            Fault::Pause { region } => self.signal_service(region, ProcSignal::Stop),
            Fault::Resume { region } => self.signal_service(region, ProcSignal::Cont),
            Fault::PartitionFromOperator { region } => {
                self.region(region)?.probe_proxy.set_mode(Mode::BlackHole);
                Ok(())
            }
            Fault::PartitionFromDb { region } => {
                self.region(region)?.db_proxy.set_mode(Mode::BlackHole);
                Ok(())
            }
            Fault::Heal { region } => self.heal(region).await,
            Fault::CrashDb => self.db.crash(),
            Fault::RestartDb => self.db.restart().await,
            Fault::KillOperatorLeader => self.kill_operator_leader().await.map(|_| ()),
        }
    }

    async fn kill_service(&mut self, region: &str) -> Result<()> {
        match self.region_mut(region)?.take_service() {
            Some(child) => child.kill().await,
            None => Ok(()),
        }
    }

    fn signal_service(&mut self, region: &str, signal: ProcSignal) -> Result<()> {
        match self.region_mut(region)?.service() {
            Some(child) => child.signal(signal),
            None => Err(Error::Scenario(format!("{region} has no running service"))),
        }
    }

    /// Undoes every fault of `region`.
    pub async fn heal(&mut self, region: &str) -> Result<()> {
        let launch = self.service_launch.clone();
        let r = self.region_mut(region)?;
        r.probe_proxy.set_mode(Mode::Pass);
        r.db_proxy.set_mode(Mode::Pass);
        match r.service() {
            Some(child) if child.is_paused() => child.signal(ProcSignal::Cont),
            Some(_) => Ok(()),
            None => r.start_service(&launch, DATABASE).await,
        }
    }

    /// SIGKILLs the operator holding the Lease; returns its identity.
    pub async fn kill_operator_leader(&mut self) -> Result<String> {
        let leader = self
            .cluster
            .leader()
            .await?
            .ok_or_else(|| Error::Scenario("no operator holds the Lease".into()))?;
        let index = (0..self.operators.len())
            .find(|i| Topology::operator_identity(*i) == leader)
            .ok_or_else(|| Error::Scenario(format!("the Lease holder {leader} is not ours")))?;
        if let Some(child) = self.operators[index].take() {
            child.kill().await?;
        }
        Ok(leader)
    }
}
