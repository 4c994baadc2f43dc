//! [`DatabaseUrl`]: a `postgres://` URL split into what tokio-postgres reads and the TLS
//! parameters read here.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};
use crate::mode::{SslMode, Verification};

/// The schemes tokio-postgres accepts for URLs.
const SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];
/// libpq's client-certificate parameters: refused with a message that says so, rather than
/// tokio-postgres's "unknown option".
const CLIENT_CERTIFICATE_PARAMS: [&str; 3] = ["sslcert", "sslkey", "sslpassword"];

/// The connection half of a [`DatabaseUrl::connect`]: spawn it to drive the client.
pub type Connection =
    tokio_postgres::Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// A database URL, parsed: tokio-postgres's [`Config`] (with its `sslmode` set to match) and
/// what the connector must verify.
#[derive(Debug, Clone)]
pub struct DatabaseUrl {
    config: Config,
    verification: Verification,
}

/// The parameters [`DatabaseUrl::parse`] takes out of the query string.
#[derive(Default)]
struct TlsParams {
    mode: Option<SslMode>,
    root_cert: Option<PathBuf>,
}

impl DatabaseUrl {
    /// Parses `url` (`postgres://` or `postgresql://`). Reads no file: a missing CA bundle is
    /// reported by [`DatabaseUrl::connector`].
    pub fn parse(url: &str) -> Result<Self> {
        if !SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(Error::NotAUrl);
        }
        let (rest, params) = split_tls_params(url)?;
        let mut config: Config = rest.parse().map_err(Error::Url)?;
        let mode = params.mode.unwrap_or_default();
        config.ssl_mode(mode.wire());
        let verification = Verification::of(mode, params.root_cert)?;
        Ok(Self {
            config,
            verification,
        })
    }

    /// tokio-postgres's view of the URL, `sslmode` included.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What the connector checks of the server's certificate.
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// The rustls connector for this URL. Reads the CA bundle, so that a missing or
    /// unreadable file fails when a pool is built rather than at its first connection.
    pub fn connector(&self) -> Result<MakeRustlsConnect> {
        crate::connector::build(&self.verification)
    }

    /// The configuration and the connector, for a connection pool.
    pub fn into_parts(self) -> Result<(Config, MakeRustlsConnect)> {
        let connector = self.connector()?;
        Ok((self.config, connector))
    }

    /// Opens one connection.
    pub async fn connect(&self) -> Result<(Client, Connection)> {
        self.config
            .connect(self.connector()?)
            .await
            .map_err(Error::Connect)
    }
}

/// Takes `sslmode` and `sslrootcert` out of the query string; the other parameters stay as
/// they were written, for tokio-postgres to read.
fn split_tls_params(url: &str) -> Result<(String, TlsParams)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params = TlsParams::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match decode(key, key)?.as_str() {
            "sslmode" => params.mode = Some(decode(key, value)?.parse()?),
            "sslrootcert" => params.root_cert = Some(decode(key, value)?.into()),
            name if CLIENT_CERTIFICATE_PARAMS.contains(&name) => {
                return Err(Error::ClientCertificates);
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, params))
}

/// Percent-decodes `text`, the key or value of parameter `key`. The error names the key only:
/// values may be credentials.
fn decode(key: &str, text: &str) -> Result<String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Error::Encoding(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use tokio_postgres::config::{Host, SslMode as WireMode};

    use super::*;

    #[test]
    fn a_cockroachdb_url_keeps_its_other_parameters_and_gains_verify_full() {
        let url = DatabaseUrl::parse(
            "postgresql://app:s3cret@db.internal:26257/loyalty?sslmode=verify-full&application_name=svc&sslrootcert=%2Fcerts%2Fca.crt",
        )
        .unwrap();
        let config = url.config();
        assert_eq!(config.get_hosts(), [Host::Tcp("db.internal".into())]);
        assert_eq!(config.get_ports(), [26257]);
        assert_eq!(config.get_dbname(), Some("loyalty"));
        assert_eq!(config.get_application_name(), Some("svc"));
        assert_eq!(config.get_ssl_mode(), WireMode::Require);
        assert_eq!(
            url.verification(),
            &Verification::Full("/certs/ca.crt".into())
        );
    }

    #[test]
    fn a_url_without_tls_parameters_prefers_tls_and_verifies_nothing() {
        let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:5432/loyalty").unwrap();
        assert_eq!(url.config().get_ssl_mode(), WireMode::Prefer);
        assert_eq!(url.verification(), &Verification::Nothing);
        let url = DatabaseUrl::parse("postgres://u@h/d?sslmode=disable").unwrap();
        assert_eq!(url.config().get_ssl_mode(), WireMode::Disable);
    }

    #[test]
    fn urls_the_connector_cannot_honour_are_refused_without_echoing_the_password() {
        let cases = [
            ("host=h user=u sslmode=require", "unsupported_url"),
            ("postgres://u:pw@h/d?sslmode=allow", "unsupported_sslmode"),
            (
                "postgres://u:pw@h/d?sslmode=verify-full",
                "missing_root_cert",
            ),
            ("postgres://u:pw@h/d?sslmode=verify-ca", "missing_root_cert"),
            ("postgres://u:pw@h/d?sslcert=/c.crt", "client_certificates"),
            ("postgres://u:pw@h/d?sslrootcert=%FF", "encoding"),
            ("postgres://u:pw@h/d?frobnicate=1", "url"),
        ];
        for (url, label) in cases {
            let error = DatabaseUrl::parse(url).expect_err(url);
            assert_eq!(error.metric_label(), label, "{url}: {error}");
            assert!(!error.to_string().contains("pw"), "{error}");
        }
    }

    #[test]
    fn a_missing_ca_bundle_is_reported_when_the_connector_is_built() {
        let url =
            DatabaseUrl::parse("postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent")
                .unwrap();
        let error = url.connector().err().expect("no such file");
        assert_eq!(error.metric_label(), "root_cert", "{error}");
        assert!(error.to_string().contains("/nonexistent"), "{error}");
    }
}
