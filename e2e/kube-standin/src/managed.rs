//! `metadata.managedFields`, kept minimally: one entry per (manager, operation, subresource)
//! with the time of its last write and the fields its last request set. Ownership is not
//! used to resolve apply conflicts or to remove fields a manager stopped applying.

use crate::ops::{Part, Target, meta_mut, now};
use serde_json::{Value, json};

/// `{"f:spec": {"f:x": {}}}` for every field set in `value`: a minimal `fieldsV1`.
fn field_set(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind"))
                .map(|(k, v)| (format!("f:{k}"), field_set(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

/// Records that `manager` wrote `fields` with `operation`, replacing its previous entry.
pub fn record_manager(
    t: &Target,
    object: &mut Value,
    manager: &str,
    operation: &str,
    part: Part,
    fields: &Value,
) {
    let subresource = if part == Part::Status { "status" } else { "" };
    let meta = meta_mut(object);
    let mut entries: Vec<Value> = meta
        .remove("managedFields")
        .and_then(|v| {
            if let Value::Array(a) = v {
                Some(a)
            } else {
                None
            }
        })
        .unwrap_or_default();
    entries.retain(|e| {
        !(e["manager"] == manager
            && e["operation"] == operation
            && e["subresource"].as_str().unwrap_or("") == subresource)
    });
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": t.rt.api_version(t.version),
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": field_set(fields),
    });
    if !subresource.is_empty() {
        entry["subresource"] = json!(subresource);
    }
    entries.push(entry);
    meta.insert("managedFields".into(), Value::Array(entries));
}
