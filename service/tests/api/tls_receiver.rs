//! The recording receiver served over https, the way a production subscription is: a private
//! CA generated for the test (rcgen), a server certificate for `127.0.0.1` signed by it, and
//! the CA's PEM written to a file for the service's `delivery.ca_file`. TLS by tokio-rustls
//! (the rustls project's own tokio binding, already in the build through reqwest) on the ring
//! provider the workspace uses, connections served by hyper-util (ADR 0025).

use std::path::PathBuf;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::Value;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use uuid::Uuid;

use crate::receiver::{Receiver, Reply, recording};

/// An https receiver and the CA file that makes the service trust it.
pub struct TlsReceiver {
    pub receiver: Receiver,
    pub ca_file: PathBuf,
}

/// The test's CA (as PEM) and a server certificate for 127.0.0.1 with its key.
fn certificates() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "delivery test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    // A string that parses as an IP address becomes an IP subject alternative name.
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &ca).unwrap();
    let key = PrivatePkcs8KeyDer::from(key.serialize_der());
    (ca.pem(), cert.der().clone(), key.into())
}

fn acceptor(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> TlsAcceptor {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Starts the receiver on `https://127.0.0.1:<port>/hooks`, answering by `script`.
pub async fn start_tls(
    script: impl Fn(&Value, usize) -> Reply + Send + Sync + 'static,
) -> TlsReceiver {
    let (ca_pem, cert, key) = certificates();
    let ca_file = std::env::temp_dir().join(format!("loyalty-receiver-ca-{}.pem", Uuid::new_v4()));
    std::fs::write(&ca_file, ca_pem).unwrap();
    let (router, calls) = recording(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hooks", listener.local_addr().unwrap());
    let acceptor = acceptor(cert, key);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                // A failed handshake or a connection dropped mid-request (a killed sender)
                // ends only that connection.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = TowerToHyperService::new(router);
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsReceiver {
        receiver: Receiver::serving(url, calls),
        ca_file,
    }
}
