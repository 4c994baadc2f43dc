//! What a region's service container is configured with: plain settings from the
//! LoyaltyRegion as environment variables, every secret by reference to a key of a Kubernetes
//! Secret (the operator never reads the installer's Secrets), the database's CA bundle as a
//! read-only volume, and the Partners' secrets as the read-only directory the Partner
//! controller projects them into (`controller::partner::projection`).
//!
//! The Secrets live in the service namespace; all but the last are created by the installer:
//!
//! | Secret (operator flag) | key | becomes |
//! | --- | --- | --- |
//! | `--service-database-secret` (`loyalty-service-database`) | [`DATABASE_URL_KEY`] | `LOYALTY_DATABASE__URL` |
//! | `--service-secret` (`loyalty-service`) | [`LEADERBOARD_NAME_KEY_KEY`] | `LOYALTY_LEADERBOARD__NAME_KEY` |
//! | `--service-secret` (`loyalty-service`) | [`KEY_FILES`] (`kek`, `index-key`, `digest-key`) | files in [`KEYS_DIR`], named by `LOYALTY_CRYPTO__*_FILE` (ADR 0021) |
//! | `spec.service.databaseCaSecretRef` | as named | the file [`DATABASE_CA_PATH`] |
//! | [`PARTNER_SECRETS`] (the operator's) | `<CODE>`, `<CODE>.<webhook>` | files in [`PARTNER_SECRETS_DIR`], named by `LOYALTY_PARTNERS__SECRETS_DIR` |

use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, KeyToPath, SecretKeySelector, SecretVolumeSource, Volume, VolumeMount,
};
use loyalty_crds::region::LoyaltyRegion;

use super::workloads::SERVICE_PORT;
use crate::controller::Settings;

/// The key of the database Secret that holds the database URL.
pub const DATABASE_URL_KEY: &str = "url";
/// The key of the service Secret that holds the key leaderboard proxy names are derived with.
pub const LEADERBOARD_NAME_KEY_KEY: &str = "leaderboard-name-key";
/// The directory the database CA bundle is mounted in.
pub const DATABASE_CA_DIR: &str = "/etc/loyalty/database-ca";
/// The CA bundle's file name in [`DATABASE_CA_DIR`].
const DATABASE_CA_FILE: &str = "ca.crt";
/// The bundle's full path ([`DATABASE_CA_DIR`] / `ca.crt`), which the database URL names:
/// `sslrootcert=` this.
pub const DATABASE_CA_PATH: &str = "/etc/loyalty/database-ca/ca.crt";
/// The pod volume holding the bundle.
const DATABASE_CA_VOLUME: &str = "database-ca";
/// Secret volume files are readable by everyone in the pod (the service's UID is not root).
const DATABASE_CA_MODE: i32 = 0o444;

/// The directory the personal-data and digest keys are mounted in.
pub const KEYS_DIR: &str = "/etc/loyalty/keys";
/// (key of the service Secret, the service setting naming its file): the key-encryption key,
/// the blind-index key and the digest signing key (ADR 0021).
pub const KEY_FILES: [(&str, &str); 3] = [
    ("kek", "LOYALTY_CRYPTO__KEK_FILE"),
    ("index-key", "LOYALTY_CRYPTO__INDEX_KEY_FILE"),
    ("digest-key", "LOYALTY_CRYPTO__DIGEST_KEY_FILE"),
];
/// The pod volume holding the keys.
const KEYS_VOLUME: &str = "keys";
/// Key files are readable by the pod's group only (the pod's `fsGroup` owns them).
const KEYS_MODE: i32 = 0o440;

/// The Secret the Partner controller projects every Partner's secrets into.
pub const PARTNER_SECRETS: &str = "loyalty-partner-secrets";
/// The directory [`PARTNER_SECRETS`] is mounted in: the service's `partners.secrets_dir`.
pub const PARTNER_SECRETS_DIR: &str = "/etc/loyalty/partner-secrets";
/// The pod volume holding the Partner secrets.
const PARTNER_SECRETS_VOLUME: &str = "partner-secrets";

/// The container's environment: settings first, then the secrets.
pub fn env(r: &LoyaltyRegion, settings: &Settings) -> Vec<EnvVar> {
    let mut env = vec![
        plain("LOYALTY_REGION", r.spec.region.as_str()),
        plain("LOYALTY_LISTEN", format!("0.0.0.0:{SERVICE_PORT}")),
        plain("LOYALTY_LOG_FORMAT", "json"),
    ];
    if let Some(auth) = &r.spec.auth {
        env.extend([
            plain("LOYALTY_AUTH__ISSUER", auth.issuer.as_str()),
            plain("LOYALTY_AUTH__AUDIENCE", auth.audience.as_str()),
            plain("LOYALTY_AUTH__JWKS_URL", auth.jwks_url.as_str()),
        ]);
    }
    env.extend([
        secret(
            "LOYALTY_DATABASE__URL",
            &settings.service_database_secret,
            DATABASE_URL_KEY,
        ),
        secret(
            "LOYALTY_LEADERBOARD__NAME_KEY",
            &settings.service_secret,
            LEADERBOARD_NAME_KEY_KEY,
        ),
    ]);
    env.extend(
        KEY_FILES
            .iter()
            .map(|(key, setting)| plain(setting, format!("{KEYS_DIR}/{key}"))),
    );
    env.push(plain("LOYALTY_PARTNERS__SECRETS_DIR", PARTNER_SECRETS_DIR));
    env
}

/// The key files' volume (from the service Secret) and its read-only mount.
pub fn keys(settings: &Settings) -> (Volume, VolumeMount) {
    let items = KEY_FILES.iter().map(|(key, _)| item(key, key)).collect();
    let source = SecretVolumeSource {
        secret_name: Some(settings.service_secret.clone()),
        items: Some(items),
        default_mode: Some(KEYS_MODE),
        optional: None,
    };
    secret_volume(KEYS_VOLUME, source, KEYS_DIR)
}

/// The CA bundle's volume and its mount, when the spec names a Secret for it.
pub fn database_ca(r: &LoyaltyRegion) -> Option<(Volume, VolumeMount)> {
    let source = r.spec.service.database_ca_secret_ref.as_ref()?;
    let source = SecretVolumeSource {
        secret_name: Some(source.name.clone()),
        items: Some(vec![item(&source.key, DATABASE_CA_FILE)]),
        default_mode: Some(DATABASE_CA_MODE),
        optional: None,
    };
    Some(secret_volume(DATABASE_CA_VOLUME, source, DATABASE_CA_DIR))
}

/// The projected Partner secrets' volume, every key a file, and its read-only mount. It is
/// optional: a region starts before any Partner is projected, and the kubelet fills the
/// directory once the Secret exists.
pub fn partner_secrets() -> (Volume, VolumeMount) {
    let source = SecretVolumeSource {
        secret_name: Some(PARTNER_SECRETS.into()),
        items: None,
        default_mode: Some(KEYS_MODE),
        optional: Some(true),
    };
    secret_volume(PARTNER_SECRETS_VOLUME, source, PARTNER_SECRETS_DIR)
}

fn item(key: &str, path: &str) -> KeyToPath {
    KeyToPath {
        key: key.into(),
        path: path.into(),
        mode: None,
    }
}

/// A pod volume `name` from `source`, mounted read-only at `dir`.
fn secret_volume(name: &str, source: SecretVolumeSource, dir: &str) -> (Volume, VolumeMount) {
    let volume = Volume {
        name: name.into(),
        secret: Some(source),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: name.into(),
        mount_path: dir.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    (volume, mount)
}

fn plain(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}
