//! `loyalty-chaos`: brings the local multi-region topology up, or plays chaos scenarios and
//! writes their report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loyalty_chaos::control;
use loyalty_chaos::remote::{self, RemoteRegion};
use loyalty_chaos::report;
use loyalty_chaos::scenario::{self, ScenarioConfig, ScenarioName, ScenarioResult};
use loyalty_chaos::topology::{Fault, Topology, TopologyConfig};
use loyalty_chaos::workload::WorkloadConfig;
use tokio::sync::Mutex;

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
    /// SIGKILL a region's service in the running sandbox.
    Kill { region: String },
    /// SIGSTOP a region's service in the running sandbox.
    Pause { region: String },
    /// SIGCONT a paused region's service.
    Resume { region: String },
    /// Black-hole a region's traffic from the operator (its probes) or to the database.
    Partition {
        region: String,
        #[arg(long, value_enum, default_value = "operator")]
        from: PartitionFrom,
    },
    /// Undo every fault of a region (restarts a killed service).
    Heal { region: String },
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
    /// Run the workload against a deployment the suite did not start; writes the history.
    Workload {
        /// `NAME=GROUP=HOST:PORT=CC,CC` per region (plain HTTP, e.g. a kubectl port-forward).
        #[arg(long = "region", required = true)]
        regions: Vec<RemoteRegion>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 8)]
        members_per_region: usize,
        #[arg(long, default_value_t = 3)]
        clients_per_region: usize,
        #[arg(long)]
        history: PathBuf,
    },
    /// Judge a deployment's database against a recorded history; exits 1 on a violation.
    Check {
        #[arg(long)]
        history: PathBuf,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Rewrite chaos.md and chaos.svg from the chaos.json in a directory.
    Render {
        #[arg(long, default_value = "docs")]
        out: PathBuf,
    },
    /// Play every scenario and write chaos.md, chaos.json and chaos.svg into a directory.
    Report {
        #[arg(long, default_value = "docs")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seconds of workload after each scenario's last step.
        #[arg(long, default_value_t = 75)]
        aftermath_s: u64,
        #[arg(long, default_value_t = 4)]
        clients_per_region: usize,
        /// Keep the scenarios' results in chaos.json and replay only the controls.
        #[arg(long)]
        controls_only: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PartitionFrom {
    Operator,
    Db,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let work = async {
        match cli.command {
            Command::Up { keep } => up(keep).await,
            Command::Kill { region } => control(Fault::Kill { region }).await,
            Command::Pause { region } => control(Fault::Pause { region }).await,
            Command::Resume { region } => control(Fault::Resume { region }).await,
            Command::Partition { region, from } => {
                control(match from {
                    PartitionFrom::Operator => Fault::PartitionFromOperator { region },
                    PartitionFrom::Db => Fault::PartitionFromDb { region },
                })
                .await
            }
            Command::Heal { region } => control(Fault::Heal { region }).await,
            Command::Run {
                scenarios,
                seed,
                skip_fence_check,
                json,
            } => {
                let results = play(scenarios, seed, skip_fence_check, Shape::default()).await?;
                if let Some(path) = json {
                    std::fs::write(&path, serde_json::to_string_pretty(&results)?)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                Ok(verdict(&results))
            }
            Command::Workload {
                regions,
                seed,
                seconds,
                members_per_region,
                clients_per_region,
                history,
            } => {
                let config = WorkloadConfig {
                    seed,
                    clients_per_region,
                    duration: Duration::from_secs(seconds).min(remote::MAX_REMOTE_DURATION),
                    ..WorkloadConfig::default()
                };
                let recorded = remote::run_workload(&regions, config, members_per_region).await?;
                let (ok, fail, unknown) = recorded.counts();
                std::fs::write(&history, serde_json::to_string(&recorded)?)
                    .with_context(|| format!("writing {}", history.display()))?;
                println!(
                    "ok {ok} fail {fail} unknown {unknown}; history in {}",
                    history.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::Check {
                history,
                database_url,
            } => {
                let report = remote::check_history(&history, &database_url).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(if report.is_clean() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Command::Render { out } => {
                report::render(&out)?;
                println!("rewrote {}/chaos.md and chaos.svg", out.display());
                Ok(ExitCode::SUCCESS)
            }
            Command::Report {
                out,
                seed,
                aftermath_s,
                clients_per_region,
                controls_only,
            } => {
                let mut saved = if controls_only {
                    report::Report::load(&out)?
                } else {
                    let shape = Shape {
                        aftermath_ms: aftermath_s * 1_000,
                        clients_per_region,
                    };
                    report::Report {
                        commit: commit(),
                        started: chrono::Utc::now().to_rfc3339(),
                        results: play(ScenarioName::ALL.to_vec(), seed, false, shape).await?,
                        controls: Vec::new(),
                    }
                };
                // Without the chaos-hooks build the services refuse the switch: the report
                // is still written, without its controls, and says why on stderr.
                match play(CONTROLS.to_vec(), seed, true, Shape::default()).await {
                    Ok(controls) => saved.controls = controls,
                    Err(e) => eprintln!(
                        "controls not played (is the service built with chaos-hooks?): {e:#}"
                    ),
                }
                report::write(&out, &saved)?;
                println!("wrote {}/chaos.md, chaos.json, chaos.svg", out.display());
                Ok(if saved.passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
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
    println!(
        "export KUBECONFIG={}",
        topology.cluster.kubeconfig().display()
    );
    println!("database:   {}", topology.db.url());
    for region in &topology.regions {
        println!(
            "{:<14} service http://{}  endpoint (through the operator's proxy) {}",
            region.name(),
            region.service_addr,
            region.endpoint()
        );
    }
    println!("logs:       {}", topology.dir().display());
    let state = control::state_file();
    println!(
        "control:    {} (loyalty-chaos kill|pause|resume|partition|heal REGION)",
        state.display()
    );
    println!("Try `kubectl get lreg -w`. Ctrl-C stops everything.");
    let topology = Arc::new(Mutex::new(topology));
    control::serve(topology, &state).await?;
    Ok(ExitCode::SUCCESS)
}

async fn control(fault: Fault) -> anyhow::Result<ExitCode> {
    let reply = control::send(&fault).await?;
    println!("{}", reply.message);
    Ok(if reply.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The scenarios replayed without the fence check, to show that the checker fails.
const CONTROLS: [ScenarioName; 2] = [
    ScenarioName::PauseRegion,
    ScenarioName::PartitionFromOperator,
];

/// How much load each scenario carries.
struct Shape {
    aftermath_ms: u64,
    clients_per_region: usize,
}

impl Default for Shape {
    fn default() -> Self {
        let config = ScenarioConfig::new(ScenarioName::KillRegion, 0);
        Shape {
            aftermath_ms: config.aftermath_ms,
            clients_per_region: config.clients_per_region,
        }
    }
}

async fn play(
    scenarios: Vec<ScenarioName>,
    seed: u64,
    skip_fence_check: bool,
    shape: Shape,
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
            aftermath_ms: shape.aftermath_ms,
            clients_per_region: shape.clients_per_region,
            ..ScenarioConfig::new(name, seed)
        };
        let result = scenario::run(config)
            .await
            .with_context(|| format!("scenario {}", name.as_str()))?;
        println!(
            "{:<24} ok {} fail {} unknown {} violations {} {:?}",
            name.as_str(),
            result.ops.ok,
            result.ops.fail,
            result.ops.unknown,
            result.violation_count(),
            result.timings,
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
