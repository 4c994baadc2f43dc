//! The Campaign controller against the stand-in and PostgreSQL.

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use loyalty_crds::campaign::{Campaign, CampaignPhase};
use loyalty_crds::common::is_condition_true;
use serde_json::{Value, json};

use crate::helpers::{Cluster, Operator, event_reasons, eventually, fresh_database, sql};

const NS: &str = "marketing-eu";

/// A campaign running through all of this year and next, so it is Active whenever the tests
/// run before 2028.
pub fn campaign(name: &str, extra: Value) -> Campaign {
    let mut spec = json!({
        "displayName": format!("Campaign {name}"),
        "window": { "start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z", "timezone": "Europe/Paris" },
        "eligibility": { "productTypes": ["hotel"], "residencyGroups": ["eu"] },
        "effect": { "multiplierMilli": 2000 },
        "stacking": { "mode": "BestOf", "priority": 10 }
    });
    json_merge(&mut spec, extra);
    Campaign::new(name, serde_json::from_value(spec).unwrap())
}

fn json_merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                json_merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// `(spec, generation, active, version)` of a campaign's row.
pub async fn row(db: &tokio_postgres::Client, name: &str) -> Option<(Value, i64, bool, i64)> {
    db.query_opt("SELECT spec, generation, active, version FROM campaigns WHERE namespace = $1 AND name = $2", &[&NS, &name])
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
}

pub async fn config_version(db: &tokio_postgres::Client, set: &str) -> Option<i64> {
    db.query_opt(
        "SELECT version FROM config_versions WHERE name = $1",
        &[&set],
    )
    .await
    .unwrap()
    .map(|r| r.get(0))
}

async fn phase(api: &Api<Campaign>, name: &str) -> Option<CampaignPhase> {
    api.get_opt(name).await.unwrap()?.status?.phase
}

#[tokio::test]
async fn a_valid_campaign_is_published_active_with_its_generation_and_a_new_config_version() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    let api: Api<Campaign> = Api::namespaced(cluster.client.clone(), NS);
    api.create(
        &PostParams::default(),
        &campaign("double-nights", json!({})),
    )
    .await
    .unwrap();

    let c = eventually("the campaign is Active", || async {
        let c = api.get("double-nights").await.unwrap();
        (c.status.as_ref()?.phase == Some(CampaignPhase::Active)).then_some(c)
    })
    .await;
    let status = c.status.clone().unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert!(is_condition_true(&status.conditions, "Ready"));
    assert!(is_condition_true(&status.conditions, "Published"));
    assert_eq!(
        status.next_transition.unwrap().to_rfc3339(),
        "2028-01-01T00:00:00+00:00"
    );
    assert!(
        c.finalizers()
            .contains(&"loyalty.travel.example/campaign-cleanup".to_owned())
    );

    let (spec, generation, active, version) = row(&db, "double-nights").await.expect("a row");
    assert_eq!(spec, serde_json::to_value(&c.spec).unwrap());
    assert_eq!((generation, active), (1, true));
    assert_eq!(Some(version), config_version(&db, "campaigns").await);
    assert_eq!(status.db_version, Some(version));
    let reasons = eventually("an Active event", || async {
        let r = event_reasons(&cluster.client, NS, "double-nights").await;
        r.contains(&"Active".to_owned()).then_some(r)
    })
    .await;
    assert!(!reasons.is_empty());
    operator.stop().await;
}

#[tokio::test]
async fn updating_and_deleting_a_campaign_rewrites_then_withdraws_its_row() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    let api: Api<Campaign> = Api::namespaced(cluster.client.clone(), NS);
    api.create(&PostParams::default(), &campaign("summer", json!({})))
        .await
        .unwrap();
    let (_, _, _, v1) = eventually("the first row", || async { row(&db, "summer").await }).await;

    let patch = json!({"spec": {"effect": {"multiplierMilli": 3000}}});
    api.patch("summer", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let (spec, _, active, v2) = eventually("the second generation's row", || async {
        row(&db, "summer").await.filter(|r| r.1 == 2)
    })
    .await;
    assert_eq!(spec["effect"]["multiplierMilli"], 3000);
    assert!(active && v2 > v1, "{v2} > {v1}");

    api.delete("summer", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the campaign is gone", || async {
        api.get_opt("summer").await.unwrap().is_none().then_some(())
    })
    .await;
    let (_, _, active, v3) = row(&db, "summer").await.unwrap();
    assert!(!active, "a deleted campaign's row is inactive");
    assert!(v3 > v2);
    assert_eq!(config_version(&db, "campaigns").await, Some(v3));
    operator.stop().await;
}

#[tokio::test]
async fn an_invalid_campaign_ends_invalid_with_a_reason_and_changes_nothing_in_the_database() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    let api: Api<Campaign> = Api::namespaced(cluster.client.clone(), NS);
    // The schema accepts the shape of a timezone name; only the operator knows Mars has none.
    let bad = campaign(
        "martian",
        json!({"window": {"timezone": "Mars/Olympus_Mons"}}),
    );
    api.create(&PostParams::default(), &bad).await.unwrap();

    let status = eventually("the campaign is Invalid", || async {
        let s = api.get("martian").await.unwrap().status?;
        (s.phase == Some(CampaignPhase::Invalid)).then_some(s)
    })
    .await;
    assert!(
        status
            .reason
            .as_deref()
            .unwrap()
            .contains("spec.window.timezone"),
        "{status:?}"
    );
    assert!(!is_condition_true(&status.conditions, "Valid"));
    assert_eq!(row(&db, "martian").await, None);
    assert_eq!(
        config_version(&db, "campaigns").await,
        None,
        "nothing was published"
    );
    assert!(
        event_reasons(&cluster.client, NS, "martian")
            .await
            .contains(&"Invalid".to_owned())
    );
    operator.stop().await;
}

#[tokio::test]
async fn of_two_overlapping_exclusive_campaigns_with_one_priority_the_later_name_is_invalid() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let operator = Operator::start(&cluster.client, &url);
    let api: Api<Campaign> = Api::namespaced(cluster.client.clone(), NS);
    let exclusive = json!({"stacking": {"mode": "Exclusive", "priority": 50}});
    api.create(
        &PostParams::default(),
        &campaign("b-flash-sale", exclusive.clone()),
    )
    .await
    .unwrap();
    eventually("b is Active", || async {
        (phase(&api, "b-flash-sale").await == Some(CampaignPhase::Active)).then_some(())
    })
    .await;
    assert!(row(&db, "b-flash-sale").await.unwrap().2);

    // `a-…` sorts first, so it wins even though it came later, and b is withdrawn.
    api.create(&PostParams::default(), &campaign("a-mega-sale", exclusive))
        .await
        .unwrap();
    let status = eventually("b becomes Invalid", || async {
        let s = api.get("b-flash-sale").await.unwrap().status?;
        (s.phase == Some(CampaignPhase::Invalid)).then_some(s)
    })
    .await;
    assert!(status.reason.unwrap().contains("marketing-eu/a-mega-sale"));
    eventually("a is Active", || async {
        (phase(&api, "a-mega-sale").await == Some(CampaignPhase::Active)).then_some(())
    })
    .await;
    assert!(
        !row(&db, "b-flash-sale").await.unwrap().2,
        "the loser is withdrawn"
    );
    assert!(row(&db, "a-mega-sale").await.unwrap().2);

    // Once a is gone, b is valid again.
    api.delete("a-mega-sale", &DeleteParams::default())
        .await
        .unwrap();
    eventually("b is Active again", || async {
        (phase(&api, "b-flash-sale").await == Some(CampaignPhase::Active)).then_some(())
    })
    .await;
    assert!(row(&db, "b-flash-sale").await.unwrap().2);
    operator.stop().await;
}

#[tokio::test]
async fn an_operator_restarted_mid_way_converges_on_what_changed_while_it_was_down() {
    let cluster = Cluster::start().await;
    let url = fresh_database().await;
    let db = sql(&url).await;
    let api: Api<Campaign> = Api::namespaced(cluster.client.clone(), NS);
    let first = Operator::start(&cluster.client, &url);
    api.create(&PostParams::default(), &campaign("one", json!({})))
        .await
        .unwrap();
    eventually("one is published", || async { row(&db, "one").await }).await;
    first.stop().await;

    // While no operator runs: a new campaign, an update, and a deletion.
    api.create(&PostParams::default(), &campaign("two", json!({})))
        .await
        .unwrap();
    let patch = json!({"spec": {"displayName": "Campaign one, renamed"}});
    api.patch("one", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(row(&db, "two").await, None);

    let second = Operator::start(&cluster.client, &url);
    eventually("two is published", || async { row(&db, "two").await }).await;
    let (spec, generation, ..) = eventually("one's update is published", || async {
        row(&db, "one").await.filter(|r| r.1 == 2)
    })
    .await;
    assert_eq!(
        (spec["displayName"].as_str(), generation),
        (Some("Campaign one, renamed"), 2)
    );
    api.delete("two", &DeleteParams::default()).await.unwrap();
    eventually("two is withdrawn", || async {
        row(&db, "two").await.filter(|r| !r.2)
    })
    .await;
    second.stop().await;
}
