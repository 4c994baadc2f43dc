//! libpq's `sslmode` values, and what each one verifies of the server's certificate.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// How much TLS a connection insists on, named as libpq names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plaintext, never TLS.
    Disable,
    /// TLS when the server offers it, plaintext otherwise: libpq's default.
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is checked only when `sslrootcert` is given.
    Require,
    /// TLS, with the certificate chain checked against `sslrootcert`.
    VerifyCa,
    /// TLS, with the chain checked against `sslrootcert` and the host name against the
    /// certificate. The only mode that stops a man in the middle; use it in production.
    VerifyFull,
}

impl SslMode {
    /// The name in a URL: `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres is told: whether to ask for TLS, and whether to insist on it.
    pub(crate) fn wire(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

impl FromStr for SslMode {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ]
        .into_iter()
        .find(|mode| mode.as_str() == name)
        .ok_or_else(|| Error::UnsupportedSslMode(name.to_owned()))
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the connector checks of the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Nothing: the connection is encrypted (when TLS is used at all), but anyone in the middle
    /// can present a certificate of their own.
    Nothing,
    /// That the chain ends at a CA of this PEM bundle; not which host the certificate names.
    Chain(PathBuf),
    /// The chain, and that the certificate names the host connected to.
    Full(PathBuf),
}

impl Verification {
    /// libpq's rule: the `verify-*` modes need a CA bundle, and `prefer` or `require` check the
    /// chain when they are given one. `disable` ignores it.
    pub(crate) fn of(mode: SslMode, root_cert: Option<PathBuf>) -> Result<Self> {
        match (mode, root_cert) {
            (SslMode::Disable, _) | (SslMode::Prefer | SslMode::Require, None) => {
                Ok(Verification::Nothing)
            }
            (SslMode::VerifyFull, Some(bundle)) => Ok(Verification::Full(bundle)),
            (SslMode::Prefer | SslMode::Require | SslMode::VerifyCa, Some(bundle)) => {
                Ok(Verification::Chain(bundle))
            }
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => Err(Error::MissingRootCert(mode)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_parses_from_its_own_name_and_nothing_else_does() {
        for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            assert_eq!(mode.parse::<SslMode>().unwrap().as_str(), mode);
        }
        for bad in ["allow", "VERIFY-FULL", "verify_full", ""] {
            assert!(bad.parse::<SslMode>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_mode_verifies_what_libpq_verifies() {
        let ca = || Some(PathBuf::from("/certs/ca.crt"));
        let chain = Verification::Chain("/certs/ca.crt".into());
        let cases = [
            (SslMode::Disable, ca(), Some(Verification::Nothing)),
            (SslMode::Prefer, None, Some(Verification::Nothing)),
            (SslMode::Require, None, Some(Verification::Nothing)),
            (SslMode::Require, ca(), Some(chain.clone())),
            (SslMode::VerifyCa, ca(), Some(chain)),
            (SslMode::VerifyCa, None, None),
            (SslMode::VerifyFull, None, None),
            (
                SslMode::VerifyFull,
                ca(),
                Some(Verification::Full("/certs/ca.crt".into())),
            ),
        ];
        for (mode, root_cert, expected) in cases {
            assert_eq!(Verification::of(mode, root_cert).ok(), expected, "{mode}");
        }
    }
}
