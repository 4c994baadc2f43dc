//! The crate's one error type. No message quotes the URL: it may hold a password.

use std::path::PathBuf;

use crate::mode::SslMode;

/// Why a database URL cannot be used, or a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a `postgres://` or `postgresql://` URL (the key/value form is not supported).
    #[error("the database URL must start with postgres:// or postgresql://")]
    NotAUrl,
    /// A query parameter is not valid percent-encoded UTF-8.
    #[error("the database URL's parameter {0:?} is not valid percent-encoded UTF-8")]
    Encoding(String),
    /// tokio-postgres refused the URL.
    #[error("invalid database URL: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// An `sslmode` this crate does not implement (`allow`, or a misspelling).
    #[error(
        "sslmode={0:?} is not supported: use disable, prefer, require, verify-ca or verify-full"
    )]
    UnsupportedSslMode(String),
    /// `verify-ca` or `verify-full` without a CA bundle to verify against.
    #[error(
        "sslmode={0} needs sslrootcert=PATH, the CA bundle the server's certificate is checked against"
    )]
    MissingRootCert(SslMode),
    /// `sslcert`, `sslkey` or `sslpassword`.
    #[error("client certificates (sslcert, sslkey) are not supported; authenticate by password")]
    ClientCertificates,
    /// The CA bundle could not be read.
    #[error("could not read the CA bundle {}: {source}", path.display())]
    RootCert {
        /// The `sslrootcert` path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The CA bundle holds no usable certificate.
    #[error("the CA bundle {} is not usable: {reason}", path.display())]
    BadRootCert {
        /// The `sslrootcert` path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// rustls refused the CA bundle as trust anchors.
    #[error("TLS certificate verifier: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    /// The connection failed: network, authentication, or the TLS handshake (a wrong CA, a
    /// host name the certificate does not name). The message carries the causes, since
    /// tokio-postgres's own says only "error performing TLS handshake".
    #[error("could not connect to the database: {}", with_causes(.0))]
    Connect(#[source] tokio_postgres::Error),
}

impl Error {
    /// A short, stable label for counting failures by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::NotAUrl => "unsupported_url",
            Error::Encoding(_) => "encoding",
            Error::Url(_) => "url",
            Error::UnsupportedSslMode(_) => "unsupported_sslmode",
            Error::MissingRootCert(_) => "missing_root_cert",
            Error::ClientCertificates => "client_certificates",
            Error::RootCert { .. } => "root_cert",
            Error::BadRootCert { .. } => "bad_root_cert",
            Error::Tls(_) => "tls",
            Error::Verifier(_) => "verifier",
            Error::Connect(_) => "connect",
        }
    }
}

/// `error` and each of its causes, joined by `: `.
fn with_causes(error: &tokio_postgres::Error) -> String {
    let first: &(dyn std::error::Error + 'static) = error;
    std::iter::successors(Some(first), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
