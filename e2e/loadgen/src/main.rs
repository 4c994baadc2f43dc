//! `loyalty-bench`: runs the whole benchmark and writes docs/benchmarks.md.

use std::path::PathBuf;

use clap::Parser;
use loyalty_loadgen::driver::{self, Options, Plan};
use loyalty_loadgen::report::{self, Machine};

#[derive(Parser)]
#[command(about = "Benchmark the loyalty service against pgbench on the same PostgreSQL")]
struct Cli {
    /// A one-minute run on tiny datasets (checks the instrument, not the service).
    #[arg(long)]
    quick: bool,
    /// Run PostgreSQL with fsync and synchronous commit on.
    #[arg(long)]
    durable: bool,
    /// The Markdown report; results.json and latency.svg go to `bench/` beside it.
    #[arg(long, default_value = "docs/benchmarks.md")]
    out: PathBuf,
    /// A prebuilt `loyalty-service` binary (default: build it in release mode).
    #[arg(long)]
    service_bin: Option<PathBuf>,
    /// Where the PostgreSQL cluster goes (default: the system temp dir; the full run needs ~10 GB).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The service's database pool (default: the service's default).
    #[arg(long)]
    pool_size: Option<usize>,
    /// Open-loop balance-read rates instead of the plan's, e.g. `5000,7500`.
    #[arg(long, value_delimiter = ',')]
    read_rates: Option<Vec<f64>>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let machine = Machine::detect();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut plan = if cli.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(pool_size) = cli.pool_size {
        plan.pool_size = pool_size;
    }
    if let Some(rates) = cli.read_rates {
        plan.read_rates = rates;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(driver::run(Options {
        plan,
        durable: cli.durable,
        service_bin: cli.service_bin,
        data_root: cli.data_dir,
    }))?;
    report::write(&results, &machine, &command, &cli.out)?;
    for t in report::targets(&results) {
        eprintln!(
            "{} {}: {} (goal {})",
            if t.met { "MET " } else { "MISS" },
            t.name,
            t.measured,
            t.target
        );
    }
    eprintln!("wrote {}", cli.out.display());
    Ok(())
}
