//! The test harness: a fresh database per test (cloned from a migrated, seeded template on the
//! process's private PostgreSQL), a stand-in API server with the CRDs installed, and the real
//! controllers running against both.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use kube_standin::StandIn;
use loyalty_operator::controller::{self, Dependencies, Settings, shutdown_pair};
use loyalty_operator::db::Db;
use loyalty_operator::metrics::Metrics;
use loyalty_operator::placement::postgres::PostgresBackend;
use loyalty_service::store::{migrate, seed};
use serde::de::DeserializeOwned;
use tokio_postgres::NoTls;

const TEMPLATE: &str = "operator_template";
/// How long `eventually` waits for the controllers to converge.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> &'static str {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let server = pgharness::shared();
        server
            .create_database(TEMPLATE, None)
            .expect("create template database");
        let url = server.url(TEMPLATE);
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
                    let driver = tokio::spawn(conn);
                    migrate::run(&client).await.unwrap();
                    seed::reference_data(&client).await.unwrap();
                    drop(client);
                    driver.await.unwrap().unwrap();
                })
        })
        .join()
        .expect("template setup");
    });
    TEMPLATE
}

/// A fresh database for one test; returns its URL.
pub async fn fresh_database() -> String {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let template = template();
    let db = name.clone();
    tokio::task::spawn_blocking(move || pgharness::shared().create_database(&db, Some(template)))
        .await
        .unwrap()
        .expect("create test database");
    pgharness::shared().url(&name)
}

/// A direct connection for assertions.
pub async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// Reads a YAML file of the repository into `T`.
pub fn yaml<T: DeserializeOwned>(relative: &str) -> T {
    let text = std::fs::read_to_string(repo_root().join(relative))
        .unwrap_or_else(|e| panic!("{relative}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// A stand-in API server with the CRDs of manifests/crds/ and the namespaces the tests use.
pub struct Cluster {
    /// Keeps the stand-in serving: dropping it stops the server.
    _server: StandIn,
    pub client: Client,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let server = StandIn::start().await.expect("start the stand-in");
        let config = kube::Config::new(server.url().parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for file in ["campaigns.yaml", "loyaltyregions.yaml", "partners.yaml"] {
            let crd: CustomResourceDefinition = yaml(&format!("manifests/crds/{file}"));
            crds.create(&PostParams::default(), &crd)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for name in ["marketing-eu", "loyalty-partners", "loyalty-system"] {
            let ns: Namespace =
                serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
            namespaces
                .create(&PostParams::default(), &ns)
                .await
                .unwrap();
        }
        Cluster {
            _server: server,
            client,
        }
    }
}

/// The real controllers, running until stopped.
pub struct Operator {
    stop: Option<futures::channel::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Operator {
    /// Starts the three controllers (no leader election) against `client` and `db_url`.
    pub fn start(client: &Client, db_url: &str) -> Operator {
        Operator::start_with(client, db_url, Settings::default())
    }

    /// [`Operator::start`] with `settings` (its instance name is the tests').
    pub fn start_with(client: &Client, db_url: &str, settings: Settings) -> Operator {
        let metrics = Metrics::new();
        let deps = Dependencies {
            client: client.clone(),
            db: Db::connect(db_url, metrics.clone()).unwrap(),
            placement: Arc::new(PostgresBackend),
            metrics,
            settings: Settings {
                instance: Some("test-operator".into()),
                ..settings
            },
        };
        let (stop, signal) = shutdown_pair();
        let task = tokio::spawn(controller::run(deps, signal));
        Operator {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the controllers gracefully and waits for them.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("controllers stop within 10 s")
                .unwrap();
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after [`CONVERGE_TIMEOUT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + CONVERGE_TIMEOUT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Deletes `name` and waits until it is gone (its finalizers done).
pub async fn delete_and_wait<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.delete(name, &kube::api::DeleteParams::default())
        .await
        .unwrap();
    eventually(&format!("{name} is gone"), || async {
        api.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await;
}

/// The reasons of the events.k8s.io Events about the object `name` in `namespace`.
pub async fn event_reasons(client: &Client, namespace: &str, name: &str) -> Vec<String> {
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), namespace);
    events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}
