//! The region Deployment as rendered from the example regions: every secret reaches the
//! service by reference to a Secret key, never as a literal value; the settings from the spec
//! are plain; the database CA bundle is mounted read-only where the URL points.

use std::path::Path;

use k8s_openapi::api::core::v1::{EnvVar, PodSpec};
use loyalty_crds::region::LoyaltyRegion;
use loyalty_operator::controller::Settings;
use loyalty_operator::controller::region::service_config::{DATABASE_CA_PATH, PARTNER_SECRETS};
use loyalty_operator::controller::region::workloads::deployment;

use crate::helpers::yaml;

/// Every secret the service reads, with the Secret and key it must come from.
const SECRETS: [(&str, &str, &str); 2] = [
    ("LOYALTY_DATABASE__URL", "loyalty-service-database", "url"),
    (
        "LOYALTY_LEADERBOARD__NAME_KEY",
        "loyalty-service",
        "leaderboard-name-key",
    ),
];

/// Every plain setting of the eu-west-1 example, with its value.
const SETTINGS: [(&str, &str); 10] = [
    ("LOYALTY_REGION", "eu-west-1"),
    ("LOYALTY_LISTEN", "0.0.0.0:8080"),
    ("LOYALTY_LOG_FORMAT", "json"),
    ("LOYALTY_AUTH__ISSUER", "https://login.travel.example/"),
    ("LOYALTY_AUTH__AUDIENCE", "loyalty-api"),
    (
        "LOYALTY_AUTH__JWKS_URL",
        "https://login.travel.example/.well-known/jwks.json",
    ),
    ("LOYALTY_CRYPTO__KEK_FILE", "/etc/loyalty/keys/kek"),
    (
        "LOYALTY_CRYPTO__INDEX_KEY_FILE",
        "/etc/loyalty/keys/index-key",
    ),
    (
        "LOYALTY_CRYPTO__DIGEST_KEY_FILE",
        "/etc/loyalty/keys/digest-key",
    ),
    (
        "LOYALTY_PARTNERS__SECRETS_DIR",
        "/etc/loyalty/partner-secrets",
    ),
];

fn eu_west_1() -> LoyaltyRegion {
    let mut r: LoyaltyRegion = yaml("manifests/examples/platform/eu-west-1.yaml");
    // The owner reference needs the uid the API server would have assigned.
    r.metadata.uid = Some("00000000-0000-4000-8000-000000000001".into());
    r
}

fn pod(r: &LoyaltyRegion) -> PodSpec {
    let d = deployment(r, &Settings::default()).expect("render the Deployment");
    d.spec.unwrap().template.spec.unwrap()
}

fn env(pod: &PodSpec) -> &[EnvVar] {
    pod.containers[0].env.as_deref().unwrap_or_default()
}

#[test]
fn every_secret_comes_from_a_secret_key_and_every_other_variable_is_a_known_setting() {
    let pod = pod(&eu_west_1());
    for var in env(&pod) {
        let reference = var
            .value_from
            .as_ref()
            .and_then(|source| source.secret_key_ref.as_ref())
            .map(|s| (s.name.as_str(), s.key.as_str()));
        if let Some((_, secret, key)) = SECRETS.iter().find(|(name, ..)| *name == var.name) {
            assert_eq!(var.value, None, "{} must not be literal", var.name);
            assert_eq!(reference, Some((*secret, *key)), "{}", var.name);
        } else {
            let (_, value) = SETTINGS
                .iter()
                .find(|(name, _)| *name == var.name)
                .unwrap_or_else(|| panic!("{} is neither a known setting nor a secret", var.name));
            assert_eq!(var.value.as_deref(), Some(*value), "{}", var.name);
            assert!(var.value_from.is_none(), "{}", var.name);
        }
    }
    assert_eq!(env(&pod).len(), SECRETS.len() + SETTINGS.len());
}

#[test]
fn the_database_ca_the_spec_names_is_mounted_read_only_at_the_path_the_url_names() {
    let pod = pod(&eu_west_1());
    let mounts = pod.containers[0]
        .volume_mounts
        .as_deref()
        .unwrap_or_default();
    assert_eq!(
        mounts.len(),
        3,
        "the CA bundle, the keys, the partner secrets: {mounts:?}"
    );
    assert_eq!(mounts[0].read_only, Some(true));
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    let volume = volumes.iter().find(|v| v.name == mounts[0].name).unwrap();
    let secret = volume.secret.as_ref().expect("a Secret volume");
    assert_eq!(
        secret.secret_name.as_deref(),
        Some("loyalty-service-database")
    );
    let items = secret.items.as_deref().unwrap_or_default();
    assert_eq!(
        items.len(),
        1,
        "only the CA bundle is mounted, never the URL"
    );
    assert_eq!(items[0].key, "ca.crt");
    let file = Path::new(&mounts[0].mount_path).join(&items[0].path);
    assert_eq!(file, Path::new(DATABASE_CA_PATH));
}

#[test]
fn a_region_without_auth_or_database_ca_sets_no_auth_and_mounts_only_the_keys_and_partner_secrets()
{
    let mut r = eu_west_1();
    r.spec.auth = None;
    r.spec.service.database_ca_secret_ref = None;
    let pod = pod(&r);
    let mounts = pod.containers[0]
        .volume_mounts
        .as_deref()
        .unwrap_or_default();
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    assert_eq!((mounts.len(), volumes.len()), (2, 2), "{mounts:?}");
    assert_eq!(mounts[0].mount_path, "/etc/loyalty/keys");
    let secret = volumes[0].secret.as_ref().unwrap();
    let keys: Vec<&str> = secret
        .items
        .iter()
        .flatten()
        .map(|i| i.key.as_str())
        .collect();
    assert_eq!(keys, ["kek", "index-key", "digest-key"]);
    assert_eq!(secret.secret_name.as_deref(), Some("loyalty-service"));
    let names: Vec<&str> = env(&pod).iter().map(|v| v.name.as_str()).collect();
    assert!(
        !names.iter().any(|n| n.starts_with("LOYALTY_AUTH__")),
        "{names:?}"
    );
    assert!(
        names.contains(&"LOYALTY_LEADERBOARD__NAME_KEY"),
        "{names:?}"
    );
}

#[test]
fn the_projected_partner_secrets_are_mounted_read_only_and_optional_where_the_service_reads_them() {
    let pod = pod(&eu_west_1());
    let dir = env(&pod)
        .iter()
        .find(|v| v.name == "LOYALTY_PARTNERS__SECRETS_DIR")
        .and_then(|v| v.value.clone())
        .expect("partners.secrets_dir is set");
    let mounts = pod.containers[0]
        .volume_mounts
        .as_deref()
        .unwrap_or_default();
    let mount = mounts.iter().find(|m| m.mount_path == dir).unwrap();
    assert_eq!(mount.read_only, Some(true));
    assert_eq!(
        mount.sub_path, None,
        "a subPath mount would never see a rotation"
    );
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    let volume = volumes.iter().find(|v| v.name == mount.name).unwrap();
    let secret = volume.secret.as_ref().expect("a Secret volume");
    assert_eq!(secret.secret_name.as_deref(), Some(PARTNER_SECRETS));
    assert_eq!(
        secret.optional,
        Some(true),
        "a region without partners starts"
    );
    assert_eq!(secret.items, None, "every projected key is a file");
}
