//! The HTTP client attempts go out through: rustls with the public roots, plus the PEM
//! bundle `delivery.ca_file` names (a company's event gateway behind its own CA). A file that
//! is missing or holds no certificate that parses stops the service at start, with the
//! setting and the path in the message, rather than failing every delivery later.

use std::path::Path;

use anyhow::Context;

/// The dispatcher's client, trusting `ca_file`'s certificates besides the public roots.
pub fn http_client(ca_file: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    // A receiver's redirect is not followed: the subscription names the URL.
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        for certificate in trust_anchors(path)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().with_context(|| match ca_file {
        Some(path) => format!(
            "delivery.ca_file {}: a certificate in it does not parse",
            path.display()
        ),
        None => "the TLS backend does not initialise".to_owned(),
    })
}

/// The certificates of the PEM bundle at `path`; at least one.
fn trust_anchors(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let what = || format!("delivery.ca_file {}", path.display());
    let pem = std::fs::read(path).with_context(|| format!("{}: cannot be read", what()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("{}: not a PEM bundle", what()))?;
    anyhow::ensure!(
        !certificates.is_empty(),
        "{}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        what()
    );
    Ok(certificates)
}
