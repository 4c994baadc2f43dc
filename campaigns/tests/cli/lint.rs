//! `lint` on the repository's examples and on campaigns that break a rule of each kind:
//! the CRD schema, its CEL rules, the operator's validation, and the checks across campaigns.

use serde_json::Value;

use crate::support::{Run, arg, campaign, exclusive, folder, marketing_campaigns, run, workspace};

/// Asserts that lint exited 1 and printed every line of `expected`.
fn assert_findings(out: &Run, expected: &[&str]) {
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    for line in expected {
        assert!(
            out.stdout.contains(line),
            "{line:?} missing from:\n{}",
            out.stdout
        );
    }
}

#[test]
fn the_marketing_examples_lint_clean() {
    let dir = workspace().join("manifests/examples/marketing");
    let out = run(&["lint", arg(&dir)]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("0 finding(s) in 6 file(s)"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_invalid_example_is_refused_by_cel_and_by_the_operator_on_its_lines() {
    let file = workspace().join("manifests/examples/invalid/campaign-end-before-start.yaml");
    let out = run(&["lint", arg(&file)]);
    let path = file.display().to_string();
    // `window:` is on line 10 and `end:` on line 12 of the file.
    assert_findings(
        &out,
        &[
            &format!("{path}:10: [admission] spec.window: window.end must be after window.start"),
            &format!(
                "{path}:12: [operator] spec.window.end: window.end must be after window.start"
            ),
        ],
    );
}

#[test]
fn schema_violations_are_reported_at_their_field() {
    let bad = campaign(
        "bad",
        "  displayName: Bad\n  window:\n    start: \"2026-01-01T00:00:00Z\"\n    end: \"2026-02-01T00:00:00Z\"\n    timezone: Europe/Paname\n  effect:\n    multiplierMilli: 20000\n",
    );
    let dir = folder(&[("bad.yaml", bad)]);
    let out = run(&["lint", arg(dir.path())]);
    assert_findings(
        &out,
        &[
            "bad.yaml:12: [admission] spec.effect.multiplierMilli",
            "bad.yaml:10: [operator] spec.window.timezone",
        ],
    );
}

#[test]
fn github_format_is_one_error_workflow_command_per_finding() {
    let file = workspace().join("manifests/examples/invalid/campaign-end-before-start.yaml");
    let out = run(&["lint", "--format", "github", arg(&file)]);
    assert_eq!(out.code, 1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    let expected = format!(
        "::error file={},line=10,title=campaign lint%3A admission::",
        file.display()
    );
    assert!(lines[0].starts_with(&expected), "{}", lines[0]);
}

#[test]
fn gitlab_format_is_a_code_quality_report() {
    let file = workspace().join("manifests/examples/invalid/campaign-end-before-start.yaml");
    let out = run(&["lint", "--format", "gitlab", arg(&file)]);
    assert_eq!(out.code, 1);
    let report: Vec<Value> = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(report.len(), 2);
    assert_eq!(report[0]["location"]["lines"]["begin"], 10);
    assert_eq!(report[0]["location"]["path"], file.display().to_string());
    assert_eq!(report[0]["severity"], "major");
    assert_eq!(report[0]["fingerprint"].as_str().map(str::len), Some(64));
    assert_ne!(report[0]["fingerprint"], report[1]["fingerprint"]);
    let clean = run(&["lint", "--format", "gitlab", arg(&marketing_campaigns())]);
    assert_eq!((clean.code, clean.stdout.trim()), (0, "[]"));
}

const PARIS_SATURDAYS: &str = "    start: \"2026-01-01T00:00:00+01:00\"\n    end: \"2027-01-01T00:00:00+01:00\"\n    timezone: Europe/Paris\n    recurrence:\n      daysOfWeek: [Saturday]\n";

#[test]
fn exclusive_campaigns_that_meet_across_timezones_are_refused_on_the_later_name() {
    let evenings = "    start: \"2026-01-01T00:00:00Z\"\n    end: \"2026-02-01T00:00:00Z\"\n    timezone: America/New_York\n    recurrence:\n      daysOfWeek: [Friday]\n      startTime: \"18:00\"\n";
    let dir = folder(&[
        ("a.yaml", exclusive("a-saturdays", PARIS_SATURDAYS)),
        ("b.yaml", exclusive("b-evenings", evenings)),
    ]);
    let out = run(&["lint", "--namespace", "marketing-eu", arg(dir.path())]);
    assert_findings(
        &out,
        &[
            "b.yaml:17: [exclusive-overlap] spec.stacking.mode: overlaps Exclusive campaign marketing-eu/a-saturdays with the same priority 0: both apply at 2026-01-02T23:00:00+00:00",
        ],
    );
    assert!(!out.stdout.contains("a.yaml"), "{}", out.stdout);
}

#[test]
fn exclusive_campaigns_on_other_weekdays_of_one_window_are_accepted() {
    // The same window: a check that compares windows only refuses this.
    let weekdays = PARIS_SATURDAYS.replace(
        "[Saturday]",
        "[Monday, Tuesday, Wednesday, Thursday, Friday, Sunday]",
    );
    let dir = folder(&[
        ("a.yaml", exclusive("a-saturdays", PARIS_SATURDAYS)),
        ("b.yaml", exclusive("b-weekdays", &weekdays)),
    ]);
    let out = run(&["lint", arg(dir.path())]);
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn a_campaign_defined_twice_is_reported_on_the_second() {
    let one = exclusive("same", PARIS_SATURDAYS).replace("Exclusive", "BestOf");
    let dir = folder(&[("a.yaml", one.clone()), ("b.yaml", format!("---\n{one}"))]);
    let out = run(&["lint", arg(dir.path())]);
    assert_findings(
        &out,
        &["b.yaml:5: [duplicate] metadata.name: default/same is also defined in"],
    );
}
