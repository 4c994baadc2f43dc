//! Scale-out: the same closed-loop scenarios against 1, 2 and 4 instances of the service
//! sharing one database, the generator's connections spread over them round robin, with the
//! share of the machine's CPU that PostgreSQL, the instances and the generator used. On a
//! machine with a few cores the instances compete with the database for the same cores, so
//! these figures say where the CPU goes more than how far the service scales.

use std::net::SocketAddr;
use std::path::Path;

use serde::Serialize;

use crate::cpu::{self, CpuShares};
use crate::driver::{Plan, scenario_sets};
use crate::engine::{self, RunResult};
use crate::error::Result;
use crate::service::ServiceProcess;

/// The scenarios of the scale-out runs: the hottest read and the hottest write.
pub const SCENARIOS: [&str; 2] = ["balance_read", "earn"];

/// One scenario at one instance count.
#[derive(Debug, Clone, Serialize)]
pub struct ScalePoint {
    pub instances: usize,
    pub run: RunResult,
    pub cpu: CpuShares,
}

/// Runs [`SCENARIOS`] with each of `plan.scale_instances` instances: `first` (already
/// running) and as many more as needed, started from `binary` against `database_url`.
pub async fn run(
    binary: &Path,
    database_url: &str,
    first: &ServiceProcess,
    postmaster: Option<u32>,
    members: u64,
    plan: &Plan,
) -> Result<Vec<ScalePoint>> {
    let mut more: Vec<ServiceProcess> = Vec::new();
    let mut out = Vec::new();
    for &instances in &plan.scale_instances {
        while 1 + more.len() < instances {
            more.push(ServiceProcess::start(binary, database_url, plan.pool_size).await?);
        }
        let running = std::iter::once(first).chain(&more).take(instances);
        let (addrs, pids): (Vec<SocketAddr>, Vec<u32>) = running.map(|s| (s.addr, s.pid())).unzip();
        let sets = scenario_sets(members, plan);
        for (name, workload, _, _) in sets.into_iter().filter(|s| SCENARIOS.contains(&s.0)) {
            let before = cpu::sample(postmaster, &pids);
            let run = engine::closed_loop(
                name,
                &addrs,
                workload,
                plan.scale_clients,
                plan.phase_closed(),
            )
            .await;
            let cpu = cpu::shares(&before, &cpu::sample(postmaster, &pids));
            eprintln!(
                "[loyalty-bench] scale-out {instances} instance(s) {name}: {:.0}/s p99 {} µs, CPU database {:.0}% services {:.0}% generator {:.0}%",
                run.achieved_rps,
                run.latency.p99_us,
                cpu.database * 100.0,
                cpu.services * 100.0,
                cpu.generator * 100.0
            );
            out.push(ScalePoint {
                instances,
                run,
                cpu,
            });
        }
    }
    Ok(out)
}
