//! Validation of custom resources against their CRD version's `openAPIV3Schema`, as the real
//! API server does it: unknown fields are pruned (or, with `fieldValidation=Strict`, rejected
//! with 400), schema violations are a 422 Invalid listing each field, and the
//! `x-kubernetes-validations` CEL rules run when the schema itself is satisfied.

use crate::cel;
use crate::error::{ApiError, FieldError, Result, json_type_name};
use crate::registry::ResourceType;
use serde_json::Value;

/// Validates and prunes `object` in place. `old` is the stored object on updates, for CEL
/// transition rules (`oldSelf`).
pub fn check(
    rt: &ResourceType,
    version: &str,
    object: &mut Value,
    old: Option<&Value>,
    strict: bool,
) -> Result<()> {
    let Some(schema) = rt.version(version).and_then(|v| v.schema.as_ref()) else {
        return Ok(());
    };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut walk = Walk {
        errors: Vec::new(),
        unknown: Vec::new(),
        strict,
    };
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    // apiVersion, kind and metadata are the server's, whatever the schema says about them:
    // set them aside and treat the rest as an object of the root schema.
    let reserved: Vec<(String, Value)> = ["apiVersion", "kind", "metadata"]
        .into_iter()
        .filter_map(|k| map.remove(k).map(|v| (k.to_owned(), v)))
        .collect();
    walk.node(schema, object, "");
    if let Some(map) = object.as_object_mut() {
        map.extend(reserved);
    }
    if !walk.unknown.is_empty() {
        let fields: Vec<String> = walk
            .unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            fields.join(", "),
            kind = rt.kind
        )));
    }
    if walk.errors.is_empty() {
        cel::check_tree(schema, object, old, "", &mut walk.errors);
    }
    if walk.errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&rt.qualified_kind(), &name, &walk.errors))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Structural-schema defaulting, which the real server applies before validating: a null in a
/// field that is not nullable is dropped, and a missing field with a `default` gets it (the
/// default is then walked like any value, so defaults nest).
fn apply_defaults(schema: &Value, map: &mut serde_json::Map<String, Value>) {
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (key, sub) in props {
        if map.get(key).is_some_and(Value::is_null) && sub["nullable"].as_bool() != Some(true) {
            map.remove(key);
        }
        if let (false, Some(default)) = (map.contains_key(key), sub.get("default")) {
            map.insert(key.clone(), default.clone());
        }
    }
}

fn preserves_unknown(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true)
}

struct Walk {
    errors: Vec<FieldError>,
    unknown: Vec<String>,
    strict: bool,
}

impl Walk {
    fn node(&mut self, schema: &Value, value: &mut Value, path: &str) {
        if value.is_null() {
            if schema["nullable"].as_bool() != Some(true) && schema.get("type").is_some() {
                let expected = schema["type"].as_str().unwrap_or("object");
                self.errors
                    .push(FieldError::type_mismatch(path, value, expected));
            }
            return;
        }
        if !self.type_ok(schema, value, path) {
            return;
        }
        if let Some(allowed) = schema["enum"].as_array().filter(|a| !a.contains(value)) {
            self.errors
                .push(FieldError::unsupported(path, value, allowed));
        }
        match value {
            Value::String(s) => self.string(schema, s, path),
            Value::Number(n) => self.number(schema, n.as_f64().unwrap_or(0.0), value.clone(), path),
            Value::Array(items) => {
                let count = items.len() as u64;
                if let Some(max) = schema["maxItems"].as_u64().filter(|m| count > *m) {
                    let detail = format!("Too many: {count}: must have at most {max} items");
                    self.errors.push(FieldError {
                        field: path.into(),
                        reason: "FieldValueTooMany",
                        detail,
                    });
                }
                if let Some(min) = schema["minItems"].as_u64().filter(|m| count < *m) {
                    let msg = format!("{path} in body should have at least {min} items");
                    self.errors
                        .push(FieldError::invalid(path, &Value::from(count), &msg));
                }
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.node(item_schema, item, &format!("{path}[{i}]"));
                    }
                }
            }
            Value::Object(map) => {
                apply_defaults(schema, map);
                let props = &schema["properties"];
                let additional = &schema["additionalProperties"];
                let mut unknown = Vec::new();
                for (key, child) in map.iter_mut() {
                    let child_path = join(path, key);
                    if let Some(sub) = props.get(key) {
                        self.node(sub, child, &child_path);
                    } else if additional.is_object() {
                        self.node(additional, child, &child_path);
                    } else if !(preserves_unknown(schema) || additional.as_bool() == Some(true)) {
                        unknown.push(key.clone());
                    }
                }
                for key in unknown {
                    if self.strict {
                        self.unknown.push(join(path, &key));
                    } else {
                        map.remove(&key);
                    }
                }
                for required in schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !map.contains_key(required) {
                        self.errors
                            .push(FieldError::required(&join(path, required)));
                    }
                }
            }
            _ => {}
        }
    }

    fn type_ok(&mut self, schema: &Value, value: &Value, path: &str) -> bool {
        if schema["x-kubernetes-int-or-string"].as_bool() == Some(true) {
            let ok = value.is_string() || value.as_f64().is_some_and(|f| f.fract() == 0.0);
            if !ok {
                self.errors
                    .push(FieldError::type_mismatch(path, value, "integer or string"));
            }
            return ok;
        }
        let Some(expected) = schema["type"].as_str() else {
            return true;
        };
        let ok = match expected {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "number" => value.is_number(),
            "integer" => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => true,
        };
        if !ok {
            self.errors
                .push(FieldError::type_mismatch(path, value, expected));
        }
        ok
    }

    fn string(&mut self, schema: &Value, s: &str, path: &str) {
        let value = Value::String(s.to_owned());
        let chars = s.chars().count() as u64;
        if let Some(max) = schema["maxLength"].as_u64().filter(|m| chars > *m) {
            let detail = format!("Too long: may not be more than {max} bytes");
            self.errors.push(FieldError {
                field: path.into(),
                reason: "FieldValueTooLong",
                detail,
            });
        }
        if let Some(min) = schema["minLength"].as_u64().filter(|m| chars < *m) {
            let msg = format!("{path} in body should be at least {min} chars long");
            self.errors.push(FieldError::invalid(path, &value, &msg));
        }
        if let Some(pattern) = schema["pattern"].as_str() {
            let matches = regex::Regex::new(pattern)
                .map(|re| re.is_match(s))
                .unwrap_or(true);
            if !matches {
                let msg = format!("{path} in body should match '{pattern}'");
                self.errors.push(FieldError::invalid(path, &value, &msg));
            }
        }
        if let Some(format) = schema["format"].as_str().filter(|f| !format_ok(f, s)) {
            let msg = format!("{path} in body must be of type {format}: {s:?}");
            self.errors.push(FieldError::invalid(path, &value, &msg));
        }
    }

    fn number(&mut self, schema: &Value, n: f64, value: Value, path: &str) {
        let exclusive = |key: &str| schema[key].as_bool() == Some(true);
        if let Some(max) = schema["maximum"].as_f64() {
            let (bad, words) = if exclusive("exclusiveMaximum") {
                (n >= max, "less than")
            } else {
                (n > max, "less than or equal to")
            };
            if bad {
                let msg = format!("{path} in body should be {words} {}", schema["maximum"]);
                self.errors.push(FieldError::invalid(path, &value, &msg));
            }
        }
        if let Some(min) = schema["minimum"].as_f64() {
            let (bad, words) = if exclusive("exclusiveMinimum") {
                (n <= min, "greater than")
            } else {
                (n < min, "greater than or equal to")
            };
            if bad {
                let msg = format!("{path} in body should be {words} {}", schema["minimum"]);
                self.errors.push(FieldError::invalid(path, &value, &msg));
            }
        }
    }
}

/// The string formats checked here; other formats are accepted as the real server accepts
/// formats it does not know.
fn format_ok(format: &str, s: &str) -> bool {
    match format {
        "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        "uuid" => uuid::Uuid::parse_str(s).is_ok(),
        "int32" | "int64" => s.parse::<i64>().is_ok(),
        _ => true,
    }
}

/// Type name as the real server reports it for CEL failures (`Invalid value: "object"`).
pub fn schema_type(schema: &Value, value: &Value) -> String {
    schema["type"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| json_type_name(value).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::VersionInfo;
    use serde_json::json;

    fn rt(schema: Value) -> ResourceType {
        ResourceType {
            group: "example.com".into(),
            versions: vec![VersionInfo {
                name: "v1".into(),
                schema: Some(schema),
                columns: vec![],
                status_subresource: true,
            }],
            kind: "Widget".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            short_names: vec![],
            categories: vec![],
            namespaced: true,
            custom: true,
        }
    }

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "color": {"type": "string", "enum": ["red", "blue"]},
                "name": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"},
                "at": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "maxItems": 1, "items": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        }}})
    }

    #[test]
    fn schema_violations_are_reported_per_field_in_the_servers_words() {
        let cases = [
            (
                json!({"size": 11}),
                "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
            ),
            (json!({}), "spec.size: Required value"),
            (
                json!({"size": 1, "color": "green"}),
                "spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\"",
            ),
            (
                json!({"size": "x"}),
                "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"",
            ),
            (
                json!({"size": 1, "name": "abcd"}),
                "spec.name: Too long: may not be more than 3 bytes",
            ),
            (
                json!({"size": 1, "name": "AB"}),
                "spec.name: Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'",
            ),
            (
                json!({"size": 1, "at": "soon"}),
                "spec.at: Invalid value: \"soon\": spec.at in body must be of type date-time: \"soon\"",
            ),
            (
                json!({"size": 1, "tags": ["a", "b"]}),
                "spec.tags: Too many: 2: must have at most 1 items",
            ),
            (
                json!({"size": 1, "labels": {"a": 1}}),
                "spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\"",
            ),
        ];
        for (spec, expected) in cases {
            let mut obj = json!({"metadata": {"name": "w"}, "spec": spec});
            let err = check(&rt(schema()), "v1", &mut obj, None, false).unwrap_err();
            assert_eq!(err.code, 422);
            assert_eq!(
                err.message,
                format!("Widget.example.com \"w\" is invalid: {expected}")
            );
        }
    }

    #[test]
    fn defaults_fill_missing_and_null_fields_before_validation() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "default": {},
            "properties": {
                "probe": {"type": "integer", "default": 10},
                "failover": {"type": "object", "default": {"mode": "Automatic"}, "properties": {
                    "mode": {"type": "string"},
                    "threshold": {"type": "integer", "default": 3}
                }}
            }
        }}});
        let mut obj = json!({"metadata": {"name": "w"}, "spec": {"probe": null}});
        check(&rt(schema.clone()), "v1", &mut obj, None, false).unwrap();
        let expected = json!({"probe": 10, "failover": {"mode": "Automatic", "threshold": 3}});
        assert_eq!(obj["spec"], expected);
        let mut bare = json!({"metadata": {"name": "w"}});
        check(&rt(schema), "v1", &mut bare, None, false).unwrap();
        assert_eq!(bare["spec"], expected);
    }

    #[test]
    fn unknown_fields_are_pruned_or_rejected_when_strict() {
        let mut obj = json!({"metadata": {"name": "w"}, "spec": {"size": 1, "extra": 1, "free": {"x": 1}}, "other": 2});
        check(&rt(schema()), "v1", &mut obj, None, false).unwrap();
        assert_eq!(
            obj,
            json!({"metadata": {"name": "w"}, "spec": {"size": 1, "free": {"x": 1}}})
        );
        let mut obj = json!({"metadata": {"name": "w"}, "spec": {"size": 1, "extra": 1}});
        let err = check(&rt(schema()), "v1", &mut obj, None, true).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message
                .ends_with("strict decoding error: unknown field \"spec.extra\""),
            "{}",
            err.message
        );
    }
}
