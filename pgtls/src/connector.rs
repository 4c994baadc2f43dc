//! The rustls configuration for a [`Verification`]: rustls's own WebPKI verifier for
//! `verify-full`, the lenient one of [`crate::verifier`] for everything else.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};
use crate::mode::Verification;
use crate::verifier::Lenient;

/// Builds the connector. TLS 1.2 and 1.3 with ring's safe defaults; no client certificate.
pub(crate) fn build(verification: &Verification) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match verification {
        Verification::Full(bundle) => builder.with_root_certificates(roots(bundle)?),
        Verification::Chain(bundle) => {
            let chain = chain_verifier(bundle, &provider)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Lenient::new(Some(chain), provider)))
        }
        Verification::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient::new(None, provider))),
    };
    Ok(MakeRustlsConnect::new(builder.with_no_client_auth()))
}

fn chain_verifier(
    bundle: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots(bundle)?), provider.clone())
            .build()?;
    Ok(verifier)
}

/// Every certificate of the PEM bundle at `path`; at least one.
fn roots(path: &Path) -> Result<RootCertStore> {
    let unusable = |reason: String| Error::BadRootCert {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|source| Error::RootCert {
        path: path.to_owned(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| unusable(e.to_string()))?;
        roots.add(cert).map_err(|e| unusable(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(unusable("it holds no PEM certificate".into()));
    }
    Ok(roots)
}
