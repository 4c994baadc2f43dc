//! Watches: a stream of newline-delimited `{"type": ..., "object": ...}` events.
//!
//! Without a resourceVersion (or with "0", or with `sendInitialEvents=true`) a watch starts with
//! an ADDED event for every current object; with one, it replays the kept history after it. A
//! version older than the history gets an ERROR event carrying a 410 Expired Status, which is
//! what a real server sends and what kube-runtime's watcher answers by relisting. Bookmarks are
//! sent every [`BOOKMARK_INTERVAL_MS`] when asked for.

use crate::error::ApiError;
use crate::ops::{Target, present};
use crate::registry::ResourceType;
use crate::selectors::Selector;
use crate::store::{Store, WatchEvent};
use crate::table;
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How often a watch that allows bookmarks gets one. Real servers send one about a minute;
/// tests want them sooner.
pub const BOOKMARK_INTERVAL_MS: u64 = 2_000;
/// A watch without `timeoutSeconds` ends after this long, as real servers end theirs.
pub const WATCH_TIMEOUT_DEFAULT_S: u64 = 1_800;
/// Events buffered per watch connection before the writer waits for the client.
const WATCH_BUFFER_EVENTS: usize = 256;

/// What one watch request asked for.
pub struct WatchRequest {
    pub rt: Arc<ResourceType>,
    pub version: String,
    /// `None` watches every namespace.
    pub namespace: Option<String>,
    pub selector: Selector,
    pub resource_version: Option<String>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Duration,
    /// `Some(includeObject)` when the client asked for Tables (as `kubectl get -w` does).
    pub table: Option<String>,
}

pub fn respond(
    store: Arc<Store>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    req: WatchRequest,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(WATCH_BUFFER_EVENTS);
    tokio::spawn(run(store, shutdown, req, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<Bytes, std::convert::Infallible>(chunk), rx))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

fn line(type_: &str, object: Value) -> Bytes {
    let mut text = json!({"type": type_, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn gone(message: String) -> Bytes {
    line("ERROR", ApiError::gone(message).status())
}

struct Watcher {
    req: WatchRequest,
    store: Arc<Store>,
    tx: mpsc::Sender<Bytes>,
    /// Only the first Table of a watch carries column definitions, as on a real server.
    columns_sent: AtomicBool,
}

impl Watcher {
    fn matches(&self, object: &Value) -> bool {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or("");
        self.req.namespace.as_deref().is_none_or(|want| want == ns)
            && self.req.selector.matches(object)
    }

    fn present(&self, object: Value) -> Value {
        let t = Target {
            store: &self.store,
            rt: &self.req.rt,
            version: &self.req.version,
            namespace: "",
        };
        let object = present(&t, object);
        let Some(include) = &self.req.table else {
            return object;
        };
        let rv = object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut table = table::table(&self.req.rt, &self.req.version, &[object], &rv, include);
        if self.columns_sent.swap(true, Ordering::Relaxed) {
            table["columnDefinitions"] = json!([]);
        }
        table
    }

    /// Sends what this watch should see of one store event. Returns false once the client is gone.
    async fn forward(&self, event: &WatchEvent) -> bool {
        if event.res != self.req.rt.key() {
            return true;
        }
        let now = self.matches(&event.object);
        let before = event.old.as_ref().is_some_and(|o| self.matches(o));
        // An object that starts or stops matching a selector appears as added or deleted.
        let type_ = match (event.type_, before, now) {
            ("MODIFIED", false, true) => "ADDED",
            ("MODIFIED", true, false) => "DELETED",
            ("DELETED", _, _) if now || before => "DELETED",
            (t, _, true) => t,
            _ => return true,
        };
        self.tx
            .send(line(type_, self.present(event.object.clone())))
            .await
            .is_ok()
    }

    async fn bookmark(&self, rv: u64, initial_events_end: bool) -> bool {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.req.rt.kind, "apiVersion": self.req.rt.api_version(&self.req.version), "metadata": metadata});
        self.tx.send(line("BOOKMARK", object)).await.is_ok()
    }
}

async fn run(
    store: Arc<Store>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    req: WatchRequest,
    tx: mpsc::Sender<Bytes>,
) {
    let requested = req
        .resource_version
        .clone()
        .filter(|rv| !rv.is_empty() && rv != "0");
    let from = match requested.as_deref().map(str::parse::<u64>) {
        Some(Ok(rv)) if !req.send_initial_events => Some(rv),
        Some(Err(_)) => {
            let _ = tx.send(gone("invalid resource version".into())).await;
            return;
        }
        _ => None,
    };
    let watcher = Watcher {
        req,
        store: store.clone(),
        tx,
        columns_sent: AtomicBool::new(false),
    };
    // Start from a list when no version is given: ADDED for each object, then what follows it.
    let (initial, start) = match from {
        Some(rv) => (Vec::new(), rv),
        None => {
            let (items, rv) = store.list(&watcher.req.rt.key(), watcher.req.namespace.as_deref());
            (items, rv)
        }
    };
    let (backlog, mut events, mut last_rv) = match store.subscribe(Some(start)) {
        Ok(s) => (s.backlog, s.receiver, s.rv),
        Err(e) => {
            let _ = watcher.tx.send(gone(e.message)).await;
            return;
        }
    };
    for object in initial.into_iter().filter(|o| watcher.matches(o)) {
        if watcher
            .tx
            .send(line("ADDED", watcher.present(object)))
            .await
            .is_err()
        {
            return;
        }
    }
    if watcher.req.send_initial_events
        && watcher.req.bookmarks
        && !watcher.bookmark(start, true).await
    {
        return;
    }
    for event in &backlog {
        last_rv = last_rv.max(event.rv);
        if !watcher.forward(event).await {
            return;
        }
    }
    let deadline = tokio::time::sleep(watcher.req.timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(Duration::from_millis(BOOKMARK_INTERVAL_MS));
    ticker.tick().await;
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => {
                    last_rv = last_rv.max(event.rv);
                    if !watcher.forward(&event).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = watcher.tx.send(gone(format!("watch fell behind at resource version {last_rv}"))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if watcher.req.bookmarks => {
                if !watcher.bookmark(last_rv, false).await {
                    return;
                }
            }
            _ = &mut deadline => return,
            _ = watcher.tx.closed() => return,
            _ = shutdown.changed() => return,
        }
    }
}
