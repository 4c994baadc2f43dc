//! The full benchmark: one PostgreSQL, datasets of growing size, the service as a separate
//! process, every scenario closed and open loop, pgbench on the same statements, the report.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::dataset::{self, DatasetInfo, DatasetSpec};
use crate::durability::{self, DurabilityRuns};
use crate::engine::{self, RunResult, Timing, Workload};
use crate::error::{Error, Result};
use crate::hot::{self, HotCheck, TxCounters};
use crate::pgbench::{self, PgbenchResult, PgbenchTarget};
use crate::scale_out::{self, ScalePoint};
use crate::scenario::{BalanceRead, Earn, Healthz, HoldCapture, Mix, Redeem};
use crate::service::ServiceProcess;

/// Connections of the service's database pool unless the plan says otherwise (the service's
/// default, which a test checks).
pub const SERVICE_POOL_SIZE: usize = 8;
/// Clients of the hot-member scenario.
pub const HOT_CLIENTS: usize = 64;
/// Ledger entries per dataset member.
pub const ENTRIES_PER_MEMBER: u32 = 10;

/// What to run and for how long.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    /// The service's database pool.
    pub pool_size: usize,
    /// Dataset sizes in members, ascending; the last one hosts every scenario.
    pub members: Vec<u64>,
    pub warmup_s: u64,
    pub closed_s: u64,
    pub open_s: u64,
    /// Open-loop windows per rate; the window with the median p99 is reported, so that one
    /// stall of the shared machine does not decide a rate's figure alone.
    pub open_windows: usize,
    pub concurrency: usize,
    pub open_connections: usize,
    pub read_rates: Vec<f64>,
    pub earn_rates: Vec<f64>,
    pub redeem_rates: Vec<f64>,
    pub hold_rates: Vec<f64>,
    pub mix_rates: Vec<f64>,
    /// Open-loop rates of the growth series (balance read, earn).
    pub growth_read_rps: f64,
    pub growth_earn_rps: f64,
    pub pgbench_s: u64,
    pub overdraft_funded: i64,
    pub overdraft_attempts: u64,
    /// Rate of the generator-ceiling open-loop run against `/healthz`.
    pub ceiling_rps: f64,
    /// Measured seconds of each closed-loop run of the durability and scale-out phases.
    pub phase_closed_s: u64,
    /// Client counts of the durability comparison (the higher one shows group commit).
    pub durability_clients: Vec<usize>,
    /// Service instance counts of the scale-out runs.
    pub scale_instances: Vec<usize>,
    /// Clients of the scale-out runs, shared by the instances.
    pub scale_clients: usize,
}

impl Plan {
    /// About 15–20 minutes on a 2-core machine.
    pub fn full() -> Self {
        Self {
            quick: false,
            pool_size: SERVICE_POOL_SIZE,
            members: vec![10_000, 100_000, 1_000_000],
            warmup_s: 3,
            closed_s: 15,
            open_s: 5,
            open_windows: 3,
            concurrency: 16,
            open_connections: 64,
            read_rates: vec![1_000.0, 2_500.0, 5_000.0, 7_500.0, 10_000.0],
            earn_rates: vec![250.0, 500.0, 1_000.0, 1_500.0],
            redeem_rates: vec![250.0, 500.0, 1_000.0],
            hold_rates: vec![100.0, 250.0, 500.0],
            mix_rates: vec![1_000.0, 2_500.0, 5_000.0],
            growth_read_rps: 1_000.0,
            growth_earn_rps: 250.0,
            pgbench_s: 15,
            overdraft_funded: 500,
            overdraft_attempts: 2_000,
            ceiling_rps: 20_000.0,
            phase_closed_s: 8,
            durability_clients: vec![16, 64],
            scale_instances: vec![1, 2, 4],
            scale_clients: 32,
        }
    }

    /// About a minute: tiny datasets, seconds per run.
    pub fn quick() -> Self {
        Self {
            quick: true,
            members: vec![1_000, 10_000],
            warmup_s: 1,
            closed_s: 3,
            open_s: 3,
            open_windows: 1,
            read_rates: vec![500.0, 2_000.0],
            earn_rates: vec![200.0, 500.0],
            redeem_rates: vec![200.0],
            hold_rates: vec![100.0],
            mix_rates: vec![1_000.0],
            growth_read_rps: 500.0,
            growth_earn_rps: 100.0,
            pgbench_s: 3,
            overdraft_funded: 100,
            overdraft_attempts: 300,
            ceiling_rps: 10_000.0,
            phase_closed_s: 2,
            ..Self::full()
        }
    }

    fn closed(&self) -> Timing {
        Timing {
            warmup: Duration::from_secs(self.warmup_s),
            measure: Duration::from_secs(self.closed_s),
        }
    }

    /// A closed-loop run of the durability and scale-out phases.
    pub fn phase_closed(&self) -> Timing {
        Timing {
            warmup: Duration::from_secs(self.warmup_s),
            measure: Duration::from_secs(self.phase_closed_s),
        }
    }

    fn open(&self) -> Timing {
        Timing {
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(self.open_s),
        }
    }
}

/// One size of the growth series.
#[derive(Debug, Clone, Serialize)]
pub struct GrowthPoint {
    pub ledger_entries: u64,
    pub members: u64,
    pub read: RunResult,
    pub earn: RunResult,
}

/// Memory of one service process.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceMemory {
    pub dataset_members: u64,
    pub peak_rss_kib: u64,
    /// Peak before the whole-database audit, which buffers one row per member: the figure
    /// for serving traffic alone.
    pub peak_rss_before_audit_kib: Option<u64>,
}

/// Everything one run measured; written to `docs/bench/results.json`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Results {
    pub plan: Option<Plan>,
    pub durability: String,
    /// PostgreSQL's `shared_buffers` in MiB.
    pub shared_buffers_mb: u64,
    pub datasets: Vec<DatasetInfo>,
    pub generator_ceiling: Vec<RunResult>,
    pub growth: Vec<GrowthPoint>,
    pub scenarios: Vec<RunResult>,
    pub hot_check: Option<HotCheck>,
    /// The service's transaction counters after the scenarios on the largest dataset.
    pub service_tx: Option<TxCounters>,
    pub pgbench: Vec<PgbenchResult>,
    pub service_memory: Vec<ServiceMemory>,
    /// The largest dataset's scenarios with fast and with durable commits.
    pub durability_runs: Vec<DurabilityRuns>,
    /// The hottest scenarios with 1, 2 and 4 service instances.
    pub scale_out: Vec<ScalePoint>,
}

/// The benchmark's options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub plan: Plan,
    pub durable: bool,
    pub service_bin: Option<PathBuf>,
    /// Where the PostgreSQL cluster lives; under the system temp dir when `None`.
    pub data_root: Option<PathBuf>,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[loyalty-bench] {}", msg.as_ref());
}

/// Closed loop, then open loop at each rate, for one scenario, against `targets` (one or
/// more instances of the service).
pub async fn run_scenario(
    targets: &[SocketAddr],
    name: &str,
    workload: Arc<dyn Workload>,
    concurrency: usize,
    rates: &[f64],
    plan: &Plan,
) -> Vec<RunResult> {
    let mut out = Vec::new();
    let r = engine::closed_loop(name, targets, workload.clone(), concurrency, plan.closed()).await;
    log(format!(
        "{name}: closed c={concurrency}: {:.0}/s p50 {} µs p99 {} µs errors {:?}",
        r.achieved_rps, r.latency.p50_us, r.latency.p99_us, r.errors
    ));
    out.push(r);
    for &rate in rates {
        let r = open_loop_windows(name, targets, workload.clone(), rate, plan).await;
        log(format!(
            "{name}: open {rate:.0}/s: {:.0}/s p50 {} µs p99 {} µs (windows {:?}) dropped {} errors {:?}",
            r.achieved_rps,
            r.latency.p50_us,
            r.latency.p99_us,
            r.window_p99s_us,
            r.dropped,
            r.errors
        ));
        out.push(r);
    }
    out
}

/// `plan.open_windows` open-loop windows at `rate`, one after the other; the window with the
/// median p99, carrying every window's p99.
pub async fn open_loop_windows(
    name: &str,
    targets: &[SocketAddr],
    workload: Arc<dyn Workload>,
    rate: f64,
    plan: &Plan,
) -> RunResult {
    let mut windows = Vec::with_capacity(plan.open_windows.max(1));
    for _ in 0..plan.open_windows.max(1) {
        windows.push(
            engine::open_loop(
                name,
                targets,
                workload.clone(),
                rate,
                plan.open_connections,
                plan.open(),
            )
            .await,
        );
    }
    let p99s: Vec<u64> = windows.iter().map(|w| w.latency.p99_us).collect();
    windows.sort_by_key(|w| w.latency.p99_us);
    let mut median = windows.swap_remove(windows.len() / 2);
    median.window_p99s_us = p99s;
    median
}

/// A scenario's name, workload, closed-loop concurrency and open-loop rates.
pub type ScenarioSet<'a> = (&'static str, Arc<dyn Workload>, usize, &'a [f64]);

/// Every scenario on a dataset of `members` members, in the order the report lists them.
pub fn scenario_sets(members: u64, plan: &Plan) -> Vec<ScenarioSet<'_>> {
    let c = plan.concurrency;
    vec![
        (
            "balance_read",
            Arc::new(BalanceRead { members }),
            c,
            &plan.read_rates,
        ),
        ("earn", Arc::new(Earn::new(members)), c, &plan.earn_rates),
        (
            "redeem",
            Arc::new(Redeem::random(members)),
            c,
            &plan.redeem_rates,
        ),
        (
            "hold_capture",
            Arc::new(HoldCapture::new(members)),
            c,
            &plan.hold_rates,
        ),
        (
            "hot_member",
            Arc::new(Redeem::hot(dataset::member_id(0))),
            HOT_CLIENTS,
            &[],
        ),
        ("mix_100_1", Arc::new(Mix::new(members)), c, &plan.mix_rates),
    ]
}

/// Every scenario against a service at `addr` whose database holds `members` dataset members.
pub async fn run_all_scenarios(addr: SocketAddr, members: u64, plan: &Plan) -> Vec<RunResult> {
    let mut out = Vec::new();
    for (name, workload, concurrency, rates) in scenario_sets(members, plan) {
        out.extend(run_scenario(&[addr], name, workload, concurrency, rates, plan).await);
    }
    out
}

async fn growth_point(addr: SocketAddr, members: u64, plan: &Plan) -> GrowthPoint {
    let read = open_loop_windows(
        "balance_read",
        &[addr],
        Arc::new(BalanceRead { members }),
        plan.growth_read_rps,
        plan,
    )
    .await;
    let earn = open_loop_windows(
        "earn",
        &[addr],
        Arc::new(Earn::new(members)),
        plan.growth_earn_rps,
        plan,
    )
    .await;
    log(format!(
        "growth {members} members: read p99 {} µs, earn p99 {} µs",
        read.latency.p99_us, earn.latency.p99_us
    ));
    GrowthPoint {
        ledger_entries: DatasetSpec {
            members,
            entries_per_member: ENTRIES_PER_MEMBER,
        }
        .entries(),
        members,
        read,
        earn,
    }
}

/// The generator's own ceiling: `/healthz` (no database work) closed and open loop.
pub async fn generator_ceiling(addr: SocketAddr, plan: &Plan) -> Vec<RunResult> {
    let closed = engine::closed_loop(
        "healthz",
        &[addr],
        Arc::new(Healthz),
        plan.concurrency,
        plan.closed(),
    )
    .await;
    let open = engine::open_loop(
        "healthz",
        &[addr],
        Arc::new(Healthz),
        plan.ceiling_rps,
        plan.open_connections,
        plan.open(),
    )
    .await;
    log(format!(
        "generator ceiling (/healthz): closed {:.0}/s p99 {} µs; open {:.0}/s offered, {:.0}/s achieved, p99 {} µs, send lag p99 {} µs",
        closed.achieved_rps,
        closed.latency.p99_us,
        plan.ceiling_rps,
        open.achieved_rps,
        open.latency.p99_us,
        open.send_lag.as_ref().map_or(0, |l| l.p99_us)
    ));
    vec![closed, open]
}

/// A quarter of the machine's memory (PostgreSQL's usual advice), at least 1 GiB and at
/// most 8 GiB. Data outside shared_buffers lives in the kernel's page cache, which this
/// kind of VM reclaims on its own even with most memory free (docs/perf-log.md): a read
/// that misses shared_buffers can then wait for the disk.
pub fn shared_buffers_mb() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(4 << 20);
    (total_kib / 1024 / 4).clamp(1024, 8192)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking task panicked")
}

/// Runs the whole benchmark.
pub async fn run(options: Options) -> Result<Results> {
    let plan = options.plan.clone();
    let binary = match options.service_bin.clone() {
        Some(path) => path,
        None => blocking(crate::service::build_release_binary).await?,
    };
    let root = options
        .data_root
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("loyalty-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    // Started with PostgreSQL's durable defaults and switched by ALTER SYSTEM, so that the
    // durability comparison can switch the same server both ways (launch settings could not
    // be overridden).
    let config = pgharness::PgConfig {
        data_dir: Some(root.join("data")),
        durability: pgharness::Durability::Durable,
        shared_buffers: shared_buffers_mb().to_string() + "MB",
        settings: vec![
            ("max_wal_size".into(), "8GB".into()),
            ("checkpoint_timeout".into(), "30min".into()),
            ("maintenance_work_mem".into(), "256MB".into()),
        ],
        ..pgharness::PgConfig::default()
    };
    let durability = durability::label(options.durable);
    log(format!(
        "starting PostgreSQL ({durability}) in {}",
        root.display()
    ));
    let server = Arc::new(blocking(move || pgharness::PgServer::start(config)).await?);
    durability::switch(&server.url("postgres"), options.durable).await?;
    let outcome = run_on(&server, &binary, &plan, options.durable).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
    outcome
}

async fn run_on(
    server: &Arc<pgharness::PgServer>,
    binary: &std::path::Path,
    plan: &Plan,
    durable: bool,
) -> Result<Results> {
    let mut results = Results {
        plan: Some(plan.clone()),
        durability: durability::label(durable).to_owned(),
        shared_buffers_mb: shared_buffers_mb(),
        ..Results::default()
    };
    let largest = *plan
        .members
        .last()
        .ok_or_else(|| Error::Other("no dataset sizes".into()))?;
    let mut previous: Option<String> = None;
    for &members in &plan.members {
        let spec = DatasetSpec {
            members,
            entries_per_member: ENTRIES_PER_MEMBER,
        };
        let name = format!("bench_{members}");
        {
            let (server, name) = (server.clone(), name.clone());
            blocking(move || server.create_database(&name, None)).await?;
        }
        let url = server.url(&name);
        log(format!(
            "building dataset: {members} members, {} ledger entries",
            spec.entries()
        ));
        let info = dataset::build(&url, spec).await?;
        log(format!(
            "built in {:.1} s ({:.0} rows/s, {} MiB), settled in {:.1} s",
            info.build_s,
            info.rows_per_s,
            info.database_bytes >> 20,
            info.settle_s
        ));
        results.datasets.push(info);
        if let Some(old) = previous.take() {
            // Only the largest dataset is kept; the others would only cost disk.
            let admin = dataset::connect(&server.url("postgres")).await?;
            admin.batch_execute(&format!("DROP DATABASE {old}")).await?;
        }
        let mut service = ServiceProcess::start(binary, &url, plan.pool_size).await?;
        if results.generator_ceiling.is_empty() {
            results.generator_ceiling = generator_ceiling(service.addr, plan).await;
        }
        results
            .growth
            .push(growth_point(service.addr, members, plan).await);
        let mut before_audit = None;
        if members == largest {
            results.scenarios = run_all_scenarios(service.addr, members, plan).await;
            results.service_tx = Some(hot::tx_counters(service.addr).await?);
            let mut check = hot::overdraft_check(
                service.addr,
                HOT_CLIENTS,
                plan.overdraft_funded,
                plan.overdraft_attempts,
            )
            .await?;
            before_audit = service.peak_rss_kib();
            log("auditing the whole database");
            check.audit = Some(hot::audit(service.addr).await?);
            log(format!("hot-member check: {check:?}"));
            results.hot_check = Some(check);
            let postmaster = crate::cpu::postmaster_pid(server.data_dir());
            results.scale_out =
                scale_out::run(binary, &url, &service, postmaster, members, plan).await?;
            results.durability_runs = durability::compare(
                &server.url("postgres"),
                service.addr,
                members,
                plan,
                durable,
            )
            .await?;
        }
        results.service_memory.push(ServiceMemory {
            dataset_members: members,
            peak_rss_kib: service.peak_rss_kib().unwrap_or(0),
            peak_rss_before_audit_kib: before_audit,
        });
        service.stop();
        previous = Some(name);
    }
    // pgbench last: its rows carry placeholder hashes, which the audit would report.
    let name = previous.expect("at least one dataset");
    let target = PgbenchTarget {
        bin_dir: server.bin_dir(),
        host: server.host(),
        port: server.port(),
        database: &name,
        spec: DatasetSpec {
            members: largest,
            entries_per_member: ENTRIES_PER_MEMBER,
        },
    };
    for (scenario, _) in pgbench::SCRIPTS.iter().chain(pgbench::BASELINES) {
        let clients = if *scenario == "hot_member" {
            HOT_CLIENTS
        } else {
            plan.concurrency
        };
        let r = pgbench::run(
            &target,
            scenario,
            clients,
            Duration::from_secs(plan.pgbench_s),
        )?;
        log(format!(
            "pgbench {scenario} c={clients}: {:.0} tps p50 {} µs p99 {} µs failed {} retried {}",
            r.tps, r.latency.p50_us, r.latency.p99_us, r.failed, r.retried
        ));
        results.pgbench.push(r);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_pool_is_the_service_default() {
        let service = loyalty_service::config::Config::default();
        assert_eq!(SERVICE_POOL_SIZE, service.database.pool_size);
        assert_eq!(Plan::full().pool_size, SERVICE_POOL_SIZE);
    }
}
