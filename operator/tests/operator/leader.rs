//! Leader election: two whole operator instances share a Lease; only the holder reconciles,
//! and the other takes over when the holder stops renewing.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, PostParams};
use loyalty_crds::campaign::{Campaign, CampaignPhase};
use loyalty_operator::controller::{Settings, shutdown_pair};
use loyalty_operator::leader::LeaseConfig;
use loyalty_operator::{BackendKind, Config};
use serde_json::json;

use crate::campaign::campaign;
use crate::helpers::{Cluster, eventually, fresh_database};

const NS: &str = "marketing-eu";

/// A whole operator with leader election on short timings, for the tests.
pub fn config(db_url: &str, identity: &str) -> Config {
    Config {
        database_url: db_url.to_owned(),
        backend: BackendKind::Postgres,
        http_addr: "127.0.0.1:0".parse().unwrap(),
        lease: LeaseConfig {
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            renew_interval: Duration::from_millis(300),
            retry_interval: Duration::from_millis(300),
            ..LeaseConfig::new("loyalty-system", "loyalty-operator", identity)
        },
        settings: Settings {
            instance: Some(identity.to_owned()),
            ..Settings::default()
        },
    }
}

async fn holder(client: &Client) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "loyalty-system");
    leases
        .get_opt("loyalty-operator")
        .await
        .unwrap()?
        .spec?
        .holder_identity
}

/// The reporting instances of the Events about campaign `name`.
async fn reporters(client: &Client, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let mut r: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reporting_instance)
        .collect();
    r.dedup();
    r
}

async fn is_active(api: &Api<Campaign>, name: &str) -> Option<()> {
    (api.get(name).await.unwrap().status?.phase == Some(CampaignPhase::Active)).then_some(())
}

#[tokio::test]
async fn only_the_lease_holder_reconciles_and_a_standby_takes_over_when_it_stops_renewing() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let client = cluster.client.clone();
    let (stop_a, signal_a) = shutdown_pair();
    let a = tokio::spawn(loyalty_operator::run(
        config(&url, "operator-a"),
        client.clone(),
        signal_a,
    ));
    eventually("a holds the lease", || async {
        (holder(&client).await.as_deref() == Some("operator-a")).then_some(())
    })
    .await;
    let (stop_b, signal_b) = shutdown_pair();
    let b = tokio::spawn(loyalty_operator::run(
        config(&url, "operator-b"),
        client.clone(),
        signal_b,
    ));

    let api: Api<Campaign> = Api::namespaced(client.clone(), NS);
    api.create(&PostParams::default(), &campaign("first", json!({})))
        .await
        .unwrap();
    eventually("first is Active", || is_active(&api, "first")).await;
    assert_eq!(reporters(&client, "first").await, ["operator-a"]);
    assert_eq!(holder(&client).await.as_deref(), Some("operator-a"));

    // a crashes: it neither renews nor releases. b takes over once the lease expires.
    a.abort();
    drop(stop_a);
    eventually("b holds the lease", || async {
        (holder(&client).await.as_deref() == Some("operator-b")).then_some(())
    })
    .await;
    api.create(&PostParams::default(), &campaign("second", json!({})))
        .await
        .unwrap();
    eventually("second is Active", || is_active(&api, "second")).await;
    assert_eq!(reporters(&client, "second").await, ["operator-b"]);
    let leases: Api<Lease> = Api::namespaced(client.clone(), "loyalty-system");
    let transitions = leases
        .get("loyalty-operator")
        .await
        .unwrap()
        .spec
        .unwrap()
        .lease_transitions;
    assert_eq!(transitions, Some(1));

    // A graceful stop releases the lease at once.
    stop_b.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), b)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(holder(&client).await, None);
}

#[tokio::test]
async fn a_leader_that_finds_another_holder_steps_down_and_stops_reconciling() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let client = cluster.client.clone();
    let (stop, signal) = shutdown_pair();
    let a = tokio::spawn(loyalty_operator::run(
        config(&url, "operator-a"),
        client.clone(),
        signal,
    ));
    eventually("a holds the lease", || async {
        (holder(&client).await.as_deref() == Some("operator-a")).then_some(())
    })
    .await;

    // Someone else takes the lease (the resourceVersion-guarded replace of another instance).
    let leases: Api<Lease> = Api::namespaced(client.clone(), "loyalty-system");
    let mut lease = leases.get("loyalty-operator").await.unwrap();
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.lease_duration_seconds = Some(4);
    leases
        .replace("loyalty-operator", &PostParams::default(), &lease)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let api: Api<Campaign> = Api::namespaced(client.clone(), NS);
    api.create(&PostParams::default(), &campaign("orphan", json!({})))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        api.get("orphan").await.unwrap().status.is_none(),
        "a stepped-down leader reconciled"
    );

    // The intruder never renews: a takes the lease back and reconciles.
    eventually("orphan is Active", || is_active(&api, "orphan")).await;
    assert_eq!(holder(&client).await.as_deref(), Some("operator-a"));
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), a)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
