//! The service's pool (`Db::connect`) over TLS to a server that refuses plaintext TCP:
//! `sslmode` and `sslrootcert` in the configured URL decide what is verified.

use std::time::Duration;

use loyalty_service::metrics::Metrics;
use loyalty_service::store::Db;
use pgharness::{PgConfig, PgServer, Tls};

fn pool(url: &str) -> Db {
    Db::connect(url, 1, Duration::from_secs(5), Metrics::new()).expect("build the pool")
}

#[tokio::test]
async fn the_pool_connects_with_verify_full_and_refuses_a_server_its_ca_did_not_sign() {
    let server = tokio::task::spawn_blocking(|| {
        PgServer::start(PgConfig {
            tls: Tls::Required,
            ..PgConfig::default()
        })
    })
    .await
    .unwrap()
    .expect("start a TLS-only server");
    let ca = server.ca_file().expect("CA file").display().to_string();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={ca}",
        server.url("postgres")
    );

    let encrypted: bool = pool(&url)
        .conn()
        .await
        .expect("a verified TLS connection")
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted);

    // The server's own certificate is no CA: nothing the server presents chains up to it.
    let not_a_ca = server.data_dir().join("server.crt").display().to_string();
    let wrong = url.replace(&ca, &not_a_ca);
    let error = pool(&wrong).conn().await.expect_err("an untrusted server");
    // tokio-postgres's message says only "error performing TLS handshake"; rustls's reason
    // is its cause.
    let first: &(dyn std::error::Error + 'static) = &error;
    let causes: Vec<String> = std::iter::successors(Some(first), |e| e.source())
        .map(ToString::to_string)
        .collect();
    assert!(
        causes.iter().any(|c| c.contains("UnknownIssuer")),
        "{causes:?}"
    );

    let missing = url.replace(&ca, "/nonexistent/ca.crt");
    let error = Db::connect(&missing, 1, Duration::from_secs(5), Metrics::new())
        .err()
        .expect("no CA bundle");
    assert!(error.to_string().contains("/nonexistent/ca.crt"), "{error}");
}
