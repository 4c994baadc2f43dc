//! A small OpenAPI v3 checker covering the keywords the platform's CRDs use, with messages
//! worded like the API server's. It also rejects unknown fields, as `kubectl apply` does by
//! default (strict field validation).

use serde_json::Value;

use crate::ValidationIssue;

/// Every violation of `schema` by `value`.
pub fn check(schema: &Value, value: &Value) -> Vec<ValidationIssue> {
    let mut errors = Vec::new();
    walk(schema, value, "", &mut errors);
    errors
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// An issue at `path` (the root when empty).
fn issue(path: &str, message: String) -> ValidationIssue {
    ValidationIssue::new(path, message)
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

fn walk(schema: &Value, value: &Value, path: &str, errors: &mut Vec<ValidationIssue>) {
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            errors.push(issue(
                path,
                format!("Invalid value: \"null\": {path} in body must not be null"),
            ));
        }
        return;
    }
    if let Some(expected) = schema["type"].as_str()
        && !type_matches(expected, value)
    {
        errors.push(issue(
            path,
            format!("Invalid value: {value}: {path} in body must be of type {expected}"),
        ));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(issue(
            path,
            format!(
                "Unsupported value: {value}: supported values: {}",
                Value::from(allowed.clone())
            ),
        ));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema["minimum"].as_f64()
            && n < min
        {
            errors.push(issue(
                path,
                format!(
                    "Invalid value: {n}: {path} in body should be greater than or equal to {min}"
                ),
            ));
        }
        if let Some(max) = schema["maximum"].as_f64()
            && n > max
        {
            errors.push(issue(
                path,
                format!("Invalid value: {n}: {path} in body should be less than or equal to {max}"),
            ));
        }
    }
    match value {
        Value::String(s) => check_string(schema, s, path, errors),
        Value::Array(items) => check_array(schema, items, path, errors),
        Value::Object(map) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let field = required.as_str().unwrap_or_default();
                if !map.contains_key(field) {
                    errors.push(ValidationIssue::new(join(path, field), "Required value"));
                }
            }
            let properties = schema["properties"].as_object();
            for (field, child) in map {
                let child_path = join(path, field);
                if path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&field.as_str()) {
                    // The API server validates these itself; CRD schemas do not declare them.
                    continue;
                }
                if let Some(child_schema) = properties.and_then(|p| p.get(field)) {
                    walk(child_schema, child, &child_path, errors);
                } else if schema["additionalProperties"].is_object() {
                    walk(&schema["additionalProperties"], child, &child_path, errors);
                } else if properties.is_some() {
                    errors.push(issue(path, format!("unknown field \"{field}\"")));
                }
            }
        }
        _ => {}
    }
}

fn check_string(schema: &Value, s: &str, path: &str, errors: &mut Vec<ValidationIssue>) {
    let len = s.chars().count() as u64;
    if let Some(max) = schema["maxLength"].as_u64()
        && len > max
    {
        errors.push(issue(
            path,
            format!("Too long: may not be more than {max} bytes"),
        ));
    }
    if let Some(min) = schema["minLength"].as_u64()
        && len < min
    {
        errors.push(issue(
            path,
            format!("Invalid value: \"{s}\": {path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let re = regex::Regex::new(pattern);
        if !re.as_ref().is_ok_and(|re| re.is_match(s)) {
            errors.push(issue(
                path,
                format!("Invalid value: \"{s}\": {path} in body should match '{pattern}'"),
            ));
        }
    }
    if schema["format"] == "date-time" && chrono::DateTime::parse_from_rfc3339(s).is_err() {
        errors.push(issue(
            path,
            format!("Invalid value: \"{s}\": {path} in body must be of type date-time"),
        ));
    }
}

fn check_array(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<ValidationIssue>) {
    let len = items.len() as u64;
    if let Some(min) = schema["minItems"].as_u64()
        && len < min
    {
        errors.push(issue(
            path,
            format!("Invalid value: {len}: {path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = schema["maxItems"].as_u64()
        && len > max
    {
        errors.push(issue(
            path,
            format!("Too many: {len}: must have at most {max} items"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        walk(&schema["items"], item, &item_path, errors);
        if schema["x-kubernetes-list-type"] == "set" && items[..i].contains(item) {
            errors.push(issue(&item_path, format!("Duplicate value: {item}")));
        }
    }
}
