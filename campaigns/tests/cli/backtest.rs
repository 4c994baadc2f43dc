//! `backtest` against a real PostgreSQL seeded with recorded earns: the granted set re-priced
//! changes nothing; a richer proposal shows its cost per campaign, its budget respected, the
//! biggest changes and the daily plot. The measurement on 10^6 earns is ignored here and run
//! by `make bench-backtest`.

use std::path::Path;
use std::time::Instant;

use loyalty_campaigns::campaign_set;
use tempfile::TempDir;

use crate::dataset;
use crate::support::{arg, campaign, folder, run};

const WINDOW: &str = "  window:\n    start: \"2020-01-01T00:00:00+01:00\"\n    end: \"2100-01-01T00:00:00+01:00\"\n    timezone: Europe/Paris\n";

/// Weekend hotel stays at `multiplier`, capped per member per month.
fn weekend(multiplier: u32) -> String {
    campaign(
        "weekend",
        &format!(
            "  displayName: Weekend\n{WINDOW}    recurrence:\n      daysOfWeek: [Saturday, Sunday]\n  eligibility:\n    productTypes: [hotel]\n  effect:\n    multiplierMilli: {multiplier}\n  caps:\n    perMemberPoints: 20000\n    perMemberWindow: Month\n"
        ),
    )
}

/// 100 points on every booking until 50,000 are given.
fn flat_bonus() -> String {
    campaign(
        "flat-bonus",
        &format!(
            "  displayName: Flat bonus\n{WINDOW}  effect:\n    bonusPoints: 100\n  stacking:\n    mode: Additive\n  caps:\n    budgetPoints: 50000\n"
        ),
    )
}

fn granted() -> TempDir {
    folder(&[("weekend.yaml", weekend(2000))])
}

async fn seeded(earns: u64, members: u64) -> String {
    let set =
        campaign_set::load(&[granted().path().to_path_buf()], "default").expect("lints clean");
    dataset::build(earns, members, set).await
}

fn backtest(campaigns: &Path, url: &str, out: &Path) -> crate::support::Run {
    run(&[
        "backtest",
        "--campaigns",
        arg(campaigns),
        "--since",
        "30d",
        "--database",
        url,
        "--out",
        arg(out),
    ])
}

#[tokio::test]
async fn the_granted_campaigns_re_priced_change_nothing() {
    let url = seeded(2_000, 150).await;
    let dir = granted();
    let out = dir.path().join("report.md");
    let result = backtest(dir.path(), &url, &out);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let report = std::fs::read_to_string(&out).expect("a report");
    assert!(
        report.contains("2000 earns re-priced, 0 of them change; 0 members affected"),
        "{report}"
    );
    assert!(report.contains("| default/weekend |"), "{report}");
}

#[tokio::test]
async fn a_richer_proposal_shows_its_cost_its_budget_and_its_biggest_changes() {
    let url = seeded(2_000, 150).await;
    let proposal = folder(&[("weekend.yaml", weekend(3000)), ("flat.yaml", flat_bonus())]);
    let out = proposal.path().join("report.md");
    let result = backtest(proposal.path(), &url, &out);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let report = std::fs::read_to_string(&out).expect("a report");
    // 500 bonuses of 100 exhaust the 50,000 budget; the rest are cut.
    assert!(report.contains("| default/flat-bonus | 0 | 0 | 50000 | 2000 | +50000 (500.00) | 0 | 1500 | 50000 of 50000 (respected: true) |"), "{report}");
    // Every member earned one of the first 500 bookings, so every member gains.
    assert!(
        report.contains("of them change; 150 members affected"),
        "{report}"
    );
    let biggest = report
        .split("## Biggest changes")
        .nth(1)
        .expect("a top list");
    assert_eq!(
        biggest.lines().filter(|l| l.starts_with("| 20")).count(),
        10,
        "{biggest}"
    );
    let svg = std::fs::read_to_string(proposal.path().join("report.svg")).expect("a plot");
    assert!(
        svg.starts_with("<svg") && svg.matches("<polyline").count() == 2,
        "{svg}"
    );
    assert!(report.contains("![granted and proposed points per day](report.svg)"));
}

/// `make bench-backtest`: 10^6 earns of 10^5 members, timed, with the process's peak RSS.
#[tokio::test]
#[ignore = "a measurement, run by make bench-backtest"]
async fn a_million_earns() {
    let seeding = Instant::now();
    let url = seeded(1_000_000, 100_000).await;
    println!(
        "seeded 10^6 earns in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let proposal = folder(&[("weekend.yaml", weekend(3000)), ("flat.yaml", flat_bonus())]);
    let out = proposal.path().join("report.md");
    let started = Instant::now();
    let result = backtest(proposal.path(), &url, &out);
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(result.code, 0, "{}", result.stderr);
    let report = std::fs::read_to_string(&out).expect("a report");
    let run_line = report.lines().last().unwrap_or_default();
    println!("backtest wall time {wall:.1} s; {run_line}");
}

/// Copies the marketing example repository (its campaigns and CI script) into a folder.
fn marketing_repository() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let example = crate::support::workspace().join("manifests/examples/marketing");
    let status = std::process::Command::new("cp")
        .args(["-r", &format!("{}/.", example.display()), arg(dir.path())])
        .status()
        .expect("cp runs");
    assert!(status.success());
    dir
}

#[tokio::test]
async fn the_ci_example_lints_and_backtests_the_marketing_repository() {
    let url = seeded(500, 50).await;
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_loyalty-campaigns"))
        .parent()
        .expect("a folder");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for format in ["github", "gitlab"] {
        let repo = marketing_repository();
        let out = std::process::Command::new("bash")
            .arg("ci/campaign-checks.sh")
            .current_dir(repo.path())
            .env("PATH", &path)
            .env("CAMPAIGN_REPORT_FORMAT", format)
            .env("BACKTEST_DATABASE_URL", &url)
            .output()
            .expect("the script runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {stderr}");
        let reports = repo.path().join("campaign-reports");
        let report = std::fs::read_to_string(reports.join("backtest.md")).expect("a report");
        assert!(report.contains("earns re-priced"), "{report}");
        assert!(reports.join("backtest.svg").exists());
        if format == "gitlab" {
            let quality = std::fs::read_to_string(reports.join("gl-code-quality-report.json"));
            assert_eq!(quality.expect("a Code Quality report").trim(), "[]");
        }
        // A broken campaign fails the check, with an annotation on its line.
        let broken = repo.path().join("campaigns/2x-weekend.yaml");
        let text = std::fs::read_to_string(&broken).expect("readable");
        std::fs::write(
            &broken,
            text.replace("multiplierMilli: 2000", "multiplierMilli: 200"),
        )
        .expect("writable");
        let failed = std::process::Command::new("bash")
            .arg("ci/campaign-checks.sh")
            .current_dir(repo.path())
            .env("PATH", &path)
            .env("CAMPAIGN_REPORT_FORMAT", format)
            .output()
            .expect("the script runs");
        assert_eq!(failed.status.code(), Some(1), "{format}");
        if format == "github" {
            let stdout = String::from_utf8_lossy(&failed.stdout);
            assert!(
                stdout.contains("::error file=campaigns/2x-weekend.yaml,line=19,"),
                "{stdout}"
            );
        }
    }
}
