//! In-memory state: the objects of every resource, one global resourceVersion counter, a
//! bounded history of watch events, and the table of served resources (built-ins plus the
//! kinds CRDs register).
//!
//! Every write happens under one lock, so a write's resourceVersion, its watch event and its
//! place in the history are assigned atomically and watchers see events in resourceVersion order.

use crate::error::{ApiError, Result};
use crate::registry::{self, ResKey, ResourceType};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// How many watch events are kept for watches that resume from an older resourceVersion.
/// A watch from before the oldest kept event gets 410 Gone, as from a compacted etcd.
pub const HISTORY_EVENTS_MAX: usize = 10_000;
/// How many events a slow watcher may fall behind before its watch is ended with 410 Gone.
pub const WATCH_CHANNEL_EVENTS: usize = 4_096;
const _: () = assert!(WATCH_CHANNEL_EVENTS <= HISTORY_EVENTS_MAX);

/// `ADDED`, `MODIFIED` or `DELETED`, with the object after the write (for DELETED, its last
/// state at the deletion's resourceVersion) and the object before it, so watches with a
/// selector can turn "stopped matching" into DELETED.
#[derive(Debug)]
pub struct WatchEvent {
    pub rv: u64,
    pub res: ResKey,
    pub type_: &'static str,
    pub object: Value,
    pub old: Option<Value>,
}

/// The start of a watch: kept events to replay, a receiver for the ones to come, and the
/// resourceVersion the watch is known to be current with.
pub struct Subscription {
    pub backlog: Vec<Arc<WatchEvent>>,
    pub receiver: broadcast::Receiver<Arc<WatchEvent>>,
    pub rv: u64,
}

/// What a write decided to do with the object at a key.
pub enum Write {
    /// Store this object (create or update). The store sets `metadata.resourceVersion`.
    Put(Value),
    /// Remove the object.
    Remove,
}

type ObjKey = (String, String);

struct State {
    rv: u64,
    objects: BTreeMap<ResKey, BTreeMap<ObjKey, Value>>,
    history: VecDeque<Arc<WatchEvent>>,
    /// Every event with a resourceVersion above this one is still in `history`.
    history_floor: u64,
    builtins: Vec<Arc<ResourceType>>,
    /// Custom resources, by the name of the CRD that declares them.
    custom: BTreeMap<String, Arc<ResourceType>>,
}

pub struct Store {
    state: Mutex<State>,
    events: broadcast::Sender<Arc<WatchEvent>>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    pub fn new() -> Store {
        let (events, _) = broadcast::channel(WATCH_CHANNEL_EVENTS);
        Store {
            state: Mutex::new(State {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                history_floor: 1,
                builtins: registry::builtins(),
                custom: BTreeMap::new(),
            }),
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (writes are applied at the end),
        // so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// All served resources: built-ins first, then custom resources.
    pub fn resources(&self) -> Vec<Arc<ResourceType>> {
        let state = self.lock();
        state
            .builtins
            .iter()
            .chain(state.custom.values())
            .cloned()
            .collect()
    }

    /// The resource served at `group/version` under `plural`.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.resources()
            .into_iter()
            .find(|r| r.group == group && r.plural == plural && r.version(version).is_some())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, res: &ResKey, namespace: &str, name: &str) -> Option<Value> {
        let state = self.lock();
        let key = (namespace.to_owned(), name.to_owned());
        state.objects.get(res).and_then(|m| m.get(&key)).cloned()
    }

    /// Objects of a resource, in one namespace or all, ordered by namespace and name, with the
    /// resourceVersion the list is consistent with.
    pub fn list(&self, res: &ResKey, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let state = self.lock();
        let items = state
            .objects
            .get(res)
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| namespace.is_none_or(|want| want == ns))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, state.rv)
    }

    /// Reads the object at a key and writes what `decide` returns, atomically. Returns the
    /// stored object (`None` after a removal). A `Put` equal to the current object is a no-op
    /// that keeps the resourceVersion, as on a real server. A `Put` of a terminating object
    /// without finalizers removes it: that is how the last finalizer's removal deletes.
    /// With `dry_run`, nothing is stored and the would-be result is returned.
    pub fn write(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        dry_run: bool,
        decide: impl FnOnce(Option<&Value>) -> Result<Write>,
    ) -> Result<Option<Value>> {
        let mut state = self.lock();
        let res = rt.key();
        let key = (namespace.to_owned(), name.to_owned());
        let current = state.objects.get(&res).and_then(|m| m.get(&key)).cloned();
        let write = decide(current.as_ref())?;
        if dry_run {
            return match write {
                Write::Put(object) => Ok(Some(object)),
                Write::Remove => Ok(None),
            };
        }
        match write {
            Write::Put(mut object) => {
                if let Some(old) = current
                    .as_ref()
                    .filter(|old| same_ignoring_rv(old, &object))
                {
                    return Ok(Some(old.clone()));
                }
                let terminating = object["metadata"].get("deletionTimestamp").is_some();
                let finalizers = object["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty());
                if terminating && !finalizers {
                    let rv = state.next_rv();
                    object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
                    if let Some(m) = state.objects.get_mut(&res) {
                        m.remove(&key);
                    }
                    self.publish(&mut state, rv, &res, "DELETED", object.clone(), current);
                    if is_crd(rt) {
                        self.unregister_crd(&mut state, name);
                    }
                    return Ok(Some(object));
                }
                let rv = state.next_rv();
                object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
                let type_ = if current.is_some() {
                    "MODIFIED"
                } else {
                    "ADDED"
                };
                state
                    .objects
                    .entry(res.clone())
                    .or_default()
                    .insert(key.clone(), object.clone());
                self.publish(&mut state, rv, &res, type_, object.clone(), current);
                if is_crd(rt) {
                    state.register_crd(&object);
                }
                Ok(Some(object))
            }
            Write::Remove => {
                let Some(mut object) = state.objects.get_mut(&res).and_then(|m| m.remove(&key))
                else {
                    return Err(ApiError::not_found(&rt.qualified_plural(), name));
                };
                let rv = state.next_rv();
                object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
                self.publish(&mut state, rv, &res, "DELETED", object.clone(), current);
                if is_crd(rt) {
                    self.unregister_crd(&mut state, name);
                }
                Ok(None)
            }
        }
    }

    fn publish(
        &self,
        state: &mut State,
        rv: u64,
        res: &ResKey,
        type_: &'static str,
        object: Value,
        old: Option<Value>,
    ) {
        let event = Arc::new(WatchEvent {
            rv,
            res: res.clone(),
            type_,
            object,
            old,
        });
        state.history.push_back(event.clone());
        while state.history.len() > HISTORY_EVENTS_MAX {
            if let Some(dropped) = state.history.pop_front() {
                state.history_floor = dropped.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    fn unregister_crd(&self, state: &mut State, crd_name: &str) {
        let Some(rt) = state.custom.remove(crd_name) else {
            return;
        };
        let res = rt.key();
        let removed = state.objects.remove(&res).unwrap_or_default();
        for (_, mut object) in removed {
            let rv = state.next_rv();
            object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
            let old = object.clone();
            self.publish(state, rv, &res, "DELETED", object, Some(old));
        }
    }

    /// Forgets the watch history, as an etcd compaction does: every watch from a
    /// resourceVersion older than now gets 410 Gone. Used by tests of watch recovery.
    pub fn compact(&self) {
        let mut state = self.lock();
        state.history.clear();
        state.history_floor = state.rv;
    }

    /// Starts a watch after `from_rv`: the kept events after it, and a receiver for what comes
    /// next, taken under the same lock so that nothing is missed or repeated. `None` for
    /// `from_rv` means "from now". Fails with 410 Gone when the history no longer reaches back.
    pub fn subscribe(&self, from_rv: Option<u64>) -> Result<Subscription> {
        let state = self.lock();
        let receiver = self.events.subscribe();
        let Some(from) = from_rv else {
            return Ok(Subscription {
                backlog: Vec::new(),
                receiver,
                rv: state.rv,
            });
        };
        if from < state.history_floor {
            return Err(ApiError::gone(format!(
                "too old resource version: {from} ({})",
                state.history_floor
            )));
        }
        let backlog = state
            .history
            .iter()
            .filter(|e| e.rv > from)
            .cloned()
            .collect();
        Ok(Subscription {
            backlog,
            receiver,
            rv: state.rv.max(from),
        })
    }
}

impl State {
    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn register_crd(&mut self, crd: &Value) {
        let Some(name) = crd["metadata"]["name"].as_str() else {
            return;
        };
        if crd["metadata"].get("deletionTimestamp").is_some() {
            return;
        }
        if let Ok(rt) = registry::from_crd(crd) {
            self.custom.insert(name.to_owned(), Arc::new(rt));
        }
    }
}

fn is_crd(rt: &ResourceType) -> bool {
    rt.plural == "customresourcedefinitions" && rt.group == "apiextensions.k8s.io"
}

/// Two objects are the same write if they differ at most in resourceVersion and in the times
/// recorded in managedFields.
fn same_ignoring_rv(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            if let Some(Value::Array(fields)) = meta.get_mut("managedFields") {
                for entry in fields.iter_mut().filter_map(Value::as_object_mut) {
                    entry.remove("time");
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}
