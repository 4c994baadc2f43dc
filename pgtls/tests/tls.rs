//! Connections through `loyalty_pgtls` to real PostgreSQL servers started by the harness: one
//! that accepts TCP only over TLS, with a certificate for `localhost` and `127.0.0.1` signed by
//! a CA generated at its start, and one without TLS.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use loyalty_pgtls::{DatabaseUrl, Error};
use pgharness::{PgConfig, PgServer, Tls};
use rustls::CertificateError;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

/// The TLS-only server, started once for the whole binary; the watchdog stops it at exit.
fn tls_server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        PgServer::start(PgConfig {
            tls: Tls::Required,
            ..PgConfig::default()
        })
        .expect("start a TLS-only server")
    })
}

/// A CA that signed nothing the server presents, in the server's run directory so that it
/// goes with the server.
fn wrong_ca() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let other = rcgen::generate_simple_self_signed(vec!["another CA".to_owned()])
            .expect("generate a CA");
        let path = tls_server().run_dir().join("wrong-ca.crt");
        std::fs::write(&path, other.cert.pem()).expect("write the wrong CA");
        path
    })
}

/// What a connection attempt must end in.
#[derive(Debug)]
enum Expect {
    /// Connected, and the server says the session is encrypted (or not).
    Connected { ssl: bool },
    /// The handshake refused the server's certificate for this reason.
    Certificate(fn(&CertificateError) -> bool),
    /// The server refused the session with this SQLSTATE.
    Sqlstate(SqlState),
    /// Some other failure, whose message contains this text.
    Message(&'static str),
}

struct Case {
    name: &'static str,
    url: String,
    expect: Expect,
}

/// `postgres://postgres@HOST:PORT/postgres?QUERY` on the TLS-only server.
fn tls_url(host: &str, query: &str) -> String {
    format!(
        "postgres://postgres@{host}:{}/postgres?{query}",
        tls_server().port()
    )
}

fn cases() -> Vec<Case> {
    let ca = tls_server()
        .ca_file()
        .expect("the server has a CA")
        .display();
    let wrong = wrong_ca().display();
    let unknown_issuer = |e: &CertificateError| matches!(e, CertificateError::UnknownIssuer);
    let wrong_name = |e: &CertificateError| {
        matches!(
            e,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    };
    // The server's address, reached under a name its certificate does not carry.
    let elsewhere = "hostaddr=127.0.0.1";
    vec![
        Case {
            name: "verify-full with the server's CA, by address",
            url: tls_url(
                "127.0.0.1",
                &format!("sslmode=verify-full&sslrootcert={ca}"),
            ),
            expect: Expect::Connected { ssl: true },
        },
        Case {
            name: "verify-full with the server's CA, by name",
            url: tls_url(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={ca}"),
            ),
            expect: Expect::Connected { ssl: true },
        },
        Case {
            name: "verify-full with another CA",
            url: tls_url(
                "127.0.0.1",
                &format!("sslmode=verify-full&sslrootcert={wrong}"),
            ),
            expect: Expect::Certificate(unknown_issuer),
        },
        Case {
            name: "verify-full under a host name the certificate does not carry",
            url: tls_url(
                "db.example.invalid",
                &format!("{elsewhere}&sslmode=verify-full&sslrootcert={ca}"),
            ),
            expect: Expect::Certificate(wrong_name),
        },
        Case {
            name: "verify-ca under a host name the certificate does not carry",
            url: tls_url(
                "db.example.invalid",
                &format!("{elsewhere}&sslmode=verify-ca&sslrootcert={ca}"),
            ),
            expect: Expect::Connected { ssl: true },
        },
        Case {
            name: "verify-ca with another CA",
            url: tls_url(
                "127.0.0.1",
                &format!("sslmode=verify-ca&sslrootcert={wrong}"),
            ),
            expect: Expect::Certificate(unknown_issuer),
        },
        Case {
            name: "require without a CA",
            url: tls_url("127.0.0.1", "sslmode=require"),
            expect: Expect::Connected { ssl: true },
        },
        Case {
            name: "require with another CA checks the chain, as libpq does",
            url: tls_url("127.0.0.1", &format!("sslmode=require&sslrootcert={wrong}")),
            expect: Expect::Certificate(unknown_issuer),
        },
        Case {
            name: "no sslmode prefers TLS",
            url: tls_url("127.0.0.1", ""),
            expect: Expect::Connected { ssl: true },
        },
        Case {
            name: "disable against a TLS-only server",
            url: tls_url("127.0.0.1", "sslmode=disable"),
            expect: Expect::Sqlstate(SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        },
        Case {
            name: "require against a server without TLS",
            url: format!("{}?sslmode=require", pgharness::shared().url("postgres")),
            expect: Expect::Message("server does not support TLS"),
        },
        Case {
            name: "no sslmode against a server without TLS stays plaintext",
            url: pgharness::shared().url("postgres"),
            expect: Expect::Connected { ssl: false },
        },
    ]
}

#[tokio::test]
async fn each_sslmode_connects_or_refuses_as_libpq_would() {
    for case in cases() {
        let outcome = connect(&case.url).await;
        match (&case.expect, outcome) {
            (Expect::Connected { ssl }, Ok(client)) => {
                assert_eq!(session_is_encrypted(&client).await, *ssl, "{}", case.name);
            }
            (Expect::Certificate(reason), Err(error)) => {
                let found = certificate_error(&error);
                assert!(found.is_some_and(reason), "{}: {error}", case.name);
            }
            (Expect::Sqlstate(state), Err(Error::Connect(error))) => {
                assert_eq!(error.code(), Some(state), "{}: {error}", case.name);
            }
            (Expect::Message(text), Err(error)) => {
                assert!(error.to_string().contains(text), "{}: {error}", case.name);
            }
            (expect, Ok(_)) => panic!("{}: connected, expected {expect:?}", case.name),
            (expect, Err(error)) => panic!("{}: {error}, expected {expect:?}", case.name),
        }
    }
}

async fn connect(url: &str) -> Result<Client, Error> {
    let (client, connection) = DatabaseUrl::parse(url)?.connect().await?;
    tokio::spawn(connection);
    Ok(client)
}

/// What `pg_stat_ssl` says of this session.
async fn session_is_encrypted(client: &Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("read pg_stat_ssl")
        .get(0)
}

/// The certificate error rustls reported, wherever it sits in the chain of causes. tokio-rustls
/// wraps it in an `io::Error`, whose `source` skips it, hence the `get_ref`.
fn certificate_error(error: &Error) -> Option<&CertificateError> {
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        let rustls_error = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(reason)) = rustls_error {
            return Some(reason);
        }
        cause = current.source();
    }
    None
}
