//! Server-side printing: `meta.k8s.io/v1` Tables, which `kubectl get` asks for. Custom
//! resources get their CRD's `additionalPrinterColumns` (evaluated with a JSONPath subset:
//! `.a.b`, `[n]`, `['key']` and `[?(@.a=="x")]` filters); Events get the real server's event
//! columns (see [`crate::events`]); everything else gets Name and Age.

use crate::registry::{PrinterColumn, ResourceType};
use serde_json::{Value, json};

/// Whether an Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn columns(rt: &ResourceType, version: &str) -> Vec<PrinterColumn> {
    let declared = rt
        .version(version)
        .map(|v| v.columns.clone())
        .unwrap_or_default();
    if !declared.is_empty() {
        return declared;
    }
    vec![PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }]
}

/// A Table of `items`. `include_object` is the `includeObject` query parameter
/// (`Metadata` by default, `Object` or `None`).
pub fn table(
    rt: &ResourceType,
    version: &str,
    items: &[Value],
    resource_version: &str,
    include_object: &str,
) -> Value {
    let columns = columns(rt, version);
    let events = crate::events::is_event(rt);
    let definitions = if events {
        crate::events::columns()
    } else {
        let mut definitions = vec![json!({
            "name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": "Name must be unique within a namespace.",
        })];
        definitions.extend(columns.iter().map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
        }));
        definitions
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let cells = if events {
                crate::events::cells(item)
            } else {
                let mut cells = vec![item["metadata"]["name"].clone()];
                cells.extend(columns.iter().map(|c| cell(c, item)));
                cells
            };
            let object = match include_object {
                "None" => Value::Null,
                "Object" => item.clone(),
                _ => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": item["metadata"],
                }),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn cell(column: &PrinterColumn, item: &Value) -> Value {
    let Some(value) = json_path(item, &column.json_path) else {
        return Value::Null;
    };
    match (column.type_.as_str(), value) {
        ("date", Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => Value::String(human_duration(chrono::Utc::now().signed_duration_since(t))),
            Err(_) => Value::String(s.clone()),
        },
        (_, v @ (Value::Object(_) | Value::Array(_))) => Value::String(v.to_string()),
        (_, v) => v.clone(),
    }
}

/// Evaluates the JSONPath subset described in the module docs; the first match wins.
pub fn json_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    let mut current = root;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            current = current.get(&after[..end])?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = &after[..end];
            rest = &after[end + 1..];
            current = if let Some(filter) =
                inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
            {
                let (field, expected) = filter.split_once("==")?;
                let expected = expected.trim().trim_matches(['"', '\'']);
                current.as_array()?.iter().find(|item| {
                    json_path(item, &format!(".{}", field.trim()))
                        .is_some_and(|v| v.as_str() == Some(expected) || *v == json!(expected))
                })?
            } else if let Ok(index) = inner.parse::<usize>() {
                current.get(index)?
            } else {
                current.get(inner.trim_matches(['"', '\'']))?
            };
        } else {
            return None;
        }
    }
    Some(current)
}

/// Ages as kubectl shows them: `45s`, `3m12s`, `5h`, `2d3h`, `400d`, `<invalid>` (future).
pub fn human_duration(d: chrono::Duration) -> String {
    // Like kubectl, a time more than a second in the future has no age.
    if d.num_seconds() < -1 {
        return "<invalid>".into();
    }
    let s = d.num_seconds().max(0);
    let (m, h, days) = (s / 60, s / 3600, s / 86_400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 && s % 60 != 0 => format!("{m}m{}s", s % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if days < 8 && h % 24 != 0 => format!("{days}d{}h", h % 24),
        _ if days < 730 => format!("{days}d"),
        _ => format!("{}y{}d", days / 365, days % 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_follows_fields_indexes_and_filters() {
        let obj = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}, "spec": {"n": 3}});
        assert_eq!(json_path(&obj, ".spec.n"), Some(&json!(3)));
        assert_eq!(
            json_path(&obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(
            json_path(&obj, ".status.conditions[0].type"),
            Some(&json!("A"))
        );
        assert_eq!(json_path(&obj, ".spec.missing"), None);
    }

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (5, "5s"),
            (200, "3m20s"),
            (600, "10m"),
            (4 * 3600 + 60, "4h1m"),
            (30 * 3600, "30h"),
            (3 * 86_400, "3d"),
        ];
        for (secs, text) in cases {
            assert_eq!(human_duration(chrono::Duration::seconds(secs)), text);
        }
    }
}
