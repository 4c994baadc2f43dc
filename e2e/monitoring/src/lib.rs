//! What the dashboards and alerting rules in `manifests/monitoring/` ask of the binaries: the
//! metric names their PromQL mentions, the names a registry exports, and the structure of a
//! rules file. The test beside this crate compares them with the service's and operator's real
//! registries, so a dashboard or alert can never wait on a metric nobody exports.
//!
//! Metric names are recognised by the project's prefix, `loyalty_`: label names and PromQL
//! functions never carry it.

mod rules;

pub use rules::{AlertRule, read_rules};

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::LazyLock;

static METRIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bloyalty_[a-zA-Z0-9_:]*").expect("valid regex"));

/// The metric names a PromQL expression mentions.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    METRIC
        .find_iter(expr)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// The sample names in a Prometheus text exposition: a histogram's `_bucket`, `_sum` and
/// `_count`, every other metric under its own name.
pub fn exported_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The metric names `queries` mention that are not in `exported`.
pub fn unknown_metrics(queries: &[String], exported: &BTreeSet<String>) -> BTreeSet<String> {
    queries
        .iter()
        .flat_map(|q| metric_names(q))
        .filter(|name| !exported.contains(name))
        .collect()
}

/// Every query of a Grafana dashboard: the panels' `expr`s and the template variables' queries,
/// at any depth (rows nest panels).
pub fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut queries = Vec::new();
    collect_queries(dashboard, &mut queries);
    queries
}

fn collect_queries(value: &Value, queries: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("expr" | "definition", Value::String(q)) => queries.push(q.clone()),
                    ("query", Value::String(q)) if q.contains('(') => queries.push(q.clone()),
                    _ => collect_queries(child, queries),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_queries(i, queries)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_of_metrics_nobody_exports_are_found() {
        let exposition = "# TYPE loyalty_a_seconds histogram\nloyalty_a_seconds_bucket{le=\"1\"} 0\n\
                          loyalty_a_seconds_count 0\nloyalty_b_total 3\n";
        let exported = exported_names(exposition);
        let dashboard = json!({"panels": [{"panels": [{"targets": [
            {"expr": "histogram_quantile(0.9, sum by (le) (rate(loyalty_a_seconds_bucket[5m])))"},
            {"expr": "rate(loyalty_b_total[1m]) / rate(loyalty_c_total{route=\"x\"}[1m])"}
        ]}]}], "templating": {"list": [{"query": {"query": "label_values(loyalty_d, namespace)"}}]}});
        let queries = dashboard_queries(&dashboard);
        assert_eq!(queries.len(), 3, "{queries:?}");
        let unknown: Vec<String> = unknown_metrics(&queries, &exported).into_iter().collect();
        assert_eq!(unknown, ["loyalty_c_total", "loyalty_d"]);
    }
}
