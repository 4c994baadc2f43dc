//! The LoyaltyRegion controller against the stand-in and PostgreSQL, with the example regions.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use loyalty_crds::common::{find_condition, is_condition_true};
use loyalty_crds::region::{LoyaltyRegion, RegionPhase};
use serde_json::{Value, json};

use crate::helpers::{Cluster, Operator, event_reasons, eventually, fresh_database, sql, yaml};

fn example(name: &str) -> LoyaltyRegion {
    yaml(&format!("manifests/examples/platform/{name}.yaml"))
}

async fn create_examples(client: &Client) -> Api<LoyaltyRegion> {
    let api: Api<LoyaltyRegion> = Api::all(client.clone());
    for name in ["eu-west-1", "eu-central-1", "us-east-1"] {
        api.create(&PostParams::default(), &example(name))
            .await
            .unwrap();
    }
    api
}

async fn homes(db: &tokio_postgres::Client, region: &str) -> Vec<String> {
    db.query(
        "SELECT country FROM country_homes WHERE region = $1 ORDER BY country",
        &[&region],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

async fn region_row(
    db: &tokio_postgres::Client,
    name: &str,
) -> (String, String, i64, String, String) {
    let r = db
        .query_one("SELECT residency_group, state, epoch, endpoint, served_by FROM regions WHERE name = $1", &[&name])
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
}

async fn active(api: &Api<LoyaltyRegion>, name: &str) -> Option<LoyaltyRegion> {
    let r = api.get(name).await.unwrap();
    (r.status.as_ref()?.phase == Some(RegionPhase::Active)).then_some(r)
}

#[tokio::test]
async fn the_example_regions_get_rows_country_homes_placement_workloads_and_status() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    // eu-west-1 alone first: the seed homes IT in eu-central-1, which no LoyaltyRegion
    // declares yet, so eu-west-1 takes IT over and says so.
    let api: Api<LoyaltyRegion> = Api::all(cluster.client.clone());
    api.create(&PostParams::default(), &example("eu-west-1"))
        .await
        .unwrap();
    eventually("eu-west-1 is Active", || active(&api, "eu-west-1")).await;
    let reasons = event_reasons(&cluster.client, "default", "eu-west-1").await;
    assert!(
        reasons.contains(&"CountryRehomed".to_owned()),
        "{reasons:?}"
    );
    for name in ["eu-central-1", "us-east-1"] {
        api.create(&PostParams::default(), &example(name))
            .await
            .unwrap();
    }
    for name in ["eu-west-1", "eu-central-1", "us-east-1"] {
        eventually(&format!("{name} is Active"), || active(&api, name)).await;
    }

    let eu_west = api.get("eu-west-1").await.unwrap();
    let status = eu_west.status.unwrap();
    assert!(is_condition_true(&status.conditions, "Placed"));
    assert!(
        !is_condition_true(&status.conditions, "ServiceReady"),
        "no pods run on the stand-in"
    );
    assert_eq!(
        find_condition(&status.conditions, "Ready").unwrap().reason,
        "ServiceNotReady"
    );
    assert_eq!(status.serving_region.unwrap().as_str(), "eu-west-1");
    assert_eq!(status.epoch, 1);
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        status.placement.unwrap().applied.unwrap().locality,
        "aws-eu-west-1"
    );

    let (group, state, epoch, endpoint, served_by) = region_row(&db, "eu-west-1").await;
    assert_eq!(
        (group.as_str(), state.as_str(), epoch, served_by.as_str()),
        ("eu", "active", 1, "eu-west-1")
    );
    assert_eq!(endpoint, "https://eu-west-1.loyalty.travel.example");
    // The seed homed IT in eu-central-1 and CA, MX in us-east-1; the declarations win.
    assert_eq!(
        homes(&db, "eu-west-1").await,
        ["BE", "ES", "FR", "IE", "IT", "LU", "MT", "NL", "PT"]
    );
    assert_eq!(homes(&db, "us-east-1").await, ["PR", "US"]);
    let placement = db
        .query_one(
            "SELECT desired, applied, backend FROM region_placements WHERE region = 'eu-central-1'",
            &[],
        )
        .await
        .unwrap();
    let (desired, applied, backend): (Value, Option<Value>, String) =
        (placement.get(0), placement.get(1), placement.get(2));
    assert_eq!(backend, "postgres");
    assert_eq!(
        desired,
        json!({"locality": "aws-eu-central-1", "primary": false, "survivalGoal": "Zone"})
    );
    assert_eq!(applied, Some(desired));

    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), "loyalty-system");
    let d = deployments.get("loyalty-eu-west-1").await.unwrap();
    let owner = &d.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("LoyaltyRegion", "eu-west-1", Some(true))
    );
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.node_selector.unwrap()["topology.kubernetes.io/region"],
        "eu-west-1"
    );
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("ghcr.io/example/loyalty-service:0.1.0")
    );
    let env = container.env.as_ref().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "LOYALTY_REGION" && e.value.as_deref() == Some("eu-west-1"))
    );
    let db_url = env
        .iter()
        .find(|e| e.name == "LOYALTY_DATABASE__URL")
        .unwrap();
    assert_eq!(
        db_url
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap()
            .name,
        "loyalty-service-database"
    );
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), "loyalty-system");
    assert!(
        services
            .get_opt("loyalty-us-east-1")
            .await
            .unwrap()
            .is_some()
    );
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(cluster.client.clone(), "loyalty-system");
    assert!(
        pdbs.get_opt("loyalty-eu-central-1")
            .await
            .unwrap()
            .is_some()
    );

    // The stand-in runs no Deployment controller: report the replicas available ourselves,
    // and the owned-object watch brings the region to Ready.
    let available = json!({"status": {"observedGeneration": d.metadata.generation, "replicas": 3, "availableReplicas": 3, "readyReplicas": 3}});
    deployments
        .patch_status(
            "loyalty-eu-west-1",
            &PatchParams::default(),
            &Patch::Merge(&available),
        )
        .await
        .unwrap();
    eventually("eu-west-1 is Ready", || async {
        let s = api.get("eu-west-1").await.unwrap().status?;
        is_condition_true(&s.conditions, "Ready").then_some(())
    })
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn a_region_claiming_a_country_homed_by_an_earlier_region_is_refused_without_a_database_change()
 {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    let api = create_examples(&cluster.client).await;
    eventually("eu-west-1 is Active", || active(&api, "eu-west-1")).await;

    // Created later (or in the same second, and named later): it loses both countries.
    let mut late = example("eu-central-1");
    late.metadata.name = Some("eu-west-2".into());
    late.spec.region = "eu-west-2".parse().unwrap();
    late.spec.countries = vec!["FR".parse().unwrap(), "GR".parse().unwrap()];
    late.spec.database.locality = "aws-eu-west-2".into();
    api.create(&PostParams::default(), &late).await.unwrap();
    let status = eventually("eu-west-2 is refused", || async {
        let s = api.get("eu-west-2").await.unwrap().status?;
        (s.phase == Some(RegionPhase::Error)).then_some(s)
    })
    .await;
    let ready = find_condition(&status.conditions, "Ready").unwrap();
    assert_eq!(ready.reason, "CountryConflict");
    assert!(
        ready
            .message
            .contains("FR (homed by eu-west-1), GR (homed by eu-central-1)"),
        "{}",
        ready.message
    );
    assert_eq!(
        db.query("SELECT 1 FROM regions WHERE name = 'eu-west-2'", &[])
            .await
            .unwrap()
            .len(),
        0
    );
    assert!(homes(&db, "eu-west-1").await.contains(&"FR".to_owned()));
    assert!(
        homes(&db, "eu-central-1").await.contains(&"GR".to_owned()),
        "GR stays with its declared region"
    );
    assert!(
        event_reasons(&cluster.client, "default", "eu-west-2")
            .await
            .contains(&"Error".to_owned())
    );
    operator.stop().await;
}

#[tokio::test]
async fn updating_then_deleting_a_region_follows_its_replicas_and_fences_its_row() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    let api = create_examples(&cluster.client).await;
    eventually("us-east-1 is Active", || active(&api, "us-east-1")).await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(cluster.client.clone(), "loyalty-system");
    assert!(pdbs.get_opt("loyalty-us-east-1").await.unwrap().is_some());

    let patch = json!({"spec": {"service": {"replicas": 1}, "countries": ["US"]}});
    api.patch("us-east-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually("the PDB goes with the second replica", || async {
        pdbs.get_opt("loyalty-us-east-1")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    eventually("PR is no longer homed in us-east-1", || async {
        (homes(&db, "us-east-1").await == ["US"]).then_some(())
    })
    .await;

    api.delete("us-east-1", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the region is gone", || async {
        api.get_opt("us-east-1")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let (_, state, epoch, _, served_by) = region_row(&db, "us-east-1").await;
    assert_eq!(
        (state.as_str(), epoch, served_by.as_str()),
        ("fenced", 2, "us-east-1")
    );
    assert!(homes(&db, "us-east-1").await.is_empty());
    assert_eq!(
        db.query(
            "SELECT 1 FROM region_placements WHERE region = 'us-east-1'",
            &[]
        )
        .await
        .unwrap()
        .len(),
        0
    );
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), "loyalty-system");
    assert!(
        deployments
            .get_opt("loyalty-us-east-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        deployments
            .get_opt("loyalty-eu-west-1")
            .await
            .unwrap()
            .is_some()
    );

    // Declaring the region again revives its row with a new epoch.
    api.create(&PostParams::default(), &example("us-east-1"))
        .await
        .unwrap();
    eventually("us-east-1 is Active again", || active(&api, "us-east-1")).await;
    let (_, state, epoch, _, _) = region_row(&db, "us-east-1").await;
    assert_eq!((state.as_str(), epoch), ("active", 3));
    operator.stop().await;
}
