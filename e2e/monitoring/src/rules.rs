//! The structure of a Prometheus rules file (`groups:` of `rules:`) and of this project's
//! alerts: what `promtool check rules` does not know, such as that every alert carries a
//! severity this project pages on and a runbook link.

use serde_json::Value;
use std::collections::BTreeSet;

/// The severities the on-call routing knows.
const SEVERITIES: [&str; 3] = ["critical", "page", "warning"];

/// One alerting rule, as the checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub expr: String,
    /// The fragment of `runbook_url` after `#`.
    pub runbook_anchor: String,
}

/// The alerts of a rules file, and what is wrong with its structure (empty when nothing).
pub fn read_rules(file: &Value) -> (Vec<AlertRule>, Vec<String>) {
    let mut alerts = Vec::new();
    let mut problems = Vec::new();
    let mut group_names = BTreeSet::new();
    let groups = file["groups"].as_array().cloned().unwrap_or_default();
    if groups.is_empty() {
        problems.push("no groups".to_owned());
    }
    for group in &groups {
        let name = group["name"].as_str().unwrap_or_default();
        if name.is_empty() || !group_names.insert(name.to_owned()) {
            problems.push(format!("group name {name:?} is empty or repeated"));
        }
        for rule in group["rules"].as_array().into_iter().flatten() {
            match alert(rule) {
                Ok(a) => alerts.push(a),
                Err(p) => problems.push(format!("group {name}: {p}")),
            }
        }
    }
    (alerts, problems)
}

/// An alerting rule with its expression, severity, summary and runbook, or what it lacks.
fn alert(rule: &Value) -> Result<AlertRule, String> {
    let name = rule["alert"]
        .as_str()
        .ok_or_else(|| format!("a rule without an alert name: {rule}"))?;
    let expr = rule["expr"]
        .as_str()
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| format!("{name} has no expr"))?;
    let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
    if !SEVERITIES.contains(&severity) {
        return Err(format!(
            "{name} has severity {severity:?}, not one of {SEVERITIES:?}"
        ));
    }
    if rule["annotations"]["summary"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return Err(format!("{name} has no summary"));
    }
    let runbook = rule["annotations"]["runbook_url"]
        .as_str()
        .unwrap_or_default();
    let (_, anchor) = runbook
        .split_once("docs/operations.md#")
        .ok_or_else(|| format!("{name} does not link its runbook in docs/operations.md"))?;
    Ok(AlertRule {
        name: name.to_owned(),
        expr: expr.to_owned(),
        runbook_anchor: anchor.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_without_severity_summary_or_runbook_are_reported() {
        let rule = |extra: Value| {
            let mut r = json!({"alert": "A", "expr": "up == 0", "labels": {"severity": "page"},
                "annotations": {"summary": "s", "runbook_url": "https://x/docs/operations.md#a"}});
            for (k, v) in extra.as_object().into_iter().flatten() {
                r[k] = v.clone();
            }
            json!({"groups": [{"name": "g", "rules": [r]}]})
        };
        let (alerts, problems) = read_rules(&rule(json!({})));
        assert_eq!((alerts.len(), problems.len()), (1, 0), "{problems:?}");
        assert_eq!(alerts[0].runbook_anchor, "a");
        for broken in [
            json!({"labels": {"severity": "low"}}),
            json!({"annotations": {"runbook_url": "https://x/docs/operations.md#a"}}),
            json!({"annotations": {"summary": "s", "runbook_url": "https://wiki/a"}}),
            json!({"expr": " "}),
        ] {
            let (_, problems) = read_rules(&rule(broken.clone()));
            assert_eq!(problems.len(), 1, "{broken}: {problems:?}");
        }
        assert_eq!(read_rules(&json!({})).1, vec!["no groups"]);
    }
}
