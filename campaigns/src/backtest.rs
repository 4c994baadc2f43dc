//! `backtest`: re-price the earns recorded in a period under a proposed campaign set and
//! compare with what was granted.
//!
//! Read-only and consistent: one `READ ONLY` `REPEATABLE READ` transaction, so every row comes
//! from one snapshot. Bounded memory: rows are fetched from a portal in batches and folded
//! into running totals ([`tally::Tally`]); only per-day totals, per-campaign totals, the
//! top-K changes and the cap counters are kept.

mod plot;
mod report;
mod source;
mod tally;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Duration, Utc};
use clap::Args;

use crate::campaign_set;
use crate::pricing::Pricer;

pub use tally::Tally;

/// `backtest`'s options.
#[derive(Debug, Clone, Args)]
pub struct Options {
    /// The proposed campaign set: files or folders (they must lint clean).
    #[arg(long, required = true, num_args = 1..)]
    pub campaigns: Vec<PathBuf>,
    /// How far back: `30d`, `12h`.
    #[arg(long, default_value = "30d", value_parser = parse_since)]
    pub since: Duration,
    /// The database, `postgres://…` (with `sslmode`, `sslrootcert` as the service takes them).
    #[arg(long, env = "DATABASE_URL")]
    pub database: String,
    /// What one point costs the programme, in millionths of a euro (10000 = 0.01 EUR).
    #[arg(long, default_value_t = 10_000)]
    pub point_value_micro_eur: i64,
    /// How many of the biggest changes the report lists.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Where the Markdown report goes (the SVG plot is written beside it); stdout if absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The channel assumed for recorded earns (the earn record does not keep it).
    #[arg(long, default_value = "web")]
    pub channel: String,
    /// The namespace of campaigns that name none.
    #[arg(long, default_value = "default")]
    pub namespace: String,
}

/// `30d` or `12h` as a duration.
fn parse_since(raw: &str) -> Result<Duration, String> {
    let (number, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{raw:?}: expected a number of days or hours, e.g. 30d or 12h"))?;
    match unit {
        "d" if n > 0 => Ok(Duration::days(n)),
        "h" if n > 0 => Ok(Duration::hours(n)),
        _ => Err(format!(
            "{raw:?}: expected a positive number of days or hours, e.g. 30d or 12h"
        )),
    }
}

/// Runs the backtest and writes its report.
pub fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let until = Utc::now();
    let from = until - options.since;
    let channel = serde_json::from_value(serde_json::Value::String(options.channel.clone()))
        .map_err(|_| {
            anyhow!(
                "--channel {:?}: one of web, app, call-center, partner",
                options.channel
            )
        })?;
    let mut pricer = Pricer::new(campaign_set::load(&options.campaigns, &options.namespace)?);
    let mut tally = Tally::new(options.top);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(source::each_earn(&options.database, from, until, |earn| {
        tally.add(&earn, earn.reprice(&mut pricer, channel));
    }))?;
    let svg_path = options.out.as_ref().map(|p| p.with_extension("svg"));
    let context = report::Context {
        from,
        until,
        point_value_micro_eur: options.point_value_micro_eur,
        campaigns: &pricer.programme.campaigns,
        budgets: pricer.caps.budgets(),
        svg: svg_path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
        elapsed_s: started.elapsed().as_secs_f64(),
        peak_rss_kib: peak_rss_kib(),
    };
    let markdown = report::markdown(&tally, &context);
    match (&options.out, &svg_path) {
        (Some(out), Some(svg)) => {
            std::fs::write(out, markdown).with_context(|| format!("{}", out.display()))?;
            std::fs::write(svg, plot::daily_svg(&tally))
                .with_context(|| format!("{}", svg.display()))?;
        }
        _ => print!("{markdown}"),
    }
    if tally.earns == 0 && tally.skipped > 0 {
        bail!(
            "none of the {} earns of the period could be re-priced",
            tally.skipped
        );
    }
    Ok(())
}

/// The process's peak resident set (`VmHWM`), in KiB, where /proc tells it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// When a recorded earn happened, for the daily plot.
pub type At = DateTime<Utc>;
