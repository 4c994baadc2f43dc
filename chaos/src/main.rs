//! `loyalty-chaos`: brings the local multi-region topology up, or plays chaos scenarios and
//! writes their report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loyalty_chaos::report;
use loyalty_chaos::scenario::{self, ScenarioConfig, ScenarioName, ScenarioResult};
use loyalty_chaos::topology::{Topology, TopologyConfig};

#[derive(Parser)]
#[command(version, about = "Chaos suite of the loyalty platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bring the topology up and keep it running until Ctrl-C.
    Up {
        /// Keep the run directory (logs, kubeconfig) after exit.
        #[arg(long)]
        keep: bool,
    },
    /// Play scenarios (all when none is named) and print their results.
    Run {
        #[arg(long = "scenario", value_enum)]
        scenarios: Vec<ScenarioName>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Start the services with the fence check removed (needs the `chaos-hooks` feature).
        #[arg(long)]
        skip_fence_check: bool,
        /// Write the JSON results here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Play every scenario and write chaos.md, chaos.json and chaos.svg into a directory.
    Report {
        #[arg(long, default_value = "docs")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let work = async {
        match cli.command {
            Command::Up { keep } => up(keep).await,
            Command::Run {
                scenarios,
                seed,
                skip_fence_check,
                json,
            } => {
                let results = play(scenarios, seed, skip_fence_check).await?;
                if let Some(path) = json {
                    std::fs::write(&path, serde_json::to_string_pretty(&results)?)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                Ok(verdict(&results))
            }
            Command::Report { out, seed } => {
                let started = chrono::Utc::now().to_rfc3339();
                let results = play(Vec::new(), seed, false).await?;
                report::write(&out, &results, &commit(), &started)?;
                println!("wrote {}/chaos.md, chaos.json, chaos.svg", out.display());
                Ok(verdict(&results))
            }
        }
    };
    // Ctrl-C drops the work, and with it every child process and temporary directory.
    tokio::select! {
        result = work => match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: cleaning up");
            ExitCode::from(130)
        }
    }
}

async fn up(keep: bool) -> anyhow::Result<ExitCode> {
    let topology = Topology::up(TopologyConfig {
        keep_dir: keep,
        ..TopologyConfig::default()
    })
    .await?;
    println!("kubeconfig: {}", topology.cluster.kubeconfig().display());
    println!("database:   {}", topology.db.url());
    for region in &topology.regions {
        println!(
            "{:<14} service http://{}  endpoint {}",
            region.name(),
            region.service_addr,
            region.endpoint()
        );
    }
    println!("logs:       {}", topology.dir().display());
    println!("Ctrl-C stops everything.");
    std::future::pending::<()>().await;
    Ok(ExitCode::SUCCESS)
}

async fn play(
    scenarios: Vec<ScenarioName>,
    seed: u64,
    skip_fence_check: bool,
) -> anyhow::Result<Vec<ScenarioResult>> {
    let names = if scenarios.is_empty() {
        ScenarioName::ALL.to_vec()
    } else {
        scenarios
    };
    let mut results = Vec::new();
    for name in names {
        let config = ScenarioConfig {
            skip_fence_check,
            ..ScenarioConfig::new(name, seed)
        };
        let result = scenario::run(config)
            .await
            .with_context(|| format!("scenario {}", name.as_str()))?;
        println!(
            "{:<24} fencing {:?} ok {} fail {} unknown {} violations {} {:?} {}",
            name.as_str(),
            result.fencing,
            result.ops.ok,
            result.ops.fail,
            result.ops.unknown,
            result.violation_count(),
            result.timings,
            result.skipped.as_deref().unwrap_or("")
        );
        results.push(result);
    }
    Ok(results)
}

fn verdict(results: &[ScenarioResult]) -> ExitCode {
    if results.iter().all(|r| r.violation_count() == 0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The commit the report describes.
fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}
