//! `loyalty-operator`: parses flags (each also an environment variable), installs logging and
//! signal handling, and runs [`loyalty_operator::run`].

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use loyalty_operator::controller::{Settings, partner, shutdown_pair};
use loyalty_operator::leader::LeaseConfig;
use loyalty_operator::telemetry::{self, LogFormat};
use loyalty_operator::{BackendKind, Config};

/// The loyalty platform's Kubernetes operator.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// PostgreSQL or CockroachDB URL of the service's database (never logged).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// How database placement is applied.
    #[arg(
        long,
        env = "PLACEMENT_BACKEND",
        value_enum,
        default_value = "postgres"
    )]
    placement_backend: BackendKind,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Namespace of the leader-election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "loyalty-system")]
    leader_election_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "LEADER_ELECTION_LEASE",
        default_value = "loyalty-operator"
    )]
    leader_election_lease: String,
    /// This instance's identity in the Lease and in Events (the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Namespace of the per-region service Deployments, Services and PodDisruptionBudgets.
    #[arg(long, env = "SERVICE_NAMESPACE", default_value = "loyalty-system")]
    service_namespace: String,
    /// Secret in the service namespace whose key `url` the service pods use as database URL.
    #[arg(
        long,
        env = "SERVICE_DATABASE_SECRET",
        default_value = "loyalty-service-database"
    )]
    service_database_secret: String,
    /// Secret in the service namespace whose key `leaderboard-name-key` the service pods use
    /// to derive leaderboard proxy names.
    #[arg(long, env = "SERVICE_SECRET", default_value = "loyalty-service")]
    service_secret: String,
    /// The region this operator instance runs in (informational until failover lands).
    #[arg(long, env = "LOYALTY_REGION")]
    region: Option<String>,
    /// The longest a region's /readyz probe may take, in milliseconds (capped by the region's
    /// probe interval).
    #[arg(long, env = "PROBE_TIMEOUT_MS", default_value_t = 800, value_parser = clap::value_parser!(u64).range(50..=30_000))]
    probe_timeout_ms: u64,
    /// How often a ready Partner is re-checked, in seconds: the longest a rotated or deleted
    /// Partner Secret takes to reach the projected Secret (30 s at most for a Partner with
    /// webhooks).
    #[arg(long, env = "PARTNER_RESYNC_S", default_value_t = partner::RESYNC.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3_600))]
    partner_resync_s: u64,
    /// `pretty` for people, `json` for log pipelines.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    log_format: LogFormat,
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "loyalty-operator".into());
    format!("{host}-{}", std::process::id())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let identity = cli.identity.clone().unwrap_or_else(default_identity);
    tracing::info!(region = ?cli.region, %identity, "loyalty-operator starting");
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no Kubernetes client configuration (KUBECONFIG or in-cluster)");
            return ExitCode::FAILURE;
        }
    };
    let config = Config {
        database_url: cli.database_url,
        backend: cli.placement_backend,
        http_addr: cli.http_addr,
        lease: LeaseConfig::new(
            cli.leader_election_namespace,
            cli.leader_election_lease,
            identity.clone(),
        ),
        settings: Settings {
            service_namespace: cli.service_namespace,
            service_database_secret: cli.service_database_secret,
            service_secret: cli.service_secret,
            instance: Some(identity),
            probe_timeout: std::time::Duration::from_millis(cli.probe_timeout_ms),
            partner_resync: std::time::Duration::from_secs(cli.partner_resync_s),
        },
    };
    let (stop, shutdown) = shutdown_pair();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; stopping controllers and releasing the lease");
        let _ = stop.send(());
    });
    match loyalty_operator::run(config, client, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "operator failed");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
