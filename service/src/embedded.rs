//! The embedded default: when no database URL is configured, the service starts its own
//! PostgreSQL 15 (through `pgharness`) in a data directory that persists between runs, so
//! `cargo run -p loyalty-service -- serve --demo` works on a machine with no database.

use std::path::Path;

use pgharness::{Durability, PgConfig, PgServer};

/// The database the service uses inside the embedded cluster.
pub const DATABASE: &str = "loyalty";

/// Where the running embedded database's URL is written: `pg-url` beside the data
/// directory (`.data/pg-url` by default).
pub fn url_file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.parent().unwrap_or(Path::new(".")).join("pg-url")
}

/// The URL of an embedded cluster that is already running on `data_dir`, if one answers.
pub async fn running_url(data_dir: &Path) -> Option<String> {
    let url = std::fs::read_to_string(url_file(data_dir))
        .ok()?
        .trim()
        .to_owned();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .ok()?;
    let driver = tokio::spawn(connection);
    let alive = client.simple_query("SELECT 1").await.is_ok();
    drop(client);
    let _ = driver.await;
    alive.then_some(url)
}

/// Starts (or reuses) the cluster in `data_dir` and makes sure [`DATABASE`] exists.
pub async fn start(data_dir: &Path) -> anyhow::Result<PgServer> {
    std::fs::create_dir_all(data_dir)?;
    let config = PgConfig {
        data_dir: Some(data_dir.canonicalize()?),
        durability: Durability::Durable,
        ..PgConfig::default()
    };
    let server = tokio::task::spawn_blocking(move || PgServer::start(config)).await??;
    let (client, connection) =
        tokio_postgres::connect(&server.url("postgres"), tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
        .await?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await?;
    }
    drop(client);
    driver.await??;
    Ok(server)
}
