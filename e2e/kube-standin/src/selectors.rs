//! Label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`, or the
//! same as a `metav1.LabelSelector` object) and field selectors (`path=value`, `path!=value` for
//! any dotted path such as `metadata.name` or `involvedObject.uid`).

use crate::error::{ApiError, Result};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label or field selector; an empty selector matches everything.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl Selector {
    pub fn parse(label_selector: Option<&str>, field_selector: Option<&str>) -> Result<Selector> {
        Ok(Selector {
            labels: parse(label_selector.unwrap_or(""))?,
            fields: parse(field_selector.unwrap_or(""))?,
        })
    }

    /// A `metav1.LabelSelector` (`matchLabels` and `matchExpressions` with `In`, `NotIn`,
    /// `Exists`, `DoesNotExist`), as admission policies and bindings carry it.
    pub fn from_label_selector(selector: &Value) -> Result<Selector> {
        let mut labels: Vec<Requirement> = selector["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| Requirement::Equals(k.clone(), v.as_str().unwrap_or_default().into()))
            .collect();
        for expression in selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            labels.push(expression_requirement(expression)?);
        }
        Ok(Selector {
            labels,
            fields: Vec::new(),
        })
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let label = |key: &str| labels.get(key).and_then(Value::as_str).map(str::to_owned);
        let field = |path: &str| {
            let mut v = object;
            for part in path.split('.') {
                v = &v[part];
            }
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => Some(String::new()),
                other => Some(other.to_string()),
            }
        };
        self.labels.iter().all(|r| holds(r, &label)) && self.fields.iter().all(|r| holds(r, &field))
    }
}

fn holds(req: &Requirement, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    match req {
        Requirement::Equals(k, v) => lookup(k).as_deref() == Some(v.as_str()),
        Requirement::NotEquals(k, v) => lookup(k).as_deref() != Some(v.as_str()),
        Requirement::In(k, vs) => lookup(k).is_some_and(|x| vs.contains(&x)),
        Requirement::NotIn(k, vs) => lookup(k).is_none_or(|x| !vs.contains(&x)),
        Requirement::Exists(k) => lookup(k).is_some(),
        Requirement::NotExists(k) => lookup(k).is_none(),
    }
}

fn expression_requirement(expression: &Value) -> Result<Requirement> {
    let key = expression["key"].as_str().unwrap_or_default().to_owned();
    let values: Vec<String> = expression["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    match expression["operator"].as_str() {
        Some("In") => Ok(Requirement::In(key, values)),
        Some("NotIn") => Ok(Requirement::NotIn(key, values)),
        Some("Exists") => Ok(Requirement::Exists(key)),
        Some("DoesNotExist") => Ok(Requirement::NotExists(key)),
        other => Err(ApiError::bad_request(format!(
            "{other:?} is not a valid label selector operator"
        ))),
    }
}

/// Splits on commas that are not inside parentheses.
fn terms(selector: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&selector[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse(selector: &str) -> Result<Vec<Requirement>> {
    terms(selector).into_iter().map(parse_term).collect()
}

fn parse_term(term: &str) -> Result<Requirement> {
    let bad = || ApiError::bad_request(format!("unable to parse requirement: {term:?}"));
    let set = |rest: &str| -> Result<Vec<String>> {
        let inner = rest
            .trim()
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        Ok(inner.split(',').map(|s| s.trim().to_owned()).collect())
    };
    if let Some((k, v)) = term.split_once("!=") {
        return Ok(Requirement::NotEquals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Requirement::Equals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, rest)) = term.split_once(" notin ") {
        return Ok(Requirement::NotIn(k.trim().into(), set(rest)?));
    }
    if let Some((k, rest)) = term.split_once(" in ") {
        return Ok(Requirement::In(k.trim().into(), set(rest)?));
    }
    if let Some(k) = term.strip_prefix('!') {
        return Ok(Requirement::NotExists(k.trim().into()));
    }
    if term.contains(' ') || term.contains('(') {
        return Err(bad());
    }
    Ok(Requirement::Exists(term.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_and_field_selectors_match_as_on_a_real_server() {
        let obj = json!({"metadata": {"name": "a", "namespace": "n", "labels": {"app": "x", "tier": "web"}}});
        let cases = [
            ("app=x", "", true),
            ("app==x,tier!=db", "", true),
            ("app in (y, x)", "metadata.name=a", true),
            ("app notin (x)", "", false),
            ("!app", "", false),
            ("tier", "metadata.namespace!=n", false),
            ("", "metadata.name=b", false),
        ];
        for (labels, fields, expected) in cases {
            let sel = Selector::parse(Some(labels), Some(fields)).unwrap();
            assert_eq!(sel.matches(&obj), expected, "{labels} / {fields}");
        }
    }

    #[test]
    fn label_selector_objects_match_like_their_string_form() {
        let obj = json!({"metadata": {"labels": {"app": "x", "tier": "web"}}});
        let cases = [
            (json!({}), true),
            (json!({"matchLabels": {"app": "x"}}), true),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["y"]}]}),
                false,
            ),
            (
                json!({"matchLabels": {"app": "x"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}),
                true,
            ),
        ];
        for (selector, expected) in cases {
            let sel = Selector::from_label_selector(&selector).unwrap();
            assert_eq!(sel.matches(&obj), expected, "{selector}");
        }
        assert!(
            Selector::from_label_selector(
                &json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})
            )
            .is_err()
        );
    }
}
