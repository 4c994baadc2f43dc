//! `x-kubernetes-validations` CEL rules, evaluated with the `cel` crate (the successor of
//! `cel-interpreter`). Values are converted with their schema as Kubernetes does: strings of
//! format `date-time` become timestamps and of format `duration` durations, so rules such as
//! `self.end > self.start` compare times. Rules that mention `oldSelf` are transition rules and
//! run only on updates where the old value exists.
//!
//! The same environment evaluates admission policies' expressions (see `admission.rs`) through
//! [`evaluate`], with the Kubernetes URL library (`cel_url.rs`) added.
//!
//! Not modelled: `messageExpression` and `fieldPath` of schema rules, `optionalOldSelf`, the
//! cost budget, and the other Kubernetes CEL libraries (`quantity()`, `isSorted()`, `ip()`...);
//! a rule using them fails with its evaluation error as the message.

use crate::error::FieldError;
use crate::validation::schema_type;
use cel::objects::{Key, Map};
use cel::{Context, Env, Value as Cel};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// The standard CEL environment with the strings extension and the URL library, built once.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // Kubernetes offers these libraries too; rules that use neither still work without them.
    let _ = env.add_extension(cel::extensions::strings);
    let _ = env.add_extension(crate::cel_url::extension);
    Arc::new(env)
});

/// Compiles and runs `source` with the named `variables`; the error is the compiler's or the
/// evaluation's text.
pub fn evaluate(source: &str, variables: &[(&str, Cel)]) -> Result<Cel, String> {
    let program = ENV
        .compile(source)
        .map_err(|e| format!("compilation failed: {e}"))?;
    let mut context = Context::with_env(ENV.clone());
    for (name, value) in variables {
        context.add_variable_from_value(*name, value.clone());
    }
    program.execute(&context).map_err(|e| e.to_string())
}

/// Converts JSON that has no schema (an admission request's objects) to a CEL value.
pub fn json_to_cel(value: &Value) -> Cel {
    to_cel(&Value::Null, value)
}

/// Runs every rule in the subtree of `schema` over `value`, appending failures to `errors`.
pub fn check_tree(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if value.is_null() {
        return;
    }
    for rule in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(error) = check_rule(schema, rule, value, old, path) {
            errors.push(error);
        }
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let sub = schema["properties"]
                    .get(key)
                    .or_else(|| schema.get("additionalProperties"));
                if let Some(sub) = sub.filter(|s| s.is_object()) {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    check_tree(
                        sub,
                        child,
                        old.and_then(|o| o.get(key)),
                        &child_path,
                        errors,
                    );
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    // Old items are matched by position, a simplification of list-type aware matching.
                    let old_item = old.and_then(|o| o.get(i));
                    check_tree(sub, item, old_item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

fn check_rule(
    schema: &Value,
    rule: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
) -> Option<FieldError> {
    let source = rule["rule"].as_str()?;
    let transition = source.contains("oldSelf");
    if transition && old.is_none() {
        return None;
    }
    let field = if path.is_empty() { "<nil>" } else { path };
    let fail = |message: String| {
        let reason = match rule["reason"].as_str() {
            Some("FieldValueForbidden") => "FieldValueForbidden",
            Some("FieldValueRequired") => "FieldValueRequired",
            Some("FieldValueDuplicate") => "FieldValueDuplicate",
            _ => "FieldValueInvalid",
        };
        let type_name = schema_type(schema, value);
        let mut e = FieldError::invalid(field, &Value::String(type_name), &message);
        e.reason = reason;
        Some(e)
    };
    let mut variables = vec![("self", to_cel(schema, value))];
    if let Some(old) = old {
        variables.push(("oldSelf", to_cel(schema, old)));
    }
    match evaluate(source, &variables) {
        Ok(Cel::Bool(true)) => None,
        Ok(Cel::Bool(false)) => {
            let message = rule["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("failed rule: {source}"));
            fail(message)
        }
        Ok(other) => fail(format!("rule did not evaluate to a bool: {other:?}")),
        Err(e) => fail(e),
    }
}

/// Converts JSON to a CEL value, guided by the schema for timestamps and durations.
fn to_cel(schema: &Value, value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Cel::Int(i),
            (None, Some(u), _) => Cel::UInt(u),
            (_, _, f) => Cel::Float(f.unwrap_or(0.0)),
        },
        Value::String(s) => match schema["format"].as_str() {
            Some("date-time") => chrono::DateTime::parse_from_rfc3339(s)
                .map(Cel::Timestamp)
                .unwrap_or_else(|_| Cel::String(Arc::new(s.clone()))),
            Some("duration") => parse_duration(s)
                .map(Cel::Duration)
                .unwrap_or_else(|| Cel::String(Arc::new(s.clone()))),
            _ => Cel::String(Arc::new(s.clone())),
        },
        Value::Array(items) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            Cel::List(Arc::new(
                items.iter().map(|i| to_cel(item_schema, i)).collect(),
            ))
        }
        Value::Object(map) => {
            let entries: HashMap<Key, Cel> = map
                .iter()
                .map(|(k, v)| {
                    let sub = schema["properties"]
                        .get(k)
                        .or_else(|| schema.get("additionalProperties"))
                        .unwrap_or(&Value::Null);
                    (Key::String(Arc::new(k.clone())), to_cel(sub, v))
                })
                .collect();
            Cel::Map(Map {
                map: Arc::new(entries),
            })
        }
    }
}

/// Go-style durations such as `1h30m`, `90s`, `250ms`.
fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let mut total_ms: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor_ms = match &rest[..unit_len] {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return None,
        };
        total_ms = total_ms.checked_add((number * factor_ms) as i64)?;
        rest = &rest[unit_len..];
    }
    Some(chrono::Duration::milliseconds(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.end > self.start", "message": "end must be after start"},
                {"rule": "!has(self.maxMultiplier) || self.maxMultiplier <= 10"},
                {"rule": "self.start == oldSelf.start", "message": "start is immutable"}
            ],
            "properties": {
                "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"},
                "maxMultiplier": {"type": "integer"},
                "window": {"type": "string", "format": "duration", "x-kubernetes-validations": [
                    {"rule": "self <= duration('24h')", "message": "window at most a day"}
                ]}
            }
        })
    }

    fn errors(value: Value, old: Option<Value>) -> Vec<String> {
        let mut errors = Vec::new();
        check_tree(&schema(), &value, old.as_ref(), "spec", &mut errors);
        errors.iter().map(FieldError::line).collect()
    }

    #[test]
    fn rules_compare_timestamps_check_presence_and_durations() {
        let ok =
            json!({"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z", "window": "2h"});
        assert!(errors(ok, None).is_empty());
        let bad = json!({"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z", "maxMultiplier": 11, "window": "25h"});
        assert_eq!(
            errors(bad, None),
            vec![
                "spec: Invalid value: \"object\": end must be after start",
                "spec: Invalid value: \"object\": failed rule: !has(self.maxMultiplier) || self.maxMultiplier <= 10",
                "spec.window: Invalid value: \"string\": window at most a day",
            ]
        );
    }

    #[test]
    fn transition_rules_run_only_on_updates() {
        let new = json!({"start": "2030-01-01T00:00:00Z", "end": "2030-01-03T00:00:00Z"});
        let old = json!({"start": "2030-01-02T00:00:00Z", "end": "2030-01-03T00:00:00Z"});
        assert!(errors(new.clone(), None).is_empty());
        assert_eq!(
            errors(new, Some(old)),
            vec!["spec: Invalid value: \"object\": start is immutable"]
        );
    }
}
