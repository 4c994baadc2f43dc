//! The real kubectl (v1.32, on PATH) against the stand-in: what a platform engineer types.

use crate::common::{Promotion, client, fixture};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube_standin::StandIn;
use serde_json::json;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;
use tempfile::TempDir;

/// A kubectl pointed at one stand-in, with its own kubeconfig and discovery cache.
pub struct Kubectl {
    dir: TempDir,
}

pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    pub fn new(server: &StandIn) -> Kubectl {
        let dir = tempfile::tempdir().expect("a temporary directory");
        server
            .write_kubeconfig(&dir.path().join("kubeconfig"))
            .expect("kubeconfig written");
        Kubectl { dir }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Ran {
        let out: Output = self
            .command(args)
            .output()
            .await
            .expect("kubectl v1.32 must be installed and on PATH for these tests");
        Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let ran = self.run(args).await;
        assert!(ran.ok, "kubectl {args:?} failed: {}", ran.stderr);
        ran.stdout
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("file written");
        path
    }
}

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

async fn with_crd_applied() -> (StandIn, Kubectl) {
    let server = StandIn::start().await.expect("stand-in started");
    let kubectl = Kubectl::new(&server);
    let out = kubectl
        .ok(&["apply", "-f", &path("promotions-crd.yaml")])
        .await;
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/promotions.standin.example.com created"
    );
    (server, kubectl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_a_crd_and_its_resources_and_prints_the_printer_columns() {
    let (_server, kubectl) = with_crd_applied().await;
    let out = kubectl
        .ok(&["apply", "-f", &path("promotion-valid.yaml")])
        .await;
    assert_eq!(
        out.trim(),
        "promotion.standin.example.com/double-weekend created"
    );

    let table = kubectl.ok(&["get", "promotions"]).await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "KIND", "MULTIPLIER", "PHASE", "AGE"]);
    assert_eq!(lines[1][..3], ["double-weekend", "weekend", "2"]);
    assert!(lines[1][3].ends_with('s'), "the age column: {table}");

    let by_short_name = kubectl
        .ok(&[
            "get",
            "promo",
            "double-weekend",
            "-o",
            "jsonpath={.spec.kind}",
        ])
        .await;
    assert_eq!(by_short_name, "weekend");
    let all_namespaces = kubectl.ok(&["get", "promo", "-A"]).await;
    assert!(
        all_namespaces
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("default ")),
        "{all_namespaces}"
    );

    let again = kubectl
        .ok(&["apply", "-f", &path("promotion-valid.yaml")])
        .await;
    assert_eq!(
        again.trim(),
        "promotion.standin.example.com/double-weekend unchanged"
    );
    let changed = kubectl.write(
        "changed.yaml",
        &std::fs::read_to_string(fixture("promotion-valid.yaml"))
            .unwrap()
            .replace("maxMultiplier: 2", "maxMultiplier: 3"),
    );
    let configured = kubectl
        .ok(&["apply", "-f", &changed.display().to_string()])
        .await;
    assert_eq!(
        configured.trim(),
        "promotion.standin.example.com/double-weekend configured"
    );
    let generation = kubectl
        .ok(&[
            "get",
            "promo",
            "double-weekend",
            "-o",
            "jsonpath={.metadata.generation}",
        ])
        .await;
    assert_eq!(generation, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_schema_cel_and_unknown_field_rejections_in_the_servers_words() {
    let (_server, kubectl) = with_crd_applied().await;
    let cases = [
        (
            "promotion-bad-schema.yaml",
            "The Promotion \"bad-schema\" is invalid: \n\
             * spec.kind: Unsupported value: \"holiday\": supported values: \"weekend\", \"seasonal\", \"partner\"\n\
             * spec.maxMultiplier: Invalid value: 200: spec.maxMultiplier in body should be less than or equal to 100\n",
        ),
        (
            "promotion-bad-cel.yaml",
            "The Promotion \"bad-cel\" is invalid: \n\
             * spec: Invalid value: \"object\": end must be after start\n\
             * spec: Invalid value: \"object\": only partner promotions may multiply by more than 10\n",
        ),
        (
            "promotion-unknown-field.yaml",
            "Error from server (BadRequest): error when creating \"FILE\": Promotion in version \"v1\" cannot be \
             handled as a Promotion: strict decoding error: unknown field \"spec.colour\"\n",
        ),
    ];
    for (file, expected) in cases {
        let ran = kubectl.run(&["apply", "-f", &path(file)]).await;
        assert!(!ran.ok, "{file} was accepted");
        assert_eq!(ran.stderr, expected.replace("FILE", &path(file)), "{file}");
    }
    let stored = kubectl.ok(&["get", "promotions", "-o", "name"]).await;
    assert_eq!(stored, "", "nothing invalid was stored");
    // Without strict validation, unknown fields are pruned as on a real server.
    kubectl
        .ok(&[
            "apply",
            "--validate=false",
            "-f",
            &path("promotion-unknown-field.yaml"),
        ])
        .await;
    let spec = kubectl
        .ok(&["get", "promo", "unknown-field", "-o", "jsonpath={.spec}"])
        .await;
    assert!(!spec.contains("colour"), "{spec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_creates_and_updates() {
    let (_server, kubectl) = with_crd_applied().await;
    let out = kubectl
        .ok(&[
            "apply",
            "--server-side",
            "-f",
            &path("promotion-valid.yaml"),
        ])
        .await;
    assert_eq!(
        out.trim(),
        "promotion.standin.example.com/double-weekend serverside-applied"
    );
    let changed = kubectl.write(
        "changed.yaml",
        &std::fs::read_to_string(fixture("promotion-valid.yaml"))
            .unwrap()
            .replace("kind: weekend", "kind: seasonal"),
    );
    kubectl
        .ok(&[
            "apply",
            "--server-side",
            "-f",
            &changed.display().to_string(),
        ])
        .await;
    let kind = kubectl
        .ok(&[
            "get",
            "promo",
            "double-weekend",
            "-o",
            "jsonpath={.spec.kind} {.metadata.managedFields[0].manager}",
        ])
        .await;
    assert_eq!(kind, "seasonal kubectl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_waits_until_the_last_finalizer_is_removed() {
    let (server, kubectl) = with_crd_applied().await;
    kubectl
        .ok(&["apply", "-f", &path("promotion-valid.yaml")])
        .await;
    let api: Api<Promotion> = Api::default_namespaced(client(&server));
    let add = json!({"metadata": {"finalizers": ["standin.example.com/cleanup"]}});
    api.patch(
        "double-weekend",
        &PatchParams::default(),
        &Patch::Merge(&add),
    )
    .await
    .unwrap();

    let mut delete = kubectl
        .command(&[
            "delete",
            "promo",
            "double-weekend",
            "--wait=true",
            "--timeout=30s",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        delete.try_wait().unwrap().is_none(),
        "kubectl delete returned while the finalizer was there"
    );
    let terminating = api.get("double-weekend").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());

    let remove = json!({"metadata": {"finalizers": null}});
    api.patch(
        "double-weekend",
        &PatchParams::default(),
        &Patch::Merge(&remove),
    )
    .await
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), delete.wait())
        .await
        .expect("kubectl delete returned")
        .unwrap();
    assert!(status.success());
    assert!(api.get_opt("double-weekend").await.unwrap().is_none());
    let names: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert!(names.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_built_in_kinds_and_merges_named_lists_on_reapply() {
    let server = StandIn::start().await.unwrap();
    let kubectl = Kubectl::new(&server);
    let manifest = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n\
        apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
        spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n\
        \x20     - {name: web, image: 'nginx:1', ports: [{containerPort: 80}]}\n      - {name: side, image: busybox}\n---\n\
        apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader, namespace: shop}\nrules: []\n";
    let file = kubectl.write("app.yaml", manifest);
    let out = kubectl
        .ok(&["apply", "-f", &file.display().to_string()])
        .await;
    assert_eq!(out.lines().count(), 3, "{out}");
    let file = kubectl.write("app.yaml", &manifest.replace("nginx:1", "nginx:2"));
    kubectl
        .ok(&["apply", "-f", &file.display().to_string()])
        .await;
    let containers = kubectl
        .ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.template.spec.containers}",
        ])
        .await;
    let containers: serde_json::Value = serde_json::from_str(&containers).unwrap();
    assert_eq!(
        containers,
        json!([{"name": "web", "image": "nginx:2", "ports": [{"containerPort": 80}]}, {"name": "side", "image": "busybox"}])
    );
    kubectl.ok(&["delete", "namespace", "shop"]).await;
    let left = kubectl
        .run(&["get", "deploy", "-n", "shop", "-o", "name"])
        .await;
    assert_eq!(left.stdout, "", "namespace contents are deleted with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_prints_each_change_with_the_printer_columns() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (_server, kubectl) = with_crd_applied().await;
    kubectl
        .ok(&["apply", "-f", &path("promotion-valid.yaml")])
        .await;
    let mut watch = kubectl
        .command(&["get", "promo", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next = async || {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await;
        line.expect("a line in time")
            .unwrap()
            .expect("kubectl still watching")
    };
    let header: Vec<String> = next().await.split_whitespace().map(str::to_owned).collect();
    assert_eq!(
        header,
        ["EVENT", "NAME", "KIND", "MULTIPLIER", "PHASE", "AGE"]
    );
    assert!(
        next()
            .await
            .starts_with("ADDED      double-weekend   weekend   2")
    );
    kubectl
        .ok(&[
            "patch",
            "promo",
            "double-weekend",
            "--type=merge",
            "-p",
            r#"{"spec":{"maxMultiplier":4}}"#,
        ])
        .await;
    let modified: Vec<String> = next().await.split_whitespace().map(str::to_owned).collect();
    assert_eq!(
        modified[..4],
        ["MODIFIED", "double-weekend", "weekend", "4"]
    );
    watch.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_of_a_secret_merges_string_data_into_base64_data() {
    let server = StandIn::start().await.unwrap();
    let kubectl = Kubectl::new(&server);
    let manifest = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n\
        data: {user: YWRtaW4=, token: b2xk}\nstringData: {token: s3cr3t, url: 'https://x'}\n";
    let file = kubectl.write("secret.yaml", manifest);
    kubectl
        .ok(&["apply", "-f", &file.display().to_string()])
        .await;
    let secret = kubectl.ok(&["get", "secret", "creds", "-o", "json"]).await;
    let secret: serde_json::Value = serde_json::from_str(&secret).unwrap();
    assert_eq!(
        secret["data"],
        json!({"user": "YWRtaW4=", "token": "czNjcjN0", "url": "aHR0cHM6Ly94"}),
        "stringData wins over data and is base64-encoded"
    );
    assert_eq!(secret.get("stringData"), None);
    assert_eq!(secret["type"], "Opaque");
    // A patch and a server-side apply are converted the same way.
    kubectl
        .ok(&[
            "patch",
            "secret",
            "creds",
            "-p",
            r#"{"stringData":{"extra":"x"}}"#,
        ])
        .await;
    kubectl
        .ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &file.display().to_string(),
        ])
        .await;
    let secret = kubectl.ok(&["get", "secret", "creds", "-o", "json"]).await;
    let secret: serde_json::Value = serde_json::from_str(&secret).unwrap();
    assert_eq!(secret["data"]["extra"], "eA==");
    assert_eq!(secret["data"]["token"], "czNjcjN0");
    assert_eq!(secret.get("stringData"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_sends_protobuf_for_namespaces_secrets_and_configmaps_and_it_works() {
    let server = StandIn::start().await.unwrap();
    let kubectl = Kubectl::new(&server);
    let out = kubectl.ok(&["create", "namespace", "team-a"]).await;
    assert_eq!(out.trim(), "namespace/team-a created");
    let out = kubectl.ok(&["get", "ns", "team-a"]).await;
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], "team-a", "{out}");
    let phase = kubectl
        .ok(&["get", "ns", "team-a", "-o", "jsonpath={.status.phase}"])
        .await;
    assert_eq!(phase, "Active");

    kubectl
        .ok(&[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "team-a",
            "--from-literal=token=s3cr3t",
        ])
        .await;
    let token = kubectl
        .ok(&[
            "get",
            "secret",
            "creds",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.token}",
        ])
        .await;
    assert_eq!(token, "czNjcjN0");
    kubectl
        .ok(&[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=mode=fast",
        ])
        .await;
    let mode = kubectl
        .ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.mode}",
        ])
        .await;
    assert_eq!(mode, "fast");
    // Kinds whose protobuf form the stand-in does not read get a clear 415.
    let ran = kubectl
        .run(&["create", "deployment", "web", "--image=nginx"])
        .await;
    assert!(!ran.ok);
    assert!(ran.stderr.contains("apps/v1 Deployment"), "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_events_shows_events_published_through_events_k8s_io() {
    use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
    use kube::api::PostParams;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let server = StandIn::start().await.unwrap();
    let kubectl = Kubectl::new(&server);
    let client = client(&server);
    let cm = Api::<ConfigMap>::default_namespaced(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "settings"}})).unwrap(),
        )
        .await
        .unwrap();
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "standin-test".into(),
            instance: None,
        },
    );
    let reference: ObjectReference = kube::Resource::object_ref(&cm, &());
    let event = Event {
        type_: EventType::Warning,
        reason: "Reconciled".into(),
        note: Some("settings were applied".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();

    let out = kubectl.ok(&["get", "events", "-n", "default"]).await;
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row[1..],
        [
            "Warning",
            "Reconciled",
            "configmap/settings",
            "settings",
            "were",
            "applied"
        ],
        "{out}"
    );
    assert_eq!(lines.next(), None, "one event with a series: {out}");
    let core = kubectl
        .ok(&["get", "events.v1.", "-n", "default", "-o", "json"])
        .await;
    let core: serde_json::Value = serde_json::from_str(&core).unwrap();
    let item = &core["items"][0];
    assert_eq!(item["apiVersion"], "v1");
    assert_eq!(item["involvedObject"]["name"], "settings");
    assert_eq!(item["message"], "settings were applied");
    assert_eq!(item["source"]["component"], "standin-test");
    assert_eq!(item["count"], 2);

    // And the other way round: a core event is listed through events.k8s.io.
    let file = kubectl.write(
        "event.yaml",
        "apiVersion: v1\nkind: Event\nmetadata: {name: old-style}\n\
         involvedObject: {kind: ConfigMap, name: settings, namespace: default}\n\
         reason: Noticed\nmessage: seen by an old client\ntype: Normal\nsource: {component: legacy}\n",
    );
    kubectl
        .ok(&["create", "-f", &file.display().to_string()])
        .await;
    let new = kubectl
        .ok(&["get", "events.events.k8s.io", "-o", "json"])
        .await;
    let new: serde_json::Value = serde_json::from_str(&new).unwrap();
    let old_style = new["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metadata"]["name"] == "old-style")
        .expect("the core event is listed through events.k8s.io");
    assert_eq!(old_style["apiVersion"], "events.k8s.io/v1");
    assert_eq!(old_style["note"], "seen by an old client");
    assert_eq!(old_style["regarding"]["name"], "settings");
    assert_eq!(old_style["reportingController"], "legacy");
}
