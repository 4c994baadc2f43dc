//! The Partner controller against the stand-in and PostgreSQL.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use loyalty_crds::common::find_condition;
use loyalty_crds::partner::{Partner, PartnerPhase, PartnerStatus};
use loyalty_operator::controller::partner::fingerprint;
use serde_json::{Value, json};

use crate::helpers::{
    Cluster, Operator, delete_and_wait, event_reasons, eventually, fresh_database, sql, yaml,
};

const NS: &str = "loyalty-partners";

/// Waits until the Partner `name` reports `phase`; its status.
pub async fn in_phase(partners: &Api<Partner>, name: &str, phase: PartnerPhase) -> PartnerStatus {
    eventually(&format!("{name} is {phase:?}"), || async {
        let s = partners.get(name).await.unwrap().status?;
        (s.phase == Some(phase)).then_some(s)
    })
    .await
}

#[tokio::test]
async fn a_partner_waits_in_error_for_its_secret_then_publishes_its_row_and_deletes_it_on_deletion()
{
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    let partners: Api<Partner> = Api::namespaced(cluster.client.clone(), NS);
    let example: Partner = yaml("manifests/examples/partners/air-france.yaml");
    partners
        .create(&PostParams::default(), &example)
        .await
        .unwrap();

    let status = in_phase(&partners, "air-france", PartnerPhase::Error).await;
    assert!(!status.credentials_resolved);
    assert_eq!(
        find_condition(&status.conditions, "CredentialsResolved")
            .unwrap()
            .reason,
        "SecretNotFound"
    );
    assert_eq!(
        db.query("SELECT 1 FROM partners", &[]).await.unwrap().len(),
        0
    );

    // The backoff (1 s, 2 s, 4 s …) retries and finds the Secret once it exists.
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), NS);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("air-france-credentials".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("api-token".to_owned(), ByteString(b"s3cr3t-token".to_vec())),
            (
                "webhook-secret".to_owned(),
                ByteString(b"whsec_hooks".to_vec()),
            ),
        ])),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    in_phase(&partners, "air-france", PartnerPhase::Ready).await;
    let row = db
        .query_one("SELECT namespace, name, credentials_sha256, retry_policy, bonus_rules, enabled FROM partners WHERE code = 'AF'", &[])
        .await
        .unwrap();
    let (ns, name, sha, retry, bonus, enabled): (String, String, String, Value, Value, bool) = (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    );
    assert_eq!(
        (ns.as_str(), name.as_str(), enabled),
        (NS, "air-france", true)
    );
    assert_eq!(sha, fingerprint(b"s3cr3t-token"));
    assert_eq!(sha.len(), 64);
    assert_eq!(retry["maxAttempts"], 6);
    assert_eq!(
        bonus,
        json!([{"productTypes": ["flight"], "pointsPerBooking": 250}, {"productTypes": ["hotel"], "multiplierMilli": 1500}])
    );
    let hook = db
        .query_one(
            "SELECT name, url, event_types, secret_sha256, disabled_at IS NULL FROM webhook_subscriptions \
             WHERE partner_code = 'AF'",
            &[],
        )
        .await
        .unwrap();
    let (hook_name, url, types, hook_sha, enabled): (String, String, Value, String, bool) = (
        hook.get(0),
        hook.get(1),
        hook.get(2),
        hook.get(3),
        hook.get(4),
    );
    assert_eq!(
        (hook_name.as_str(), url.as_str(), enabled),
        (
            "loyalty-events",
            "https://partners.airfrance.example/loyalty/v1/events",
            true
        )
    );
    assert_eq!(
        types,
        json!(["points.earned", "partner.bonus.awarded", "points.expiring"])
    );
    assert_eq!(hook_sha, fingerprint(b"whsec_hooks"));
    let reasons = event_reasons(&cluster.client, NS, "air-france").await;
    assert!(
        reasons.contains(&"SecretNotFound".to_owned()) && reasons.contains(&"Ready".to_owned()),
        "{reasons:?}"
    );

    delete_and_wait(&partners, "air-france").await;
    assert_eq!(
        db.query("SELECT 1 FROM partners", &[]).await.unwrap().len(),
        0
    );
    assert_eq!(
        db.query("SELECT 1 FROM webhook_subscriptions", &[])
            .await
            .unwrap()
            .len(),
        0
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_second_partner_with_a_taken_code_is_refused_and_writes_nothing() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), NS);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("air-france-credentials".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("api-token".to_owned(), ByteString(b"t".to_vec())),
            ("webhook-secret".to_owned(), ByteString(b"w".to_vec())),
        ])),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let partners: Api<Partner> = Api::namespaced(cluster.client.clone(), NS);
    let first: Partner = yaml("manifests/examples/partners/air-france.yaml");
    partners
        .create(&PostParams::default(), &first)
        .await
        .unwrap();
    in_phase(&partners, "air-france", PartnerPhase::Ready).await;
    let mut copy = first.clone();
    copy.metadata.name = Some("air-france-copy".into());
    copy.spec.display_name = "Not Air France".into();
    partners
        .create(&PostParams::default(), &copy)
        .await
        .unwrap();
    let status = in_phase(&partners, "air-france-copy", PartnerPhase::Error).await;
    assert_eq!(
        find_condition(&status.conditions, "Ready").unwrap().reason,
        "PartnerCodeTaken"
    );
    let names: Vec<String> = db
        .query("SELECT display_name FROM partners", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["Air France"]);
    operator.stop().await;
}
