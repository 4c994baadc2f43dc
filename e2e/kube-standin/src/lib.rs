//! A small, stateful Kubernetes API server for tests and the local sandbox.
//!
//! It speaks enough of the real protocol for kube-rs (controllers, the finalizer helper,
//! server-side apply, Events, Leases) and for kubectl (discovery, Tables, apply, delete --wait):
//! CRUD on built-in kinds and on the kinds CRDs register, list + watch with resourceVersions,
//! bookmarks and 410 Gone, four patch types, a `/status` subresource, finalizers, generation,
//! validation of custom resources against the CRD schema and its CEL rules, and
//! ValidatingAdmissionPolicies with their bindings (see `admission.rs`). Request bodies
//! are JSON or YAML, or protobuf for the few built-in kinds `kubectl create` sends that way
//! (see `protobuf.rs`); responses are always JSON. Built-ins are stored as sent, except that a
//! Secret's `stringData` is folded into `data`, and core `v1` and `events.k8s.io/v1` Events are
//! listed through both APIs (see `events.rs`).
//! State lives in memory; it serves plain HTTP on 127.0.0.1 without authentication.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = kube_standin::StandIn::start().await?;
//! server.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! println!("{}", server.url());
//! # Ok(()) }
//! ```

mod admission;
mod cel;
mod cel_url;
mod discovery;
mod error;
mod events;
mod handlers;
mod managed;
mod openapi;
mod ops;
mod patch;
mod protobuf;
mod registry;
mod selectors;
mod store;
mod table;
mod validation;
mod watch;

pub use error::ApiError;
pub use store::Store;

use axum::Router;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// Namespaces that exist from the start, as on a fresh cluster.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// A running stand-in API server. Dropping it stops the server and ends open watches.
pub struct StandIn {
    addr: SocketAddr,
    store: Arc<Store>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl StandIn {
    /// Serves on 127.0.0.1 at a free port, in a task of the current tokio runtime.
    pub async fn start() -> std::io::Result<StandIn> {
        StandIn::start_on(0).await
    }

    /// Serves on 127.0.0.1 at `port` (0 for a free one).
    pub async fn start_on(port: u16) -> std::io::Result<StandIn> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Store::new());
        seed(&store);
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        let app = handlers::App {
            store: store.clone(),
            shutdown: stop.clone(),
        };
        let router = Router::new().fallback(handlers::dispatch).with_state(app);
        let mut stop_serving = stop;
        tokio::spawn(async move {
            let stopped = async move {
                // Either a send of `true` or the sender being dropped ends the server.
                let _ = stop_serving.changed().await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(error = %e, "kube-standin server failed");
            }
        });
        Ok(StandIn {
            addr,
            store,
            shutdown,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The in-memory state, for tests that inspect or provoke it directly.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Forgets the watch history, as an etcd compaction does, so that a watch resumed from an
    /// older resourceVersion gets 410 Gone.
    pub fn compact_watch_history(&self) {
        self.store.compact();
    }

    /// The text of a kubeconfig whose current context points at this server without auth.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-standin\n  cluster:\n    server: {}\n\
             contexts:\n- name: kube-standin\n  context:\n    cluster: kube-standin\n    user: kube-standin\n    namespace: default\n\
             current-context: kube-standin\nusers:\n- name: kube-standin\n  user: {{}}\npreferences: {{}}\n",
            self.url()
        )
    }

    /// Writes [`StandIn::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        // Nobody listening means the server already stopped.
        let _ = self.shutdown.send(true);
    }
}

fn seed(store: &Store) {
    let namespaces = store
        .resolve("", "v1", "namespaces")
        .expect("namespaces are built in");
    for name in INITIAL_NAMESPACES {
        let t = ops::Target {
            store,
            rt: &namespaces,
            version: "v1",
            namespace: "",
        };
        let object = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let opts = ops::WriteOptions {
            field_manager: Some("kube-standin".into()),
            ..Default::default()
        };
        ops::create(&t, object, &opts, "Update").expect("seeding a fresh store cannot conflict");
    }
}
