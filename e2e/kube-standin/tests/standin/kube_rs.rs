//! kube-rs against the stand-in: the client calls and runtime helpers the operator relies on.

use crate::common::{Promotion, PromotionStatus, client, promotion, with_crd};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use kube_standin::StandIn;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_watcher_sees_objects_added_modified_and_deleted() -> anyhow::Result<()> {
    let (_server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client);
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    // The initial list of an empty collection.
    loop {
        if let watcher::Event::InitDone = tokio::time::timeout(WAIT, events.try_next())
            .await??
            .expect("stream open")
        {
            break;
        }
    }
    api.create(&PostParams::default(), &promotion("watched", 2))
        .await?;
    let patch = json!({"spec": {"maxMultiplier": 3}});
    api.patch("watched", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    api.delete("watched", &DeleteParams::default()).await?;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match tokio::time::timeout(WAIT, events.try_next())
            .await??
            .expect("stream open")
        {
            watcher::Event::Apply(p) => seen.push(format!("apply {}", p.spec.max_multiplier)),
            watcher::Event::Delete(p) => seen.push(format!("delete {}", p.name_any())),
            _ => {}
        }
    }
    assert_eq!(seen, ["apply 2", "apply 3", "delete watched"]);
    Ok(())
}

#[tokio::test]
async fn a_watch_from_a_compacted_resource_version_gets_410_gone() -> anyhow::Result<()> {
    let (server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client);
    let created = api
        .create(&PostParams::default(), &promotion("old", 2))
        .await?;
    let old_rv = created.resource_version().expect("a resourceVersion");
    api.create(&PostParams::default(), &promotion("newer", 2))
        .await?;
    server.compact_watch_history();
    let mut stream = api.watch(&WatchParams::default(), &old_rv).await?.boxed();
    match tokio::time::timeout(WAIT, stream.try_next()).await?? {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_watcher_whose_watch_expires_relists_and_carries_on() -> anyhow::Result<()> {
    let (server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client.clone());
    // Short watches make the watcher reconnect with its last resourceVersion.
    let config = watcher::Config::default().timeout(1).disable_bookmarks();
    let mut events = watcher(api.clone(), config).boxed();
    let mut initial_lists = 0;
    loop {
        if let Ok(Some(watcher::Event::InitDone)) =
            tokio::time::timeout(WAIT, events.next()).await?.transpose()
        {
            initial_lists += 1;
            break;
        }
    }
    // Move the global resourceVersion past the watcher's, then forget the history.
    Api::<ConfigMap>::default_namespaced(client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "bump"}}))?,
        )
        .await?;
    server.compact_watch_history();
    api.create(&PostParams::default(), &promotion("after-compaction", 2))
        .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen_after_relist = false;
    while !seen_after_relist {
        let next = tokio::time::timeout_at(deadline, events.next())
            .await?
            .expect("stream open");
        match next {
            Ok(watcher::Event::Init) => initial_lists += 1,
            Ok(watcher::Event::InitApply(p)) if initial_lists > 1 => {
                seen_after_relist = p.name_any() == "after-compaction"
            }
            _ => {}
        }
    }
    assert!(initial_lists >= 2, "the watcher relisted after 410 Gone");
    Ok(())
}

#[tokio::test]
async fn server_side_apply_creates_then_merges_and_records_the_field_manager() -> anyhow::Result<()>
{
    let (_server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client);
    let first = json!({
        "apiVersion": "standin.example.com/v1", "kind": "Promotion", "metadata": {"name": "applied"},
        "spec": {"kind": "weekend", "start": "2030-06-01T00:00:00Z", "end": "2030-06-03T00:00:00Z", "maxMultiplier": 2}
    });
    let created = api
        .patch(
            "applied",
            &PatchParams::apply("first").force(),
            &Patch::Apply(&first),
        )
        .await?;
    assert_eq!(created.meta().generation, Some(1));
    let second = json!({"apiVersion": "standin.example.com/v1", "kind": "Promotion", "spec": {"note": "hello"}});
    let merged = api
        .patch(
            "applied",
            &PatchParams::apply("second"),
            &Patch::Apply(&second),
        )
        .await?;
    assert_eq!(
        (merged.spec.max_multiplier, merged.spec.note.as_deref()),
        (2, Some("hello"))
    );
    assert_eq!(merged.meta().generation, Some(2));
    let managers: Vec<String> = merged
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["first", "second"]);
    Ok(())
}

#[tokio::test]
async fn status_writes_change_only_status_and_spec_writes_bump_generation() -> anyhow::Result<()> {
    let (_server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client);
    let mut with_status = promotion("gen", 2);
    with_status.status = Some(PromotionStatus {
        phase: Some("Ignored".into()),
        observed_generation: None,
    });
    let created = api.create(&PostParams::default(), &with_status).await?;
    assert_eq!(
        (created.meta().generation, created.status.clone()),
        (Some(1), None),
        "status is dropped on create"
    );

    let status = json!({"apiVersion": "standin.example.com/v1", "kind": "Promotion", "status": {"phase": "Active", "observedGeneration": 1}});
    let after_status = api
        .patch_status(
            "gen",
            &PatchParams::apply("ctrl").force(),
            &Patch::Apply(&status),
        )
        .await?;
    assert_eq!(after_status.meta().generation, Some(1));
    assert_eq!(
        after_status
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref()),
        Some("Active")
    );

    // Spec and status in one main-resource patch: the spec changes, the status does not.
    let both = json!({"spec": {"maxMultiplier": 5}, "status": {"phase": "Hacked"}});
    let after_spec = api
        .patch("gen", &PatchParams::default(), &Patch::Merge(&both))
        .await?;
    assert_eq!(after_spec.meta().generation, Some(2));
    assert_eq!(
        after_spec.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Active")
    );

    // Metadata-only changes keep the generation.
    let labels = json!({"metadata": {"labels": {"team": "growth"}}});
    let after_labels = api
        .patch("gen", &PatchParams::default(), &Patch::Merge(&labels))
        .await?;
    assert_eq!(after_labels.meta().generation, Some(2));
    Ok(())
}

#[tokio::test]
async fn a_replace_with_a_stale_resource_version_is_a_409_conflict() -> anyhow::Result<()> {
    let (_server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client);
    let created = api
        .create(&PostParams::default(), &promotion("contended", 2))
        .await?;
    let mut fresh = created.clone();
    fresh.spec.max_multiplier = 3;
    api.replace("contended", &PostParams::default(), &fresh)
        .await?;
    let mut stale = created;
    stale.spec.max_multiplier = 4;
    let err = api
        .replace("contended", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    let again = api
        .create(&PostParams::default(), &promotion("contended", 2))
        .await
        .unwrap_err();
    assert!(matches!(again, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"));
    Ok(())
}

#[tokio::test]
async fn the_finalizer_helper_adds_its_finalizer_and_cleans_up_on_delete() -> anyhow::Result<()> {
    let (_server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client);
    const NAME: &str = "standin.example.com/cleanup";
    api.create(&PostParams::default(), &promotion("finalized", 2))
        .await?;
    let reconcile = |obj: Promotion| {
        let api = api.clone();
        async move {
            finalizer(&api, NAME, std::sync::Arc::new(obj), |event| async move {
                match event {
                    Finalizer::Apply(_) | Finalizer::Cleanup(_) => {
                        Ok::<_, std::convert::Infallible>(Action::await_change())
                    }
                }
            })
            .await
        }
    };
    reconcile(api.get("finalized").await?).await?;
    assert_eq!(api.get("finalized").await?.finalizers(), [NAME]);

    let deleted = api.delete("finalized", &DeleteParams::default()).await?;
    let terminating = deleted.left().expect("kept while the finalizer is there");
    assert!(terminating.meta().deletion_timestamp.is_some());
    assert!(
        api.get("finalized")
            .await?
            .meta()
            .deletion_timestamp
            .is_some()
    );

    reconcile(api.get("finalized").await?).await?;
    assert!(
        api.get_opt("finalized").await?.is_none(),
        "gone once the finalizer is removed"
    );
    Ok(())
}

#[tokio::test]
async fn a_json_patch_test_of_a_missing_path_against_null_passes() -> anyhow::Result<()> {
    let (_server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &promotion("tested", 2))
        .await?;
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["a"]}
    ]))?;
    let patched = api
        .patch("tested", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await?;
    assert_eq!(patched.finalizers(), ["a"]);
    let failing: json_patch::Patch = serde_json::from_value(
        json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]),
    )?;
    let err = api
        .patch(
            "tested",
            &PatchParams::default(),
            &Patch::Json::<()>(failing),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 422));
    Ok(())
}

#[tokio::test]
async fn a_lease_can_be_acquired_renewed_and_not_stolen_with_a_stale_version() -> anyhow::Result<()>
{
    let server = StandIn::start().await?;
    let api: Api<Lease> = Api::namespaced(client(&server), "kube-system");
    let now = || MicroTime(k8s_openapi::jiff::Timestamp::now());
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("loyalty-operator".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("pod-a".into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    let acquired = api.create(&PostParams::default(), &lease).await?;
    let mut renewed = acquired.clone();
    renewed.spec.as_mut().expect("spec").renew_time = Some(now());
    let renewed = api
        .replace("loyalty-operator", &PostParams::default(), &renewed)
        .await?;
    assert_ne!(renewed.resource_version(), acquired.resource_version());

    let mut stolen = acquired;
    stolen.spec.as_mut().expect("spec").holder_identity = Some("pod-b".into());
    let err = api
        .replace("loyalty-operator", &PostParams::default(), &stolen)
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
    let current = api.get("loyalty-operator").await?;
    assert_eq!(
        current.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("pod-a")
    );
    Ok(())
}

#[tokio::test]
async fn events_published_by_the_recorder_are_stored_and_listable() -> anyhow::Result<()> {
    let (_server, client) = with_crd().await?;
    let api: Api<Promotion> = Api::default_namespaced(client.clone());
    let promo = api
        .create(&PostParams::default(), &promotion("noted", 2))
        .await?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "standin-test".into(),
            instance: None,
        },
    );
    let reference: ObjectReference = promo.object_ref(&());
    let event = KubeEvent {
        type_: EventType::Normal,
        reason: "Activated".into(),
        note: Some("promotion is live".into()),
        action: "Activate".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await?;
    recorder.publish(&event, &reference).await?;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::default_namespaced(client);
    let listed = events.list(&ListParams::default()).await?;
    assert_eq!(listed.items.len(), 1, "a repeated event updates its series");
    assert_eq!(listed.items[0].reason.as_deref(), Some("Activated"));
    Ok(())
}

#[tokio::test]
async fn objects_in_a_missing_namespace_are_rejected_and_selectors_filter_lists()
-> anyhow::Result<()> {
    let (_server, client) = with_crd().await?;
    let missing: Api<Promotion> = Api::namespaced(client.clone(), "nowhere");
    let err = missing
        .create(&PostParams::default(), &promotion("lost", 2))
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404));

    let api: Api<Promotion> = Api::default_namespaced(client);
    for (name, tier) in [("a", "gold"), ("b", "silver"), ("c", "gold")] {
        let mut p = promotion(name, 2);
        p.labels_mut().insert("tier".into(), tier.into());
        api.create(&PostParams::default(), &p).await?;
    }
    let names = |list: kube::core::ObjectList<Promotion>| {
        list.items.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(api.list(&ListParams::default().labels("tier=gold")).await?),
        ["a", "c"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=b"))
                .await?
        ),
        ["b"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier notin (gold)"))
                .await?
        ),
        ["b"]
    );
    Ok(())
}
