//! The dashboards and alerting rules in `manifests/monitoring/` against the metrics the service
//! and the operator really register, every alert against its runbook in `docs/operations.md`,
//! and the rules against `promtool check rules` (Debian's `prometheus` package).

use loyalty_monitoring::{dashboard_queries, exported_names, read_rules, unknown_metrics};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The sample names both binaries' registries export. A labelled metric appears in an
/// exposition only once one of its label sets is used, so each is touched once here; a new
/// labelled metric that a dashboard uses must be touched here too.
fn exported() -> BTreeSet<String> {
    let service = loyalty_service::metrics::Metrics::new();
    service
        .http_requests
        .with_label_values(&["GET", "/v1/members/{id}", "200"])
        .inc();
    service
        .http_latency
        .with_label_values(&["GET", "/v1/members/{id}"])
        .observe(0.01);
    service.tx_retries.with_label_values(&["40001"]).inc();
    service
        .tx_outcomes
        .with_label_values(&["earn", "committed"])
        .inc();
    service.pool_wait.with_label_values(&["ok"]).observe(0.001);
    service
        .deliveries
        .with_label_values(&["AF", "delivered"])
        .inc();
    service.dead_letters.with_label_values(&["AF"]).set(1);
    let operator = loyalty_operator::metrics::Metrics::new();
    drop(operator.reconcile_started("region"));
    operator
        .failures
        .with_label_values(&["region", "kube"])
        .inc();
    operator.db_retries.with_label_values(&["40001"]).inc();
    operator
        .failover_transitions
        .with_label_values(&["eu-west-1", "Active", "FailedOver"])
        .inc();
    operator
        .leader_transitions
        .with_label_values(&["gained"])
        .inc();
    let mut names = exported_names(&service.render());
    names.extend(exported_names(&operator.render()));
    names
}

/// The `spec` of the PrometheusRule: a plain Prometheus rules file.
fn rules() -> Value {
    let rule: Value = serde_norway::from_str(&read("manifests/monitoring/prometheus-rule.yaml"))
        .expect("the PrometheusRule parses");
    assert_eq!(rule["kind"], "PrometheusRule");
    rule["spec"].clone()
}

#[test]
fn every_metric_the_dashboards_query_is_one_a_binary_registers() {
    let exported = exported();
    for name in ["loyalty-service.json", "loyalty-operator.json"] {
        let path = format!("manifests/monitoring/dashboards/{name}");
        let dashboard: Value = serde_json::from_str(&read(&path)).expect("dashboard JSON parses");
        let queries = dashboard_queries(&dashboard);
        assert!(
            queries.len() >= 6,
            "{path} has only {} queries",
            queries.len()
        );
        let unknown = unknown_metrics(&queries, &exported);
        assert!(
            unknown.is_empty(),
            "{path} queries metrics no binary registers: {unknown:?}"
        );
    }
}

#[test]
fn every_alert_uses_registered_metrics_and_links_a_runbook_section() {
    let (alerts, problems) = read_rules(&rules());
    assert!(problems.is_empty(), "{problems:#?}");
    let queries: Vec<String> = alerts.iter().map(|a| a.expr.clone()).collect();
    let unknown = unknown_metrics(&queries, &exported());
    assert!(
        unknown.is_empty(),
        "alerts use metrics no binary registers: {unknown:?}"
    );
    let anchors = heading_anchors(&read("docs/operations.md"));
    for alert in &alerts {
        assert_eq!(
            alert.runbook_anchor,
            alert.name.to_lowercase(),
            "{}",
            alert.name
        );
        assert!(
            anchors.contains(&alert.runbook_anchor),
            "docs/operations.md has no section {}",
            alert.name
        );
    }
}

#[test]
fn the_rules_pass_promtool_check_rules() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("loyalty.rules.yaml");
    std::fs::write(
        &file,
        serde_norway::to_string(&rules()).expect("rules serialise"),
    )
    .expect("rules written");
    let out = std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .expect("promtool must be on PATH: apt-get install prometheus");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("SUCCESS"), "{stdout}");
}

/// GitHub's anchors for the Markdown headings: lowercase, spaces as `-`, punctuation dropped.
fn heading_anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}
