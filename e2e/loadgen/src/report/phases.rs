//! The report's sections for the durability comparison and the scale-out runs.

use std::fmt::Write as _;

use super::{errors, ms, percent};
use crate::driver::Results;
use crate::durability::DurabilityRuns;
use crate::engine::RunResult;

fn run_of<'a>(
    set: Option<&'a DurabilityRuns>,
    scenario: &str,
    mode: &str,
    key: f64,
) -> Option<&'a RunResult> {
    set?.runs.iter().find(|x| {
        x.scenario == scenario
            && x.mode == mode
            && if mode == "closed" {
                x.concurrency as f64 == key
            } else {
                x.offered_rps == Some(key)
            }
    })
}

fn rate_and_p99(run: Option<&RunResult>) -> String {
    run.map_or("– | –".into(), |x| {
        format!("{:.0} | {}", x.achieved_rps, ms(x.latency.p99_us))
    })
}

/// Closed loop at each client count and the earn open loop, fast beside durable.
pub fn durability_section(r: &Results) -> String {
    let mut md = String::new();
    if r.durability_runs.is_empty() {
        return md;
    }
    let fast = r.durability_runs.iter().find(|d| d.durability == "Fast");
    let durable = r.durability_runs.iter().find(|d| d.durability == "Durable");
    let w = &mut md;
    let _ = writeln!(
        w,
        "\n## Durable commits\n\nThe largest dataset, the same server and service process, switched between `Fast` and PostgreSQL's \
         defaults (`fsync`, `synchronous_commit`, `full_page_writes` on) by `ALTER SYSTEM` and a reload. Closed loop:\n"
    );
    let _ = writeln!(
        w,
        "| scenario | clients | Fast ops/s | Fast p99 ms | Durable ops/s | Durable p99 ms | durable / fast | Durable non-2xx / errors |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let closed = fast
        .into_iter()
        .flat_map(|f| f.runs.iter())
        .filter(|x| x.mode == "closed");
    for f in closed {
        let d = run_of(durable, &f.scenario, "closed", f.concurrency as f64);
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            f.scenario,
            f.concurrency,
            rate_and_p99(Some(f)),
            rate_and_p99(d),
            percent(d.map(|d| d.achieved_rps / f.achieved_rps.max(1e-9))),
            d.map_or("–".into(), errors),
        );
    }
    let _ = writeln!(
        w,
        "\nEarn, open loop (window with the median p99):\n\n\
         | offered/s | Fast achieved/s | Fast p99 ms | Durable achieved/s | Durable p99 ms | Durable dropped |\n\
         | --- | --- | --- | --- | --- | --- |"
    );
    let open = fast
        .into_iter()
        .flat_map(|f| f.runs.iter())
        .filter(|x| x.mode == "open");
    for f in open {
        let offered = f.offered_rps.unwrap_or(0.0);
        let d = run_of(durable, &f.scenario, "open", offered);
        let _ = writeln!(
            w,
            "| {offered:.0} | {} | {} | {} |",
            rate_and_p99(Some(f)),
            rate_and_p99(d),
            d.map_or("–".into(), |d| d.dropped.to_string()),
        );
    }
    md
}

/// Each scale-out point with its throughput against one instance's and the CPU shares.
pub fn scale_out_section(r: &Results) -> String {
    let mut md = String::new();
    if r.scale_out.is_empty() {
        return md;
    }
    let w = &mut md;
    let _ = writeln!(
        w,
        "\n## Scale-out\n\nThe same database, 1, 2 and 4 service instances (separate processes, pool {} each), the generator's \
         connections spread over them round robin. CPU: share of the whole machine ({} cores) used over the run by PostgreSQL \
         (postmaster and backends), the service instances and the generator.\n",
        r.plan
            .as_ref()
            .map_or(crate::driver::SERVICE_POOL_SIZE, |p| p.pool_size),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        w,
        "| scenario | instances | clients | ops/s | p50 ms | p99 ms | vs 1 instance | CPU PostgreSQL | CPU services | CPU generator | non-2xx / errors |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for p in &r.scale_out {
        let one = r
            .scale_out
            .iter()
            .find(|x| x.instances == 1 && x.run.scenario == p.run.scenario);
        let _ = writeln!(
            w,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {} |",
            p.run.scenario,
            p.instances,
            p.run.concurrency,
            p.run.achieved_rps,
            ms(p.run.latency.p50_us),
            ms(p.run.latency.p99_us),
            percent(one.map(|o| p.run.achieved_rps / o.run.achieved_rps.max(1e-9))),
            p.cpu.database * 100.0,
            p.cpu.services * 100.0,
            p.cpu.generator * 100.0,
            errors(&p.run),
        );
    }
    md
}
