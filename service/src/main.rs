//! `loyalty-service`: serve the API, run the audit, or apply migrations.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use loyalty_service::auth::Scope;
use loyalty_service::auth::dev::{DevIssuer, write_demo_tokens};
use loyalty_service::config::{AuthConfig, Config};
use loyalty_service::crypto::{self, DigestKeys};
use loyalty_service::startup::Application;
use loyalty_service::store::delivery::MAX_DEAD_LETTERS_PAGE;
use loyalty_service::store::{Db, migrate, seed};
use loyalty_service::{database, metrics::Metrics, partners, telemetry};

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
    /// Seal members stored before personal fields were sealed (run once after upgrading).
    Seal,
    /// List a partner's dead letters (undeliverable webhook events) as JSON, or replay them.
    DeadLetters {
        /// The partner's code, e.g. `AF`.
        partner: String,
        /// Put the dead letters back in the delivery queue instead of listing them.
        #[arg(long)]
        replay: bool,
        /// With `--replay`, only this event (its id, as listed).
        #[arg(long, requires = "replay")]
        event: Option<uuid::Uuid>,
    },
    /// Print a development token signed with the demo key of `serve --demo` (only that key:
    /// production tokens come from the identity provider).
    Token {
        /// The token's subject: a member id with `--scope loyalty:member`, else a client name.
        #[arg(long)]
        subject: String,
        /// Scopes, e.g. `loyalty:earn`; repeat for several.
        #[arg(long = "scope", required = true, value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_s: u64,
    },
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    text.parse().map_err(|_| {
        let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown scope {text:?}; known: {}", known.join(", "))
    })
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
    let mut config = Config::load(cli.config.as_deref())?;
    telemetry::init(config.log_format);
    match &cli.command {
        Command::Token {
            subject,
            scopes,
            ttl_s,
        } => return mint_token(&config, subject, scopes, *ttl_s),
        Command::Serve { demo: true } => {
            config.auth = demo_auth(config.auth)?;
            let dir = config.crypto.demo_dir.clone();
            config.crypto = crypto::files::with_generated_keys(config.crypto, &dir)?;
        }
        Command::Serve { demo: false } => refuse_development_secrets(&config)?,
        Command::Audit | Command::Migrate | Command::Seal | Command::DeadLetters { .. } => {}
    }
    // Keeps an embedded server this process started alive until it returns.
    let database = database::resolve(&config).await?;
    let url = database.url.clone();
    match cli.command {
        Command::Serve { demo } => serve(config, &url, demo).await,
        Command::Audit => audit(&config, &url).await,
        Command::Migrate => {
            let client = connect(&config, &url)?.conn().await?;
            println!("{} migration(s) applied", migrate::run(&client).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Seal => {
            let keyring = crypto::files::keyring(&config.crypto)?;
            let db = connect(&config, &url)?.with_keys(Some(keyring), DigestKeys::default());
            println!("{} member(s) sealed", seal_all(&db).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::DeadLetters {
            partner,
            replay,
            event,
        } => dead_letters(&config, &url, &partner, replay, event).await,
        Command::Token { .. } => unreachable!("answered before the database is resolved"),
    }
}

/// `token`: a token signed by the demo key, printed for the README's examples.
fn mint_token(
    config: &Config,
    subject: &str,
    scopes: &[Scope],
    ttl_s: u64,
) -> anyhow::Result<ExitCode> {
    let issuer = DevIssuer::load_demo(&config.auth.demo_dir)?;
    let client = "loyalty-service-token";
    println!(
        "{}",
        issuer.token(subject, client, scopes, Duration::from_secs(ttl_s))
    );
    Ok(ExitCode::SUCCESS)
}

/// `serve`: the HTTP service until a shutdown signal; the demo seeds and seals its members.
async fn serve(config: Config, url: &str, demo: bool) -> anyhow::Result<ExitCode> {
    if demo {
        seed_demo(url, &config.partners.secrets_dir).await?;
    }
    let app = Application::build(config, url).await?;
    if demo {
        seal_all(&app.state.db).await?;
    }
    tracing::info!(addr = %app.local_addr()?, region = %app.state.region(), "loyalty service listening");
    app.serve(shutdown_signal()).await?;
    tracing::info!("shut down");
    Ok(ExitCode::SUCCESS)
}

/// `audit`: the whole-database audit as JSON; fails when anything does not reconcile.
async fn audit(config: &Config, url: &str) -> anyhow::Result<ExitCode> {
    let digest_keys = DigestKeys {
        signer: None,
        verifier: crypto::files::verifier(&config.crypto)?,
    };
    let db = connect(config, url)?.with_keys(None, digest_keys);
    let report = db.audit().await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `dead-letters`: a partner's dead letters as JSON, or their replay.
async fn dead_letters(
    config: &Config,
    url: &str,
    partner: &str,
    replay: bool,
    event: Option<uuid::Uuid>,
) -> anyhow::Result<ExitCode> {
    let db = connect(config, url)?;
    let answer = if replay {
        let replayed = db
            .replay_dead_letters(&config.region, partner, event)
            .await?;
        serde_json::to_string_pretty(&replayed)?
    } else {
        let page = db.dead_letters(&config.region, partner, MAX_DEAD_LETTERS_PAGE);
        serde_json::to_string_pretty(&page.await?)?
    };
    println!("{answer}");
    Ok(ExitCode::SUCCESS)
}

/// The demo's key set and tokens: the signing key is generated once under `auth.demo_dir`,
/// the tokens are written afresh on every start (the README sources `tokens.env`).
fn demo_auth(auth: AuthConfig) -> anyhow::Result<AuthConfig> {
    let auth = auth.or_demo();
    if auth.jwks_file.as_deref() == Some(DevIssuer::demo_jwks(&auth.demo_dir).as_path()) {
        let issuer = DevIssuer::demo(&auth.demo_dir)?;
        let env_file = write_demo_tokens(&issuer, &auth.demo_dir)?;
        tracing::info!(tokens = %env_file.display(), "demo tokens written: `source` this file for the README's examples");
    }
    Ok(auth)
}

/// `serve` without `--demo` never runs on a development secret.
fn refuse_development_secrets(config: &Config) -> anyhow::Result<()> {
    let problems = config.development_secrets();
    if problems.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to serve with development secrets (use `serve --demo` for a local sandbox):\n  - {}",
        problems.join("\n  - ")
    )
}

/// Seals every member still stored in plaintext, a batch at a time.
async fn seal_all(db: &Db) -> anyhow::Result<u64> {
    const BATCH: i64 = 500;
    let mut total = 0;
    loop {
        match db.seal_plaintext_members(BATCH).await? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

fn connect(config: &Config, url: &str) -> anyhow::Result<Db> {
    let wait = std::time::Duration::from_millis(config.database.pool_wait_ms);
    Db::connect(url, 2, wait, Metrics::new())
}

async fn seed_demo(url: &str, partner_secrets: &std::path::Path) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    migrate::run(&client).await?;
    seed::reference_data(&client).await?;
    seed::demo_members(&client).await?;
    seed::demo_fraud_rules(&client).await?;
    partners::demo::seed(&client, partner_secrets).await?;
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
