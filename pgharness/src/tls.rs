//! TLS for a server ([`Tls::On`], [`Tls::Required`]): a CA and a server certificate for
//! `localhost` and [`HOST`], generated afresh at every start, and for [`Tls::Required`] an hba
//! file that admits TCP connections only over TLS.
//!
//! The server's certificate and key go into the data directory under PostgreSQL's default
//! names (`server.crt`, `server.key`), so `ssl = on` is the only setting they need. The CA
//! certificate and the hba file go into the run directory: they are removed on stop, and a
//! persistent data directory keeps its own `pg_hba.conf` untouched.

use std::fs::{OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::HOST;
use crate::config::Tls;
use crate::error::{Error, Result};
use crate::os_user::RunAs;

/// The CA certificate's file in the run directory: the bundle clients verify the server with.
const CA_FILE: &str = "ca.crt";
/// The hba file [`Tls::Required`] points the server at, in the run directory.
const HBA_FILE: &str = "pg_hba.conf";
/// PostgreSQL's default certificate and key file names, relative to the data directory.
const SERVER_CERT_FILE: &str = "server.crt";
const SERVER_KEY_FILE: &str = "server.key";
/// The names the server certificate is valid for: every name a harness URL may use.
const SERVER_NAMES: [&str; 2] = ["localhost", HOST];

/// PostgreSQL refuses a key file that others can read.
const KEY_MODE: u32 = 0o600;
const PUBLIC_MODE: u32 = 0o644;

/// Unix-socket connections stay trusted plaintext (TLS does not apply to them); TCP
/// connections match only `hostssl`, so one without TLS finds no entry and is refused.
const HBA_TLS_ONLY: &str = "# Written by pgharness: TCP connections must use TLS.\n\
                            local all all trust\n\
                            hostssl all all 127.0.0.1/32 trust\n";

/// Writes the certificates (and the hba file) that `tls` needs and returns the CA file, or
/// `None` for [`Tls::Off`].
pub(crate) fn install(
    tls: Tls,
    data_dir: &Path,
    run_dir: &Path,
    run_as: RunAs,
) -> Result<Option<PathBuf>> {
    if tls == Tls::Off {
        return Ok(None);
    }
    let ca = certificate_authority()?;
    let server_key = KeyPair::generate().map_err(Error::Certificates)?;
    let server_cert = server_params()?
        .signed_by(&server_key, &ca)
        .map_err(Error::Certificates)?;
    let files = [
        (
            data_dir.join(SERVER_CERT_FILE),
            server_cert.pem(),
            PUBLIC_MODE,
        ),
        (
            data_dir.join(SERVER_KEY_FILE),
            server_key.serialize_pem(),
            KEY_MODE,
        ),
        (run_dir.join(CA_FILE), ca.pem(), PUBLIC_MODE),
    ];
    for (path, contents, mode) in &files {
        write_owned(path, contents, *mode, run_as)?;
    }
    if tls == Tls::Required {
        write_owned(&run_dir.join(HBA_FILE), HBA_TLS_ONLY, KEY_MODE, run_as)?;
    }
    Ok(Some(run_dir.join(CA_FILE)))
}

/// The server settings `tls` adds to the harness's own.
pub(crate) fn settings(tls: Tls, run_dir: &Path) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    if tls != Tls::Off {
        settings.push(("ssl".into(), "on".into()));
    }
    if tls == Tls::Required {
        let hba = run_dir.join(HBA_FILE);
        settings.push(("hba_file".into(), hba.to_string_lossy().into_owned()));
    }
    settings
}

fn certificate_authority() -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "pgharness test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().map_err(Error::Certificates)?;
    CertifiedIssuer::self_signed(params, key).map_err(Error::Certificates)
}

fn server_params() -> Result<CertificateParams> {
    let names: Vec<String> = SERVER_NAMES.map(String::from).to_vec();
    let mut params = CertificateParams::new(names).map_err(Error::Certificates)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

/// Writes `contents` to `path` with `mode`, owned by the server's account. The mode is set
/// again after writing because an existing file (a reused data directory) keeps its own.
fn write_owned(path: &Path, contents: &str, mode: u32, run_as: RunAs) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(Error::io("create", path))?;
    file.write_all(contents.as_bytes())
        .map_err(Error::io("write", path))?;
    std::fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(Error::io("change the permissions of", path))?;
    run_as.give(path)
}
