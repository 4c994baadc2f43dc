//! Region failover end to end: the real controllers and failover loop against the stand-in
//! and PostgreSQL, probing real service instances (one per region, behind a [`Gate`]) over
//! HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use loyalty_crds::common::find_condition;
use loyalty_crds::region::{LoyaltyRegion, RegionPhase, conditions};
use loyalty_service::auth::dev::DevIssuer;
use loyalty_service::config::Config;
use loyalty_service::startup::Application;
use serde_json::json;

use crate::gate::Gate;
use crate::helpers::{Cluster, Operator, event_reasons, eventually, fresh_database, sql, yaml};
use crate::leader::config as leader_config;

const REGIONS: [&str; 3] = ["eu-west-1", "eu-central-1", "us-east-1"];

/// The three example regions, each with a real service instance behind a gate, fast
/// failover settings, and the operator running.
struct Topology {
    cluster: Cluster,
    url: String,
    db: tokio_postgres::Client,
    gates: BTreeMap<&'static str, Gate>,
    operator: Option<Operator>,
}

impl Topology {
    async fn start(mode: &str) -> Topology {
        let mut t = Topology::without_operator(mode).await;
        t.operator = Some(Operator::start(t.client(), &t.url));
        t.all_active().await;
        t
    }

    async fn all_active(&self) {
        for region in REGIONS {
            self.phase_becomes(region, RegionPhase::Active).await;
        }
    }

    /// The regions, their services and gates, and no operator yet.
    async fn without_operator(mode: &str) -> Topology {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("loyalty_operator=info")
            .try_init();
        let cluster = Cluster::start().await;
        let url = fresh_database().await;
        let db = sql(&url).await;
        let mut gates = BTreeMap::new();
        for region in REGIONS {
            gates.insert(region, Gate::start(spawn_service(&url, region).await).await);
        }
        let api: Api<LoyaltyRegion> = Api::all(cluster.client.clone());
        for region in REGIONS {
            let mut r: LoyaltyRegion = yaml(&format!("manifests/examples/platform/{region}.yaml"));
            r.spec.endpoint = gates[region].url.clone();
            r.spec.failover = serde_json::from_value(json!({
                "mode": mode, "probeIntervalSeconds": 1, "failureThreshold": 2,
                "successThreshold": 2, "stabilizationWindowSeconds": 2,
            }))
            .unwrap();
            api.create(&PostParams::default(), &r).await.unwrap();
        }
        Topology {
            cluster,
            url,
            db,
            gates,
            operator: None,
        }
    }

    fn client(&self) -> &Client {
        &self.cluster.client
    }

    fn api(&self) -> Api<LoyaltyRegion> {
        Api::all(self.client().clone())
    }

    async fn row(&self, region: &str) -> (String, i64, String) {
        let r = self
            .db
            .query_one(
                "SELECT state, epoch, served_by FROM regions WHERE name = $1",
                &[&region],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    }

    /// The reasons of `region`'s transitions, oldest first.
    async fn transitions(&self, region: &str) -> Vec<String> {
        self.db
            .query(
                "SELECT reason FROM region_transitions WHERE region = $1 ORDER BY epoch",
                &[&region],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Whether an Event with `reason` was published about `region`.
    async fn announced(&self, region: &str, reason: &str) -> bool {
        event_reasons(self.client(), "default", region)
            .await
            .iter()
            .any(|r| r == reason)
    }

    async fn phase_becomes(&self, region: &str, phase: RegionPhase) -> LoyaltyRegion {
        let api = self.api();
        eventually(&format!("{region} reaches phase {phase:?}"), || {
            let api = api.clone();
            async move {
                let r = api.get(region).await.ok()?;
                (r.status.as_ref()?.phase == Some(phase)).then_some(r)
            }
        })
        .await
    }

    async fn patch(&self, region: &str, patch: serde_json::Value) {
        self.api()
            .patch(region, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
}

/// A real service instance of `region` on `url`, on a free port, until the test ends. The
/// operator only probes its `/readyz`, so it trusts a key set nobody signs with.
async fn spawn_service(url: &str, region: &str) -> std::net::SocketAddr {
    let defaults = Config::default();
    let issuer = DevIssuer::generate("https://issuer.operator-tests.invalid", "loyalty-api");
    let jwks = std::env::temp_dir().join(format!(
        "loyalty-operator-jwks-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    issuer.write_jwks(&jwks).expect("write a key set");
    let config = Config {
        auth: issuer.auth_config(&jwks),
        listen: "127.0.0.1:0".parse().unwrap(),
        region: region.to_owned(),
        jobs: loyalty_service::config::JobsConfig {
            interval_ms: 0,
            ..defaults.jobs.clone()
        },
        ..defaults
    };
    let app = Application::build(config, url).await.expect("build app");
    let addr = app.local_addr().unwrap();
    tokio::spawn(app.serve(std::future::pending()));
    addr
}

#[tokio::test]
async fn a_dead_region_fails_over_within_its_group_and_fails_back_after_recovering() {
    let t = Topology::start("Automatic").await;
    let (_, epoch, _) = t.row("eu-west-1").await;
    t.gates["eu-west-1"].close();
    let r = t.phase_becomes("eu-west-1", RegionPhase::FailedOver).await;
    assert_eq!(
        t.row("eu-west-1").await,
        ("fenced".into(), epoch + 1, "eu-central-1".into())
    );
    let status = r.status.unwrap();
    assert_eq!(
        status.serving_region.as_ref().map(|s| s.as_str()),
        Some("eu-central-1")
    );
    assert_eq!(status.epoch, epoch + 1);
    assert!(status.failing_since.is_some());
    let cond = find_condition(&status.conditions, conditions::FAILED_OVER).unwrap();
    assert_eq!((cond.is_true(), cond.reason.as_str()), (true, "FailedOver"));
    assert!(t.announced("eu-west-1", "FailedOver").await);

    t.gates["eu-west-1"].open();
    t.phase_becomes("eu-west-1", RegionPhase::Active).await;
    assert_eq!(
        t.row("eu-west-1").await,
        ("active".into(), epoch + 2, "eu-west-1".into())
    );
    assert_eq!(
        t.transitions("eu-west-1").await,
        ["Created", "FailedOver", "FailedBack"]
    );
    assert_eq!(
        t.row("eu-central-1").await,
        ("active".into(), 1, "eu-central-1".into())
    );
}

#[tokio::test]
async fn a_region_alone_in_its_group_fails_closed_and_nobody_is_moved_across_groups() {
    let t = Topology::start("Automatic").await;
    t.gates["us-east-1"].close();
    let r = t
        .phase_becomes("us-east-1", RegionPhase::FailedClosed)
        .await;
    let cond = find_condition(&r.status.unwrap().conditions, conditions::FAILED_OVER)
        .cloned()
        .unwrap();
    assert_eq!(
        (cond.is_true(), cond.reason.as_str()),
        (false, "NoEligibleTarget")
    );
    assert_eq!(
        t.row("us-east-1").await,
        ("active".into(), 1, "us-east-1".into())
    );
    let served_by_eu: i64 =
        t.db.query_one(
            "SELECT count(*) FROM regions WHERE residency_group = 'us' AND served_by <> name",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(served_by_eu, 0);
    assert!(t.announced("us-east-1", "FailedClosed").await);
    t.gates["us-east-1"].open();
    t.phase_becomes("us-east-1", RegionPhase::Active).await;
}

#[tokio::test]
async fn nothing_fails_over_when_every_region_looks_down_to_the_operator() {
    let t = Topology::start("Automatic").await;
    for gate in t.gates.values() {
        gate.close();
    }
    for region in REGIONS {
        t.phase_becomes(region, RegionPhase::FailingOver).await;
    }
    for region in REGIONS {
        assert_eq!(
            t.row(region).await,
            ("active".into(), 1, region.into()),
            "{region}"
        );
    }
}

#[tokio::test]
async fn manual_mode_waits_for_the_fence_annotation_and_a_switchover_names_the_target() {
    let t = Topology::start("Manual").await;
    t.gates["eu-west-1"].close();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        t.row("eu-west-1").await,
        ("active".into(), 1, "eu-west-1".into())
    );

    t.patch(
        "eu-west-1",
        json!({"metadata": {"annotations": {"loyalty.travel.example/fence": "true"}}}),
    )
    .await;
    t.phase_becomes("eu-west-1", RegionPhase::FailedOver).await;
    assert_eq!(
        t.row("eu-west-1").await,
        ("fenced".into(), 2, "eu-central-1".into())
    );
    t.gates["eu-west-1"].open();
    t.patch(
        "eu-west-1",
        json!({"metadata": {"annotations": {"loyalty.travel.example/fence": null}}}),
    )
    .await;
    t.phase_becomes("eu-west-1", RegionPhase::Active).await;
    assert_eq!(
        t.row("eu-west-1").await,
        ("active".into(), 3, "eu-west-1".into())
    );

    let switch = json!({"spec": {"failover": {"manualOverride": {"serveFrom": "eu-west-1", "reason": "planned maintenance"}}}});
    t.patch("eu-central-1", switch).await;
    t.phase_becomes("eu-central-1", RegionPhase::FailedOver)
        .await;
    assert_eq!(
        t.row("eu-central-1").await,
        ("fenced".into(), 2, "eu-west-1".into())
    );
    assert_eq!(
        t.transitions("eu-west-1").await,
        ["Created", "ManualFence", "ManualUnfence"]
    );
}

#[tokio::test]
async fn a_restarted_operator_keeps_the_failing_streak_from_status() {
    let mut t = Topology::start("Automatic").await;
    // A long threshold: the first operator sees the region fail but not for long enough.
    t.patch(
        "eu-west-1",
        json!({"spec": {"failover": {"failureThreshold": 6}}}),
    )
    .await;
    t.gates["eu-west-1"].close();
    let api = t.api();
    let since = eventually("failingSince recorded", || {
        let api = api.clone();
        async move { api.get("eu-west-1").await.ok()?.status?.failing_since }
    })
    .await;
    t.operator.take().unwrap().stop().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(t.row("eu-west-1").await.0, "active");
    // A new instance counts from the recorded start: the six-second window is over, so one
    // failed probe of its own is enough.
    let started = tokio::time::Instant::now();
    t.operator = Some(Operator::start(t.client(), &t.url));
    let r = t.phase_becomes("eu-west-1", RegionPhase::FailedOver).await;
    assert_eq!(r.status.unwrap().failing_since, Some(since));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_standby_operator_finishes_a_failover_the_dead_leader_had_started() {
    let t = Topology::without_operator("Automatic").await;
    let client = t.client().clone();
    let (_stop_a, signal_a) = loyalty_operator::controller::shutdown_pair();
    let a = tokio::spawn(loyalty_operator::run(
        leader_config(&t.url, "operator-a"),
        client.clone(),
        signal_a,
    ));
    t.all_active().await;
    let (_stop_b, signal_b) = loyalty_operator::controller::shutdown_pair();
    let b = tokio::spawn(loyalty_operator::run(
        leader_config(&t.url, "operator-b"),
        client,
        signal_b,
    ));
    t.patch(
        "eu-west-1",
        json!({"spec": {"failover": {"failureThreshold": 5}}}),
    )
    .await;
    t.gates["eu-west-1"].close();
    let api = t.api();
    eventually("the leader records failingSince", || {
        let api = api.clone();
        async move { api.get("eu-west-1").await.ok()?.status?.failing_since }
    })
    .await;
    // The leader dies mid-failover: it neither renews its Lease nor fences.
    a.abort();
    let r = t.phase_becomes("eu-west-1", RegionPhase::FailedOver).await;
    assert_eq!(
        r.status
            .unwrap()
            .serving_region
            .map(|s| s.to_string())
            .as_deref(),
        Some("eu-central-1")
    );
    assert_eq!(t.transitions("eu-west-1").await, ["Created", "FailedOver"]);
    b.abort();
}
