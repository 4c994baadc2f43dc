//! Which database the binary uses: the configured URL, or (with the `embedded` feature, the
//! default) the embedded PostgreSQL: one already running on the data directory (a `serve` in
//! another terminal), or one started here. A build without the feature (the production image)
//! refuses to start without a URL instead of starting a database of its own.

use crate::config::Config;

/// The database URL, and the embedded server it runs on when this process started it
/// (dropping the value stops that server).
pub struct Database {
    pub url: String,
    _embedded: Option<Embedded>,
}

#[cfg(feature = "embedded")]
type Embedded = pgharness::PgServer;
#[cfg(not(feature = "embedded"))]
type Embedded = std::convert::Infallible;

/// Resolves the database of `config`.
pub async fn resolve(config: &Config) -> anyhow::Result<Database> {
    match &config.database.url {
        Some(url) => Ok(Database {
            url: url.expose().to_owned(),
            _embedded: None,
        }),
        None => embedded(config).await,
    }
}

#[cfg(feature = "embedded")]
async fn embedded(config: &Config) -> anyhow::Result<Database> {
    use anyhow::Context as _;

    use crate::embedded;

    let dir = &config.database.embedded_data_dir;
    // A second postmaster cannot start on the same data directory: use the running one.
    if let Some(url) = embedded::running_url(dir).await {
        tracing::info!(%url, "using the running embedded PostgreSQL");
        return Ok(Database {
            url,
            _embedded: None,
        });
    }
    let server = embedded::start(dir)
        .await
        .context("starting the embedded PostgreSQL")?;
    let url = server.url(embedded::DATABASE);
    // Next to the data directory, so that psql, the operator and the sandbox can find the
    // running database: `psql "$(cat .data/pg-url)"`.
    let url_file = embedded::url_file(dir);
    std::fs::write(&url_file, format!("{url}\n"))
        .with_context(|| format!("writing {}", url_file.display()))?;
    tracing::info!(%url, file = %url_file.display(), "embedded PostgreSQL started");
    Ok(Database {
        url,
        _embedded: Some(server),
    })
}

#[cfg(not(feature = "embedded"))]
async fn embedded(_: &Config) -> anyhow::Result<Database> {
    anyhow::bail!(
        "no database URL configured (database.url, LOYALTY_DATABASE__URL), and this build has no embedded PostgreSQL (feature `embedded`)"
    )
}
