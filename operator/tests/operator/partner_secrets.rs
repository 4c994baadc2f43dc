//! The projection of Partner secrets into the region namespace, against the stand-in and
//! PostgreSQL: exactly the owner's keys with the source values, following rotation, a removed
//! webhook, a vanished Secret and a deleted Partner; nothing in any other namespace, nothing
//! from a Partner refused for a taken code, no value in status or Events; the region's
//! Deployment mounts it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use loyalty_crds::common::{PartnerCode, SecretKeyRef, find_condition};
use loyalty_crds::partner::{Partner, PartnerPhase};
use loyalty_crds::region::LoyaltyRegion;
use loyalty_operator::controller::Settings;
use loyalty_operator::controller::region::service_config::PARTNER_SECRETS;
use serde_json::json;

use crate::helpers::{Cluster, Operator, delete_and_wait, eventually, fresh_database, yaml};
use crate::partner::in_phase;

const PARTNERS_NS: &str = "loyalty-partners";
/// The service namespace: where every region's workloads run.
const REGION_NS: &str = "loyalty-system";
/// Every namespace the harness creates.
const NAMESPACES: [&str; 3] = ["marketing-eu", PARTNERS_NS, REGION_NS];

/// An operator that re-checks ready Partners every second, so a rotation shows within the
/// tests' patience.
fn operator(client: &Client, url: &str) -> Operator {
    let settings = Settings {
        partner_resync: Duration::from_secs(1),
        ..Settings::default()
    };
    Operator::start_with(client, url, settings)
}

fn secret(name: &str, pairs: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// A Partner `name` with `code`, its inbound credential at `inbound` and one webhook per
/// `(name, secret ref)`, otherwise the Air France example.
fn partner(
    name: &str,
    code: &str,
    inbound: SecretKeyRef,
    hooks: &[(&str, SecretKeyRef)],
) -> Partner {
    let mut p: Partner = yaml("manifests/examples/partners/air-france.yaml");
    p.metadata.name = Some(name.into());
    p.spec.partner_code = PartnerCode::new(code).unwrap();
    p.spec.credentials_secret_ref = inbound;
    let template = p.spec.webhooks[0].clone();
    p.spec.webhooks = hooks
        .iter()
        .map(|(hook, r)| {
            let mut h = template.clone();
            h.name = (*hook).into();
            h.url = format!("https://{name}.example/{hook}");
            h.signing_secret_ref = r.clone();
            h
        })
        .collect();
    p
}

fn key(name: &str, key: &str) -> SecretKeyRef {
    SecretKeyRef {
        name: name.into(),
        key: key.into(),
    }
}

/// The projected Secret's data as text (empty when it does not exist).
async fn projected(client: &Client) -> BTreeMap<String, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), REGION_NS);
    let data = secrets
        .get_opt(PARTNER_SECRETS)
        .await
        .unwrap()
        .and_then(|s| s.data)
        .unwrap_or_default();
    data.into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

fn texts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Air France's credentials, as its example Partner names them.
fn air_france_credentials() -> Secret {
    secret(
        "air-france-credentials",
        &[
            ("api-token", "whsec_af"),
            ("webhook-secret", "whsec_afhooks"),
        ],
    )
}

/// Waits until the projected Secret holds exactly `want`.
async fn projected_becomes(client: &Client, what: &str, want: &[(&str, &str)]) {
    let want = texts(want);
    let mut last = BTreeMap::new();
    let found = tokio::time::timeout(crate::helpers::CONVERGE_TIMEOUT, async {
        loop {
            last = projected(client).await;
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "{what}: want {want:?}, have {last:?}");
}

/// The names of the Secrets in each of the harness's namespaces.
async fn secret_names(client: &Client) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for ns in NAMESPACES {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
        let list = secrets.list(&ListParams::default()).await.unwrap();
        let names = list
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect();
        out.insert(ns, names);
    }
    out
}

/// Every Partner's status and every Event, as one text to search for leaked values.
async fn statuses_and_events(client: &Client) -> String {
    let partners: Api<Partner> = Api::all(client.clone());
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(client.clone());
    let statuses: Vec<_> = partners
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.status)
        .collect();
    let events = events.list(&ListParams::default()).await.unwrap().items;
    format!("{}", json!({"statuses": statuses, "events": events}))
}

async fn create<K>(api: &Api<K>, obj: &K)
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.create(&PostParams::default(), obj).await.unwrap();
}

#[tokio::test]
async fn the_owners_secrets_are_projected_into_the_region_namespace_and_follow_rotation_and_removal()
 {
    let cluster = Cluster::start().await;
    let client = &cluster.client;
    let url = fresh_database().await;
    let operator = operator(client, &url);
    let regions: Api<LoyaltyRegion> = Api::all(client.clone());
    create(
        &regions,
        &yaml("manifests/examples/platform/eu-west-1.yaml"),
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), PARTNERS_NS);
    create(
        &secrets,
        &secret(
            "acme-credentials",
            &[
                ("inbound", "whsec_in1"),
                ("bookings", "whsec_b1"),
                ("unused", "whsec_never"),
            ],
        ),
    )
    .await;
    create(&secrets, &secret("acme-expiry", &[("signing", "whsec_e1")])).await;
    create(&secrets, &air_france_credentials()).await;
    let partners: Api<Partner> = Api::namespaced(client.clone(), PARTNERS_NS);
    let hooks = [
        ("bookings", key("acme-credentials", "bookings")),
        ("expiry", key("acme-expiry", "signing")),
    ];
    create(
        &partners,
        &partner("acme", "AC", key("acme-credentials", "inbound"), &hooks),
    )
    .await;
    create(
        &partners,
        &yaml("manifests/examples/partners/air-france.yaml"),
    )
    .await;

    projected_becomes(
        client,
        "both partners projected",
        &[
            ("AC", "whsec_in1"),
            ("AC.bookings", "whsec_b1"),
            ("AC.expiry", "whsec_e1"),
            ("AF", "whsec_af"),
            ("AF.loyalty-events", "whsec_afhooks"),
        ],
    )
    .await;
    let copy = Api::<Secret>::namespaced(client.clone(), REGION_NS)
        .get(PARTNER_SECRETS)
        .await
        .unwrap();
    let labels = copy.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("loyalty-operator")
    );
    assert_eq!(
        secret_names(client).await,
        BTreeMap::from([
            ("marketing-eu", BTreeSet::new()),
            (
                PARTNERS_NS,
                ["acme-credentials", "acme-expiry", "air-france-credentials"]
                    .map(String::from)
                    .into()
            ),
            (REGION_NS, BTreeSet::from([PARTNER_SECRETS.to_owned()])),
        ]),
        "the projection is in the region namespace only"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), REGION_NS);
    let deployment = eventually("the region's Deployment", || async {
        deployments.get_opt("loyalty-eu-west-1").await.unwrap()
    })
    .await;
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let volume = pod.volumes.unwrap_or_default().into_iter().find(|v| {
        v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(PARTNER_SECRETS)
    });
    let volume = volume.expect("the Deployment mounts the projected Secret");
    let container = &pod.containers[0];
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume.name)
        .unwrap();
    let dir = container
        .env
        .iter()
        .flatten()
        .find(|v| v.name == "LOYALTY_PARTNERS__SECRETS_DIR");
    assert_eq!(
        dir.and_then(|v| v.value.as_deref()),
        Some(mount.mount_path.as_str())
    );
    assert_eq!(mount.read_only, Some(true));

    // Rotation: nothing about the Partner changes; its resync picks the new value up.
    let mut rotated = secrets.get("acme-credentials").await.unwrap();
    rotated
        .data
        .get_or_insert_default()
        .insert("inbound".into(), ByteString(b"whsec_in2".to_vec()));
    secrets
        .replace("acme-credentials", &PostParams::default(), &rotated)
        .await
        .unwrap();
    projected_becomes(
        client,
        "the rotated inbound secret",
        &[
            ("AC", "whsec_in2"),
            ("AC.bookings", "whsec_b1"),
            ("AC.expiry", "whsec_e1"),
            ("AF", "whsec_af"),
            ("AF.loyalty-events", "whsec_afhooks"),
        ],
    )
    .await;

    let mut fewer = partners.get("acme").await.unwrap();
    fewer.spec.webhooks.truncate(1);
    partners
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"webhooks": fewer.spec.webhooks}})),
        )
        .await
        .unwrap();
    projected_becomes(
        client,
        "the removed webhook's key is gone",
        &[
            ("AC", "whsec_in2"),
            ("AC.bookings", "whsec_b1"),
            ("AF", "whsec_af"),
            ("AF.loyalty-events", "whsec_afhooks"),
        ],
    )
    .await;

    partners
        .delete("acme", &DeleteParams::default())
        .await
        .unwrap();
    projected_becomes(
        client,
        "the deleted partner's keys are gone",
        &[("AF", "whsec_af"), ("AF.loyalty-events", "whsec_afhooks")],
    )
    .await;

    secrets
        .delete("air-france-credentials", &DeleteParams::default())
        .await
        .unwrap();
    projected_becomes(client, "a vanished Secret's keys are gone", &[]).await;
    in_phase(&partners, "air-france", PartnerPhase::Error).await;
    let seen = statuses_and_events(client).await;
    assert!(
        !seen.contains("whsec_"),
        "a secret value in status or Events: {seen}"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_partner_refused_for_a_taken_code_neither_projects_nor_withdraws_the_owners_keys() {
    let cluster = Cluster::start().await;
    let client = &cluster.client;
    let url = fresh_database().await;
    let operator = operator(client, &url);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), PARTNERS_NS);
    create(&secrets, &air_france_credentials()).await;
    create(
        &secrets,
        &secret(
            "impostor",
            &[
                ("api-token", "whsec_impostor"),
                ("webhook-secret", "whsec_impostorhooks"),
            ],
        ),
    )
    .await;
    let partners: Api<Partner> = Api::namespaced(client.clone(), PARTNERS_NS);
    create(
        &partners,
        &yaml("manifests/examples/partners/air-france.yaml"),
    )
    .await;
    let owner = [("AF", "whsec_af"), ("AF.loyalty-events", "whsec_afhooks")];
    projected_becomes(client, "the owner's keys", &owner).await;

    let hooks = [("loyalty-events", key("impostor", "webhook-secret"))];
    create(
        &partners,
        &partner(
            "air-france-copy",
            "AF",
            key("impostor", "api-token"),
            &hooks,
        ),
    )
    .await;
    let status = in_phase(&partners, "air-france-copy", PartnerPhase::Error).await;
    assert_eq!(
        find_condition(&status.conditions, "Ready").unwrap().reason,
        "PartnerCodeTaken"
    );
    // The copy has reconciled more than once (resync every second) when the owner's keys still stand.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(projected(client).await, texts(&owner));

    delete_and_wait(&partners, "air-france-copy").await;
    assert_eq!(projected(client).await, texts(&owner));
    operator.stop().await;
}
