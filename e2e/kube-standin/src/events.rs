//! Events in their two representations: core `v1` Events (`/api/v1/.../events`, what
//! `kubectl get events` reads) and `events.k8s.io/v1` Events (what kube-rs's `Recorder` and
//! client-go's new recorder write). A real server stores them as one resource; the stand-in
//! stores each under the API it was written through, and lists and gets of either API also
//! return the other's objects, converted as the real conversion does (`regarding` ⇄
//! `involvedObject`, `note` ⇄ `message`, `reportingController` ⇄ `reportingComponent`,
//! `deprecated*` ⇄ `source`, `firstTimestamp`, `lastTimestamp`, `count`). For readers of core
//! Events, a new-style Event missing them also gets `source.component` from
//! `reportingController`, `firstTimestamp`/`lastTimestamp` from `eventTime` and
//! `series.lastObservedTime`, and `count` from `series.count`. Converted objects are read-only
//! views: writes (PUT, PATCH, DELETE) reach only the API the object was created through, and
//! watches see only their own API's objects.
//!
//! The Table for either API has the real server's event columns (Last Seen, Type, Reason,
//! Object, Message, and the wide-only Subobject, Source, First Seen, Count, Name).

use crate::registry::{ResKey, ResourceType};
use crate::store::Store;
use serde_json::{Map, Value, json};

const CORE: &str = "";
const EVENTS: &str = "events.k8s.io";

/// Whether `rt` is one of the two Event resources.
pub fn is_event(rt: &ResourceType) -> bool {
    rt.plural == "events" && (rt.group == CORE || rt.group == EVENTS)
}

/// The other Event resource and how to convert its objects into `rt`'s form.
/// Converts an Event from one API's form into the other's.
type Convert = fn(&Value) -> Value;

fn companion(rt: &ResourceType) -> Option<(ResKey, Convert)> {
    if !is_event(rt) {
        return None;
    }
    let (group, convert): (&str, Convert) = if rt.group == CORE {
        (EVENTS, to_core)
    } else {
        (CORE, to_events_v1)
    };
    Some((
        ResKey {
            group: group.into(),
            plural: "events".into(),
        },
        convert,
    ))
}

/// The objects of `rt`'s companion resource (see the module docs), converted, that have no
/// namesake among `native`; `native` plus these, sorted by namespace and name, is the list.
pub fn merge_companions(
    store: &Store,
    rt: &ResourceType,
    namespace: Option<&str>,
    native: &mut Vec<Value>,
) {
    let Some((key, convert)) = companion(rt) else {
        return;
    };
    let id = |v: &Value| {
        (
            v["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
            v["metadata"]["name"].as_str().unwrap_or("").to_owned(),
        )
    };
    let (others, _) = store.list(&key, namespace);
    let mut added = false;
    for other in others {
        if !native.iter().any(|n| id(n) == id(&other)) {
            native.push(convert(&other));
            added = true;
        }
    }
    if added {
        native.sort_by_key(id);
    }
}

/// The companion resource's object of that name, converted into `rt`'s form.
pub fn companion_get(
    store: &Store,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
) -> Option<Value> {
    let (key, convert) = companion(rt)?;
    store.get(&key, namespace, name).map(|v| convert(&v))
}

/// Copies the fields present in `from` to `to`, renamed: `(from_name, to_name)`.
fn carry(from: &Value, to: &mut Map<String, Value>, names: &[(&str, &str)]) {
    for (a, b) in names {
        if let Some(v) = from.get(*a).filter(|v| !v.is_null()) {
            to.insert((*b).into(), v.clone());
        }
    }
}

const SHARED: [(&str, &str); 8] = [
    ("metadata", "metadata"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("related", "related"),
    ("type", "type"),
];

/// An `events.k8s.io/v1` Event as a core `v1` Event.
pub fn to_core(event: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    carry(event, &mut out, &SHARED);
    carry(
        event,
        &mut out,
        &[
            ("regarding", "involvedObject"),
            ("note", "message"),
            ("reportingController", "reportingComponent"),
            ("deprecatedSource", "source"),
            ("deprecatedFirstTimestamp", "firstTimestamp"),
            ("deprecatedLastTimestamp", "lastTimestamp"),
            ("deprecatedCount", "count"),
        ],
    );
    // Old clients show `source.component`, the first and last time and the count.
    let time = |v: &Value| v.as_str().map(|t| json!(seconds(t)));
    let last = event["series"]["lastObservedTime"]
        .as_str()
        .map(|_| &event["series"]["lastObservedTime"])
        .unwrap_or(&event["eventTime"]);
    let filled = [
        (
            "source",
            event["reportingController"]
                .as_str()
                .map(|c| json!({"component": c})),
        ),
        ("count", event["series"]["count"].as_i64().map(|c| json!(c))),
        ("firstTimestamp", time(&event["eventTime"])),
        ("lastTimestamp", time(last)),
    ];
    for (key, value) in filled {
        if let Some(value) = value {
            out.entry(key).or_insert(value);
        }
    }
    Value::Object(out)
}

/// A core `v1` Event as an `events.k8s.io/v1` Event.
pub fn to_events_v1(event: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    carry(event, &mut out, &SHARED);
    carry(
        event,
        &mut out,
        &[
            ("involvedObject", "regarding"),
            ("message", "note"),
            ("reportingComponent", "reportingController"),
            ("source", "deprecatedSource"),
            ("firstTimestamp", "deprecatedFirstTimestamp"),
            ("lastTimestamp", "deprecatedLastTimestamp"),
            ("count", "deprecatedCount"),
        ],
    );
    if let Some(component) = event["source"]["component"].as_str() {
        out.entry("reportingController").or_insert(json!(component));
    }
    Value::Object(out)
}

/// `metav1.Time` has whole seconds: `2030-01-02T03:04:05.123456Z` becomes `...05Z`.
fn seconds(time: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(time) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        Err(_) => time.to_owned(),
    }
}

/// The column definitions of the real server's event Table.
pub fn columns() -> Vec<Value> {
    let column = |name: &str, priority: i64, description: &str| {
        json!({"name": name, "type": "string", "format": if name == "Name" { "name" } else { "" },
               "description": description, "priority": priority})
    };
    vec![
        column(
            "Last Seen",
            0,
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        column(
            "Type",
            0,
            "Type of this event (Normal, Warning), new types could be added in the future",
        ),
        column(
            "Reason",
            0,
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        column("Object", 0, "The object that this event is about."),
        column(
            "Subobject",
            1,
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
        ),
        column(
            "Source",
            1,
            "The component reporting this event. Should be a short machine understandable string.",
        ),
        column(
            "Message",
            0,
            "A human-readable description of the status of this operation.",
        ),
        column(
            "First Seen",
            1,
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        ),
        column("Count", 1, "The number of times this event has occurred."),
        column("Name", 1, "Name must be unique within a namespace."),
    ]
}

/// One Table row's cells for an Event of either API, as the real server prints them.
pub fn cells(event: &Value) -> Vec<Value> {
    let event = if event["apiVersion"] == json!("events.k8s.io/v1") {
        to_core(event)
    } else {
        event.clone()
    };
    let text = |path: &[&str]| {
        path.iter()
            .fold(&event, |v, key| &v[*key])
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let age = |time: String| {
        chrono::DateTime::parse_from_rfc3339(&time)
            .map(|t| crate::table::human_duration(chrono::Utc::now().signed_duration_since(t)))
            .unwrap_or_else(|_| "<unknown>".into())
    };
    let first = if text(&["firstTimestamp"]).is_empty() {
        age(text(&["eventTime"]))
    } else {
        age(text(&["firstTimestamp"]))
    };
    let mut last = if text(&["lastTimestamp"]).is_empty() {
        first.clone()
    } else {
        age(text(&["lastTimestamp"]))
    };
    let mut count = event["count"].as_i64().unwrap_or(0);
    if event["series"].is_object() {
        last = age(text(&["series", "lastObservedTime"]));
        count = event["series"]["count"].as_i64().unwrap_or(count);
    } else if count == 0 {
        count = 1;
    }
    let object = format!(
        "{}/{}",
        text(&["involvedObject", "kind"]).to_lowercase(),
        text(&["involvedObject", "name"])
    );
    let source = match (
        text(&["source", "component"]),
        text(&["reportingComponent"]),
    ) {
        (component, _) if !component.is_empty() => {
            let host = text(&["source", "host"]);
            if host.is_empty() {
                component
            } else {
                format!("{component}, {host}")
            }
        }
        (_, controller) => controller,
    };
    vec![
        json!(last),
        json!(text(&["type"])),
        json!(text(&["reason"])),
        json!(object),
        json!(text(&["involvedObject", "fieldPath"])),
        json!(source),
        json!(text(&["message"])),
        json!(first),
        json!(count),
        json!(text(&["metadata", "name"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_style_event_converts_to_a_core_event_and_back() {
        let new = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2030-01-02T03:04:05.123456Z",
            "regarding": {"kind": "Promotion", "name": "p"},
            "note": "promotion is live", "reason": "Activated", "type": "Normal",
            "action": "Activate", "reportingController": "ctl", "reportingInstance": "ctl-1",
            "series": {"count": 3, "lastObservedTime": "2030-01-02T03:09:00.000000Z"},
        });
        let core = to_core(&new);
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "promotion is live");
        assert_eq!(core["source"], json!({"component": "ctl"}));
        assert_eq!(core["reportingComponent"], "ctl");
        assert_eq!(core["firstTimestamp"], "2030-01-02T03:04:05Z");
        assert_eq!(core["lastTimestamp"], "2030-01-02T03:09:00Z");
        assert_eq!(core["count"], 3);
        let back = to_events_v1(&core);
        for key in [
            "regarding",
            "note",
            "reason",
            "type",
            "action",
            "reportingController",
            "series",
            "eventTime",
        ] {
            assert_eq!(back[key], new[key], "{key}");
        }
        let cells = cells(&new);
        assert_eq!(
            cells[1..4],
            [json!("Normal"), json!("Activated"), json!("promotion/p")]
        );
        assert_eq!(cells[6], json!("promotion is live"));
        assert_eq!(cells[8], json!(3));
    }
}
