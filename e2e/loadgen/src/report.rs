//! `docs/benchmarks.md`, `docs/bench/results.json` and `docs/bench/latency.svg`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::driver::Results;
use crate::engine::RunResult;
use crate::error::Result;

mod phases;

/// Service peak RSS target.
pub const RSS_TARGET_MIB: f64 = 100.0;

/// The machine the run happened on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub date: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    pub kernel: String,
    pub load_average_at_start: String,
}

impl Machine {
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown".into(), |(_, v)| v.trim().to_owned());
        let memory_mib = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024);
        Self {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            memory_mib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_average_at_start: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// One target of issue 5, with what the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub name: String,
    pub target: String,
    pub measured: String,
    pub met: bool,
}

fn closed<'a>(r: &'a Results, scenario: &str) -> Option<&'a RunResult> {
    r.scenarios
        .iter()
        .find(|x| x.scenario == scenario && x.mode == "closed")
}

/// The open-loop run of `scenario` at `rate`, or at the highest rate below it.
fn open_at<'a>(r: &'a Results, scenario: &str, rate: f64) -> Option<&'a RunResult> {
    r.scenarios
        .iter()
        .filter(|x| x.scenario == scenario && x.mode == "open")
        .filter(|x| x.offered_rps.is_some_and(|o| o <= rate))
        .max_by(|a, b| {
            a.offered_rps
                .unwrap_or(0.0)
                .total_cmp(&b.offered_rps.unwrap_or(0.0))
        })
}

fn pgbench_tps(r: &Results, scenario: &str) -> Option<f64> {
    r.pgbench
        .iter()
        .find(|p| p.scenario == scenario)
        .map(|p| p.tps)
}

/// The p99 bound of the highest sustained balance-read rate the report names.
pub const SUSTAINED_P99_MS: u64 = 10;

/// The highest offered rate of `scenario`'s open-loop runs that was served in full with p99
/// under `p99_ms`, and that p99.
fn highest_rate_within(r: &Results, scenario: &str, p99_ms: u64) -> Option<(f64, u64)> {
    r.scenarios
        .iter()
        .filter(|x| x.scenario == scenario && x.mode == "open")
        .filter(|x| x.dropped == 0 && x.latency.p99_us < p99_ms * 1000)
        .filter_map(|x| Some((x.offered_rps?, x.latency.p99_us)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// Service throughput over the raw limit's (`<scenario>_raw`), for a scenario.
pub fn raw_ratio(r: &Results, scenario: &str) -> Option<f64> {
    let baseline = crate::pgbench::baseline_of(scenario)?;
    Some(closed(r, scenario)?.achieved_rps / pgbench_tps(r, baseline)?)
}

/// Service throughput over pgbench's, for a scenario.
pub fn ratio(r: &Results, scenario: &str) -> Option<f64> {
    Some(closed(r, scenario)?.achieved_rps / pgbench_tps(r, scenario)?)
}

fn percent(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{:.0}%", x * 100.0))
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// Evaluates every target of the issue.
pub fn targets(r: &Results) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    let mut push = |name: &str, target: &str, measured: String, met: bool| {
        out.push(TargetCheck {
            name: name.into(),
            target: target.into(),
            measured,
            met,
        });
    };
    let ratios = [
        (
            "earn throughput vs pgbench, same statements",
            ratio(r, "earn"),
            0.6,
        ),
        (
            "balance_read throughput vs pgbench, same statement",
            ratio(r, "balance_read"),
            0.6,
        ),
        (
            "earn throughput vs the raw earn limit",
            raw_ratio(r, "earn"),
            0.4,
        ),
    ];
    for (name, x, min) in ratios {
        match x {
            Some(x) => push(
                name,
                &format!(">= {:.0}%", min * 100.0),
                format!("{:.0}%", x * 100.0),
                x >= min,
            ),
            None => push(name, "measured", "missing".into(), false),
        }
    }
    for (scenario, rate, p99_ms) in [("balance_read", 5_000.0, 2.0), ("earn", 1_000.0, 30.0)] {
        match open_at(r, scenario, rate) {
            Some(run) => {
                let offered = run.offered_rps.unwrap_or(0.0);
                let met = (run.latency.p99_us as f64) < p99_ms * 1000.0
                    && run.dropped == 0
                    && offered >= rate;
                push(
                    &format!("{scenario} p99 at {rate:.0}/s open loop"),
                    &format!("< {p99_ms} ms"),
                    format!(
                        "{} ms at {offered:.0}/s offered, {:.0}/s achieved, {} dropped (median of windows: {} ms)",
                        ms(run.latency.p99_us),
                        run.achieved_rps,
                        run.dropped,
                        windows(run)
                    ),
                    met,
                );
            }
            None => push(
                &format!("{scenario} p99 at {rate:.0}/s"),
                "measured",
                "missing".into(),
                false,
            ),
        }
    }
    let sustained = highest_rate_within(r, "balance_read", SUSTAINED_P99_MS);
    push(
        &format!("highest balance_read rate with p99 < {SUSTAINED_P99_MS} ms, none dropped"),
        "reported",
        sustained.map_or("none of the offered rates".into(), |(rate, p99)| {
            format!("{rate:.0}/s (p99 {} ms)", ms(p99))
        }),
        sustained.is_some(),
    );
    let hot_5xx = closed(r, "hot_member").map_or(0, RunResult::server_errors);
    match &r.hot_check {
        Some(h) => push(
            "hot member: no overdraft, no 5xx, audit clean",
            "all hold",
            format!(
                "{} of {} redemptions succeeded on {} points, final balance {}, 5xx {} (+{} in the throughput run), audit mismatches {}",
                h.succeeded,
                h.attempts,
                h.funded,
                h.final_available,
                h.server_errors,
                hot_5xx,
                h.audit
                    .as_ref()
                    .map_or("not run".into(), |a| a.mismatch_count.to_string())
            ),
            h.passed() && hot_5xx == 0,
        ),
        None => push("hot member", "all hold", "missing".into(), false),
    }
    if let (Some(first), Some(last)) = (r.growth.first(), r.growth.last()) {
        for (what, a, b) in [
            ("balance read", &first.read, &last.read),
            ("earn", &first.earn, &last.earn),
        ] {
            let x = b.latency.p99_us as f64 / a.latency.p99_us.max(1) as f64;
            push(
                &format!(
                    "growth: {what} p99 at {} vs {} entries",
                    last.ledger_entries, first.ledger_entries
                ),
                "<= 1.5x",
                format!(
                    "{:.2}x ({} ms vs {} ms)",
                    x,
                    ms(b.latency.p99_us),
                    ms(a.latency.p99_us)
                ),
                x <= 1.5,
            );
        }
    }
    // Serving traffic is what the target is about; the audit's own peak is reported apart.
    let peak = r
        .service_memory
        .iter()
        .map(|m| m.peak_rss_before_audit_kib.unwrap_or(m.peak_rss_kib))
        .max()
        .unwrap_or(0) as f64
        / 1024.0;
    push(
        "service peak RSS",
        &format!("< {RSS_TARGET_MIB} MiB"),
        format!("{peak:.1} MiB"),
        peak > 0.0 && peak < RSS_TARGET_MIB,
    );
    out
}

fn errors(run: &RunResult) -> String {
    if run.errors.is_empty() {
        return "none".into();
    }
    run.errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Markdown report.
pub fn markdown(r: &Results, machine: &Machine, command: &str) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `loyalty-bench` (e2e/loadgen); do not edit by hand. Raw figures: \
         [bench/results.json](bench/results.json); plot: [bench/latency.svg](bench/latency.svg).\n"
    );
    let _ = writeln!(w, "| | |\n| --- | --- |");
    let _ = writeln!(w, "| date | {} |", machine.date);
    let _ = writeln!(w, "| command | `{command}` |");
    let _ = writeln!(
        w,
        "| machine | {} × {}, {} MiB RAM, Linux {} |",
        machine.cpus, machine.cpu_model, machine.memory_mib, machine.kernel
    );
    let _ = writeln!(
        w,
        "| load average at start | {} |",
        machine.load_average_at_start
    );
    let _ = writeln!(
        w,
        "| PostgreSQL | pgharness, 15, durability `{}`, shared_buffers {} MiB, same server for the service and pgbench |",
        r.durability, r.shared_buffers_mb
    );
    let _ = writeln!(
        w,
        "| service | release binary, separate process, pool {} connections, RUST_LOG=warn |\n",
        r.plan
            .as_ref()
            .map_or(crate::driver::SERVICE_POOL_SIZE, |p| p.pool_size)
    );

    let _ = writeln!(
        w,
        "## Targets (issues 5 and 15)\n\n| target | goal | measured | met |\n| --- | --- | --- | --- |"
    );
    for t in targets(r) {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} |",
            t.name,
            t.target,
            t.measured,
            if t.met { "yes" } else { "**no**" }
        );
    }

    let _ = writeln!(
        w,
        "\n## Closed loop: throughput against pgbench\n\nService: HTTP clients back to back, each on its own keep-alive connection. \
         pgbench: `-M prepared`, the same statements (service/src/store/pgbench/), the same client count, after the service runs. \
         Raw limit: pgbench running the least such an operation must cost the database (e2e/loadgen/pgbench/: a primary-key read of a \
         balances row; a ledger row appended and the balance moved in one SERIALIZABLE transaction), at the same client count.\n"
    );
    let _ = writeln!(
        w,
        "| scenario | clients | service ops/s | p50 ms | p99 ms | p99.9 ms | max ms | non-2xx / errors | pgbench tps | pgbench p50 ms | pgbench p99 ms | service / pgbench | raw limit tps | service / raw |"
    );
    let _ = writeln!(
        w,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for run in r.scenarios.iter().filter(|x| x.mode == "closed") {
        let pg = r.pgbench.iter().find(|p| p.scenario == run.scenario);
        let _ = writeln!(
            w,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.scenario,
            run.concurrency,
            run.achieved_rps,
            ms(run.latency.p50_us),
            ms(run.latency.p99_us),
            ms(run.latency.p999_us),
            ms(run.latency.max_us),
            errors(run),
            pg.map_or("–".into(), |p| format!("{:.0}", p.tps)),
            pg.map_or("–".into(), |p| ms(p.latency.p50_us)),
            pg.map_or("–".into(), |p| ms(p.latency.p99_us)),
            percent(ratio(r, &run.scenario)),
            crate::pgbench::baseline_of(&run.scenario)
                .and_then(|b| pgbench_tps(r, b))
                .map_or("–".into(), |tps| format!("{tps:.0}")),
            percent(raw_ratio(r, &run.scenario)),
        );
    }

    let _ = writeln!(
        w,
        "\n## Open loop: latency at a fixed rate\n\nLatency counts from each request's intended send time (no coordinated omission). \
         `dropped`: sends skipped because all {} connections were busy and as many were queued (the service could not keep up); \
         `late`: sends the scheduler issued more than 1 ms after their time.\n",
        r.plan.as_ref().map_or(0, |p| p.open_connections)
    );
    let _ = writeln!(
        w,
        "| scenario | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | p99 of each window ms | p99.9 ms | max ms | dropped | late | non-2xx / errors |"
    );
    let _ = writeln!(
        w,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for run in r.scenarios.iter().filter(|x| x.mode == "open") {
        let _ = writeln!(
            w,
            "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.scenario,
            run.offered_rps.unwrap_or(0.0),
            run.achieved_rps,
            ms(run.latency.p50_us),
            ms(run.latency.p90_us),
            ms(run.latency.p99_us),
            windows(run),
            ms(run.latency.p999_us),
            ms(run.latency.max_us),
            run.dropped,
            run.late_sends,
            errors(run),
        );
    }
    let _ = writeln!(w, "\n![latency against offered rate](bench/latency.svg)\n");

    let _ = writeln!(
        w,
        "## Growth series\n\nOpen loop on each dataset size, same service binary and settings.\n"
    );
    let _ = writeln!(
        w,
        "| ledger entries | members | read offered/s | read p50 ms | read p99 ms (each window) | earn offered/s | earn p50 ms | earn p99 ms (each window) |"
    );
    let _ = writeln!(w, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    for g in &r.growth {
        let _ = writeln!(
            w,
            "| {} | {} | {:.0} | {} | {} ({}) | {:.0} | {} | {} ({}) |",
            g.ledger_entries,
            g.members,
            g.read.offered_rps.unwrap_or(0.0),
            ms(g.read.latency.p50_us),
            ms(g.read.latency.p99_us),
            windows(&g.read),
            g.earn.offered_rps.unwrap_or(0.0),
            ms(g.earn.latency.p50_us),
            ms(g.earn.latency.p99_us),
            windows(&g.earn),
        );
    }

    md.push_str(&phases::durability_section(r));
    md.push_str(&phases::scale_out_section(r));
    let w = &mut md;
    let _ = writeln!(
        w,
        "\n## Datasets\n\n| members | ledger entries | lots | build s | rows/s | vacuum + checkpoint + sync + prewarm s | prewarmed MiB | database MiB |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for d in &r.datasets {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {:.1} | {:.0} | {:.1} | {} | {} |",
            d.spec.members,
            d.ledger_entries,
            d.lots,
            d.build_s,
            d.rows_per_s,
            d.settle_s,
            d.prewarmed_mib,
            d.database_bytes >> 20
        );
    }

    let _ = writeln!(
        w,
        "\n## The generator's own ceiling\n\n`GET /healthz` (no database work) on the same machine: the most the generator plus the service's HTTP stack can do.\n"
    );
    let _ = writeln!(
        w,
        "| mode | offered/s | achieved/s | p50 ms | p99 ms | scheduler lag p99 ms | dropped |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for run in &r.generator_ceiling {
        let _ = writeln!(
            w,
            "| {} c={} | {} | {:.0} | {} | {} | {} | {} |",
            run.mode,
            run.concurrency,
            run.offered_rps.map_or("–".into(), |o| format!("{o:.0}")),
            run.achieved_rps,
            ms(run.latency.p50_us),
            ms(run.latency.p99_us),
            run.send_lag.as_ref().map_or("–".into(), |l| ms(l.p99_us)),
            run.dropped,
        );
    }

    let _ = writeln!(
        w,
        "\n## Service memory\n\n| dataset members | peak RSS (VmHWM) MiB | before the audit MiB |\n| --- | --- | --- |"
    );
    for m in &r.service_memory {
        let _ = writeln!(
            w,
            "| {} | {:.1} | {} |",
            m.dataset_members,
            m.peak_rss_kib as f64 / 1024.0,
            m.peak_rss_before_audit_kib
                .map_or("–".into(), |k| format!("{:.1}", k as f64 / 1024.0))
        );
    }
    if let Some(t) = &r.service_tx {
        let _ = writeln!(
            w,
            "\n## Serialization retries\n\nAfter the scenarios the service had committed {} transactions and re-run {} \
             ({:.2} per commit): by SQLSTATE {:?}. Outcomes: {:?}.",
            t.committed(),
            t.retried(),
            t.retried() as f64 / t.committed().max(1) as f64,
            t.retries,
            t.outcomes
        );
    }
    if let Some(h) = &r.hot_check {
        let _ = writeln!(
            w,
            "\n## Hot member\n\n{} clients raced {} one-point redemptions against one member holding {} points: statuses {:?}, \
             final balance {}, overdraft-free: {}. Audit of the whole database: {}.",
            h.clients,
            h.attempts,
            h.funded,
            h.statuses,
            h.final_available,
            h.no_overdraft,
            h.audit.as_ref().map_or("not run".into(), |a| format!(
                "{} mismatches over {} members and {} entries in {:.1} s",
                a.mismatch_count, a.members_checked, a.entries_checked, a.duration_s
            ))
        );
    }
    let _ = writeln!(w, "\n## Method\n\n{}", METHOD);
    md
}

/// Every window's p99 of an open-loop result, in the order they ran.
fn windows(run: &RunResult) -> String {
    if run.window_p99s_us.is_empty() {
        return "–".into();
    }
    run.window_p99s_us
        .iter()
        .map(|&p| ms(p))
        .collect::<Vec<_>>()
        .join(" · ")
}

const METHOD: &str = "\
- The dataset builder (`e2e/loadgen/src/dataset.rs`) loads members, balances, ledger entries, lots and earns with `COPY` \
  (ledger, lots and earns with `FREEZE`), 10 entries per member (earns, every fourth a redemption), valid hash chains, \
  balances equal to ledger sums and lots equal to `available`; the audit at the end of the run checks all of it. \
  Before anything is measured on a dataset it is vacuumed and analysed, checkpointed, and the files are synced to disk, \
  so that the run measures a settled database rather than the kernel writing back gigabytes of freshly loaded pages; \
  then every index and the members, balances, lots and regions tables are read into shared_buffers (`pg_prewarm`), \
  as on a database that has been serving for a while. shared_buffers is a quarter of the machine's memory: this VM's \
  kernel reclaims idle page cache on its own (a DAMON daemon runs), so data outside shared_buffers may be read from disk.
- The service sends each write transaction in as few round trips as its data dependencies allow (ADR 0009): an earn \
  in two. The pgbench scripts send the same statements with the same pipelining (`\\startpipeline`), except that \
  pgbench cannot pipeline a statement whose result it needs (`\\gset`), so it makes one more round trip per transaction \
  than the service (earn: three against two).
- The write scripts also carry one extra \"bench helper\" query per transaction: pgbench variables cannot hold a uuid \
  computed locally. Both make pgbench's figure an underestimate of the raw limit (the ratios an overestimate). The read \
  script computes the member id inside its statement instead, for a random member every transaction as the generator \
  picks them (until 2026-12-02 it kept one member for 32 transactions on average, which read hot pages). pgbench \
  cannot bind NULL either, so NULL parameters are sent as values of the same type. Scripts retry serialization \
  failures (`--max-tries=16`) without backoff; the service backs off with jitter and queues requests for one member in \
  process, which is why it can beat pgbench on contended scripts.
- Durability `Fast` means `fsync=off, synchronous_commit=off, full_page_writes=off` for the service and pgbench alike \
  (set by `ALTER SYSTEM` on a server started with PostgreSQL's defaults): the headline tables measure CPU and round trips, \
  not this VM's disk (fdatasync ≈ 2.3 ms here). The \"Durable commits\" section repeats the closed-loop scenarios and the \
  earn open loop with the defaults on the same server and service process; `--durable` runs everything with them.
- The raw limits (e2e/loadgen/pgbench/) compute the member id inside the statement, so they make no helper round trip: \
  they are the honest ceiling the service's read and earn are compared with.
- Each open-loop rate runs as several back-to-back windows (3 of 5 s in the full run) and the window with the median \
  p99 is reported, with every window's p99 beside it: on a shared machine one host stall can own a window's p99.
- The machine has 2 cores shared by PostgreSQL, the service, the generator and whatever else runs; the load average \
  above says how quiet it was. Figures from a busy machine understate the service.";

/// Writes the Markdown report to `out`, and `bench/results.json` and `bench/latency.svg`
/// next to it.
pub fn write(r: &Results, machine: &Machine, command: &str, out: &Path) -> Result<()> {
    let dir = out.parent().unwrap_or(Path::new(".")).join("bench");
    std::fs::create_dir_all(&dir)?;
    #[derive(Serialize)]
    struct Doc<'a> {
        machine: &'a Machine,
        command: &'a str,
        targets: Vec<TargetCheck>,
        results: &'a Results,
    }
    let doc = Doc {
        machine,
        command,
        targets: targets(r),
        results: r,
    };
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    std::fs::write(
        dir.join("latency.svg"),
        crate::plot::latency_svg(&r.scenarios),
    )?;
    let mut text = markdown(r, machine, command);
    let existing = std::fs::read_to_string(out).unwrap_or_default();
    let kept = kept_sections(&existing);
    if !kept.is_empty() {
        text.push('\n');
        text.push_str(kept);
    }
    std::fs::write(out, text)?;
    Ok(())
}

/// The line after which a report keeps what it held before: sections measured by other
/// commands (the campaign backtest), which a new run must not wipe.
const KEPT_MARKER: &str =
    "<!-- Sections below are measured by other commands; loyalty-bench keeps them. -->";

/// Everything from [`KEPT_MARKER`] on in an earlier report, or nothing.
fn kept_sections(existing: &str) -> &str {
    existing.find(KEPT_MARKER).map_or("", |at| &existing[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_report_keeps_the_sections_after_the_marker_and_nothing_else() {
        let earlier = format!("# old figures\n\n{KEPT_MARKER}\n\n## Backtest\n\n24.6 s\n");
        assert_eq!(
            kept_sections(&earlier),
            format!("{KEPT_MARKER}\n\n## Backtest\n\n24.6 s\n")
        );
        assert_eq!(kept_sections("# old figures only\n"), "");
    }
}
