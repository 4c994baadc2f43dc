//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and an approximation of
//! strategic merge patch.
//!
//! Strategic merge patch is implemented as a merge patch that understands the directives kubectl
//! sends (`$patch: delete|replace`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`,
//! `$retainKeys`) and merges lists of objects by their `name` field, the merge key of most
//! built-in lists (containers, env, volumes, ports). Lists without names are replaced whole;
//! the per-field merge keys and strategies of the real Go types are not modelled.

use crate::error::{ApiError, Result};
use serde_json::{Map, Value};

/// The patch types the API server accepts, by their content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// RFC 7386: objects merge recursively, `null` removes a key, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The strategic-merge-patch approximation described in the module documentation.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = Value::Object(patch.clone());
        strip_directives(&mut replacement);
        *target = replacement;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| keep.contains(&k.as_str()) || patch.contains_key(k));
    }
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(gone)) = (target.get_mut(list), value) {
                items.retain(|item| !gone.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner)
                if inner.get("$patch").and_then(Value::as_str) == Some("delete") =>
            {
                target.remove(key);
            }
            Value::Array(items) => {
                let order = patch
                    .get(&format!("$setElementOrder/{key}"))
                    .and_then(Value::as_array);
                let current = target.remove(key);
                target.insert(key.clone(), merge_list(current, items, order));
            }
            _ => strategic(target.entry(key.clone()).or_insert(Value::Null), value),
        }
    }
}

fn named(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

fn merge_list(current: Option<Value>, patch: &[Value], order: Option<&Vec<Value>>) -> Value {
    let by_name = !patch.is_empty() && patch.iter().all(|p| named(p).is_some());
    let Some(Value::Array(mut items)) = current.filter(|_| by_name) else {
        let mut replaced = Value::Array(patch.iter().filter(|p| !is_delete(p)).cloned().collect());
        strip_directives(&mut replaced);
        return replaced;
    };
    for p in patch {
        let pos = items.iter().position(|i| named(i) == named(p));
        match (pos, is_delete(p)) {
            (Some(pos), true) => {
                items.remove(pos);
            }
            (None, true) => {}
            (Some(pos), false) => strategic(&mut items[pos], p),
            (None, false) => {
                let mut added = p.clone();
                strip_directives(&mut added);
                items.push(added);
            }
        }
    }
    if let Some(order) = order {
        let rank = |v: &Value| {
            order
                .iter()
                .position(|o| named(o) == named(v))
                .unwrap_or(usize::MAX)
        };
        items.sort_by_key(rank);
    }
    Value::Array(items)
}

fn is_delete(v: &Value) -> bool {
    v.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// RFC 6902. As on the real server, a `test` of a path that does not exist passes when the
/// expected value is `null`: kube-runtime's finalizer helper relies on it.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<()> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be an array of operations"))?;
    for op in ops {
        apply_op(target, op).map_err(|message| ApiError {
            code: 422,
            reason: "Invalid",
            message,
            details: None,
        })?;
    }
    Ok(())
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let name = op["op"].as_str().ok_or("missing op")?;
    let path = op["path"].as_str().ok_or("missing path")?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| format!("missing value for {name} {path}"))
    };
    match name {
        "add" => add(doc, path, value()?),
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            let slot = pointer_mut(doc, path).ok_or_else(|| {
                format!("replace operation does not apply: doc is missing key: {path}")
            })?;
            *slot = value()?;
            Ok(())
        }
        "move" | "copy" => {
            let from = op["from"].as_str().ok_or("missing from")?;
            let moved = if name == "move" {
                remove(doc, from)?
            } else {
                doc.pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("copy from missing path {from}"))?
            };
            add(doc, path, moved)
        }
        "test" => {
            let expected = value()?;
            let actual = doc.pointer(path).cloned().unwrap_or(Value::Null);
            if actual == expected {
                Ok(())
            } else {
                Err(format!("testing value {path} failed: test failed"))
            }
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

fn split(path: &str) -> Result<(&str, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid path {path}"))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn pointer_mut<'a>(doc: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    if path.is_empty() {
        Some(doc)
    } else {
        doc.pointer_mut(path)
    }
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    let missing = || format!("add operation does not apply: doc is missing path: \"{path}\"");
    match pointer_mut(doc, parent).ok_or_else(missing)? {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" {
                items.len()
            } else {
                last.parse().map_err(|_| missing())?
            };
            if index > items.len() {
                return Err(missing());
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\"");
    match pointer_mut(doc, parent).ok_or_else(missing)? {
        Value::Object(map) => map.remove(&last).ok_or_else(missing),
        Value::Array(items) => {
            let index: usize = last.parse().map_err(|_| missing())?;
            if index < items.len() {
                Ok(items.remove(index))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_test_of_a_missing_path_against_null_passes() {
        let mut doc = json!({"metadata": {"name": "a"}});
        let ops = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}
        ]);
        json_patch(&mut doc, &ops).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["x"]));
    }

    #[test]
    fn a_failed_test_leaves_a_422() {
        let mut doc = json!({"a": 1});
        let err =
            json_patch(&mut doc, &json!([{"op": "test", "path": "/a", "value": 2}])).unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn merge_patch_null_removes_and_objects_merge() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge(&mut doc, &json!({"a": {"b": null, "e": 4}, "d": [1]}));
        assert_eq!(doc, json!({"a": {"c": 2, "e": 4}, "d": [1]}));
    }

    #[test]
    fn strategic_merge_merges_named_lists_and_drops_directives() {
        let mut doc = json!({"containers": [{"name": "a", "image": "1", "args": ["x"]}, {"name": "b", "image": "2"}]});
        let patch = json!({
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "image": "3"}]
        });
        strategic(&mut doc, &patch);
        assert_eq!(
            doc,
            json!({"containers": [{"name": "b", "image": "2"}, {"name": "a", "image": "3", "args": ["x"]}]})
        );
    }
}
