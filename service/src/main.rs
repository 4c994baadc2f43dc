//! `loyalty-service`: serve the API, run the audit, or apply migrations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use loyalty_service::config::Config;
use loyalty_service::startup::Application;
use loyalty_service::store::{Db, migrate, seed};
use loyalty_service::{database, metrics::Metrics, telemetry};

#[derive(Parser)]
#[command(
    version,
    about = "The loyalty service: earn, redeem and hold points on a serializable ledger"
)]
struct Cli {
    /// TOML configuration file; `LOYALTY_*` environment variables override it.
    #[arg(long, global = true, env = "LOYALTY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (on the embedded PostgreSQL when no database URL is configured).
    Serve {
        /// Seed demo regions, rates and members (the README's examples use them).
        #[arg(long)]
        demo: bool,
    },
    /// Check every ledger invariant; exits 1 when anything is off.
    Audit,
    /// Apply schema migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(config.log_format);
    // Keeps an embedded server this process started alive until it returns.
    let database = database::resolve(&config).await?;
    let url = database.url.clone();
    match cli.command {
        Command::Serve { demo } => {
            if demo {
                seed_demo(&url).await?;
            }
            let app = Application::build(config, &url).await?;
            tracing::info!(addr = %app.local_addr()?, region = %app.state.region(), "loyalty service listening");
            app.serve(shutdown_signal()).await?;
            tracing::info!("shut down");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit => {
            let db = connect(&config, &url)?;
            let report = db.audit().await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Migrate => {
            let db = connect(&config, &url)?;
            let client = db.conn().await?;
            let applied = migrate::run(&client).await?;
            println!("{applied} migration(s) applied");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn connect(config: &Config, url: &str) -> anyhow::Result<Db> {
    let wait = std::time::Duration::from_millis(config.database.pool_wait_ms);
    Db::connect(url, 2, wait, Metrics::new())
}

async fn seed_demo(url: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    migrate::run(&client).await?;
    seed::reference_data(&client).await?;
    seed::demo_members(&client).await?;
    drop(client);
    driver.await??;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutdown signal received");
}
