//! The instrument's own tests: a few seconds of every scenario against an in-process service
//! on a tiny dataset (so the benchmark never rots), and the pgbench scripts' drift check.
//! No test asserts a timing.

use std::collections::HashSet;
use std::time::Duration;

use std::sync::Arc;

use loyalty_loadgen::cpu::CpuShares;
use loyalty_loadgen::dataset::{self, DatasetSpec};
use loyalty_loadgen::driver::{self, Plan, Results};
use loyalty_loadgen::durability::{self, DurabilityRuns};
use loyalty_loadgen::engine;
use loyalty_loadgen::pgbench::{self, PgbenchTarget};
use loyalty_loadgen::scale_out::ScalePoint;
use loyalty_loadgen::scenario::Earn;
use loyalty_loadgen::{hot, report};
use loyalty_service::config::{Config, LimitsConfig};
use loyalty_service::startup::Application;

#[test]
fn every_pgbench_statement_is_sent_verbatim_by_the_service() {
    let store = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../service/src/store");
    let mut service_sql = HashSet::new();
    for entry in std::fs::read_dir(&store).expect("service/src/store exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            for literal in pgbench::rust_string_literals(&source) {
                service_sql.insert(pgbench::normalise_placeholders(literal.trim(), '$'));
            }
        }
    }
    let mut checked = 0;
    for (scenario, script) in pgbench::SCRIPTS {
        for statement in pgbench::service_statements(script) {
            assert!(
                service_sql.contains(&statement),
                "pgbench script {scenario} sends a statement the service no longer sends \
                 (update service/src/store/pgbench/ to match service/src/store/):\n{statement}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} statements checked");
}

#[test]
fn placeholders_are_normalised_but_casts_are_not() {
    assert_eq!(
        pgbench::normalise_placeholders("unnest($1::UUID[], $12)", '$'),
        "unnest(?::UUID[], ?)"
    );
    assert_eq!(
        pgbench::normalise_placeholders("unnest(:lots::UUID[], :d_2) AND x::BIGINT", ':'),
        "unnest(?::UUID[], ?) AND x::BIGINT"
    );
    let lits = pgbench::rust_string_literals("let a = '\"'; f(\"SELECT \\\n      1\") // \"no\"\n");
    assert_eq!(lits, vec!["SELECT 1".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_benchmark_on_a_tiny_dataset_gives_sane_results_and_a_clean_audit() {
    let server = pgharness::shared();
    let name = format!("smoke_{}", uuid::Uuid::new_v4().simple());
    {
        let name = name.clone();
        tokio::task::spawn_blocking(move || pgharness::shared().create_database(&name, None))
            .await
            .unwrap()
            .expect("create database");
    }
    let url = server.url(&name);
    let spec = DatasetSpec {
        members: 40,
        entries_per_member: 10,
    };
    let info = dataset::build(&url, spec).await.expect("dataset builds");
    assert_eq!(info.ledger_entries, spec.entries());
    assert_eq!(
        info.lots,
        spec.members * u64::from(spec.lots_per_member()) + 1
    );

    // The benchmark acts as one platform client with every service scope.
    let (issuer, jwks) = loyalty_loadgen::service::local_issuer().expect("a local issuer");
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        region: dataset::REGION.into(),
        auth: issuer.auth_config(jwks),
        limits: LimitsConfig::UNLIMITED,
        ..Config::default()
    };
    let app = Application::build(config.clone(), &url)
        .await
        .expect("service starts");
    let addr = app.local_addr().unwrap();
    tokio::spawn(app.serve(std::future::pending()));

    let plan = Plan {
        warmup_s: 0,
        closed_s: 1,
        open_s: 1,
        concurrency: 4,
        open_connections: 8,
        read_rates: vec![200.0],
        earn_rates: vec![50.0],
        redeem_rates: vec![50.0],
        hold_rates: vec![20.0],
        mix_rates: vec![100.0],
        open_windows: 2,
        ..Plan::quick()
    };
    let runs = driver::run_all_scenarios(addr, spec.members, &plan).await;
    assert_eq!(runs.iter().filter(|r| r.mode == "closed").count(), 6);
    for run in &runs {
        assert!(
            run.requests > 0,
            "{} {} made no requests",
            run.scenario,
            run.mode
        );
        assert!(
            run.errors.is_empty(),
            "{} {}: {:?}",
            run.scenario,
            run.mode,
            run.errors
        );
        assert_eq!(run.ok, run.requests);
        let l = &run.latency;
        assert!(l.p50_us <= l.p99_us && l.p99_us <= l.max_us, "{l:?}");
        if run.mode == "open" {
            assert!(run.offered_rps.is_some() && run.send_lag.is_some());
            assert_eq!(run.window_p99s_us.len(), plan.open_windows);
            assert!(run.window_p99s_us.contains(&l.p99_us));
        }
    }

    // Several instances: the generator spreads its connections over them.
    let second = Application::build(config.clone(), &url)
        .await
        .expect("a second instance starts");
    let addr2 = second.local_addr().unwrap();
    tokio::spawn(second.serve(std::future::pending()));
    let spread = engine::closed_loop(
        "earn",
        &[addr, addr2],
        Arc::new(Earn::new(spec.members)),
        4,
        plan.phase_closed(),
    )
    .await;
    assert!(
        spread.requests > 0 && spread.errors.is_empty(),
        "{spread:?}"
    );
    let on_second = hot::tx_counters(addr2).await.expect("metrics scrape");
    assert!(on_second.committed() > 0, "{on_second:?}");

    let tx = hot::tx_counters(addr).await.expect("metrics scrape");
    assert!(
        tx.committed() > 0 && tx.outcomes.contains_key("committed"),
        "{tx:?}"
    );

    let mut check = hot::overdraft_check(addr, 16, 20, 60)
        .await
        .expect("hot check runs");
    check.audit = Some(hot::audit(addr).await.expect("audit runs"));
    assert_eq!(check.succeeded, 20, "{check:?}");
    assert_eq!(check.statuses.get("422"), Some(&40), "{check:?}");
    assert!(check.passed(), "{check:?}");
    let audit = check.audit.as_ref().unwrap();
    assert!(audit.entries_checked > spec.entries(), "{audit:?}");

    // pgbench last: its rows carry placeholder hashes the audit would report. The service
    // scenarios above may have drained the tiny dataset's lots (on a fast machine they run
    // many requests per second), and the scripts take points from fixed lots without looking;
    // refill them so that the scripts never hit the lots' or balances' CHECK constraints.
    {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        client
            .batch_execute(
                "UPDATE lots SET points = points + 1000000, remaining = remaining + 1000000; \
                 UPDATE balances SET available = available + 1000000",
            )
            .await
            .expect("refill lots for pgbench");
        drop(client);
        driver.await.unwrap().unwrap();
    }
    let target = PgbenchTarget {
        bin_dir: server.bin_dir(),
        host: server.host(),
        port: server.port(),
        database: &name,
        spec,
    };
    let mut pg = Vec::new();
    for (scenario, _) in pgbench::SCRIPTS.iter().chain(pgbench::BASELINES) {
        let r = tokio::task::block_in_place(|| {
            pgbench::run(&target, scenario, 2, Duration::from_secs(1))
        })
        .unwrap_or_else(|e| panic!("pgbench {scenario}: {e}"));
        assert!(r.transactions > 0 && r.tps > 0.0, "{r:?}");
        // A tiny dataset makes serialization failures likely; most must still commit.
        assert!(r.failed * 2 < r.transactions, "{r:?}");
        assert!(r.latency.p50_us > 0, "{r:?}");
        pg.push(r);
    }

    let closed: Vec<_> = runs
        .iter()
        .filter(|r| r.mode == "closed")
        .cloned()
        .collect();
    let results = Results {
        plan: Some(plan),
        durability_runs: ["Fast", "Durable"]
            .map(|d| DurabilityRuns {
                durability: d.into(),
                runs: closed.clone(),
            })
            .to_vec(),
        scale_out: vec![ScalePoint {
            instances: 2,
            run: spread,
            cpu: CpuShares::default(),
        }],
        scenarios: runs,
        hot_check: Some(check),
        service_tx: Some(tx),
        pgbench: pg,
        ..Results::default()
    };
    let md = report::markdown(&results, &report::Machine::detect(), "smoke");
    assert!(md.contains("| earn |") && md.contains("Targets"));
    assert!(md.contains("Serialization retries"));
    assert!(md.contains("## Durable commits") && md.contains("| balance_read | 4 |"));
    assert!(md.contains("## Scale-out") && md.contains("| earn | 2 | 4 |"));
    assert!(loyalty_loadgen::plot::latency_svg(&results.scenarios).contains("<polyline"));
    serde_json::to_string(&results).expect("results serialise");
}

#[tokio::test]
async fn the_durability_switch_reaches_new_sessions_both_ways() {
    let server = tokio::task::spawn_blocking(|| {
        pgharness::PgServer::start(pgharness::PgConfig {
            durability: pgharness::Durability::Durable,
            ..pgharness::PgConfig::default()
        })
    })
    .await
    .unwrap()
    .expect("a durable server starts");
    let url = server.url("postgres");
    let settings = || async {
        let client = dataset::connect(&url).await.unwrap();
        let mut values = Vec::new();
        for name in ["fsync", "synchronous_commit", "full_page_writes"] {
            let row = client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .unwrap();
            values.push(row.get::<_, String>(0));
        }
        values
    };
    assert_eq!(settings().await, ["on", "on", "on"]);
    durability::switch(&url, false).await.expect("to fast");
    assert_eq!(settings().await, ["off", "off", "off"]);
    durability::switch(&url, true)
        .await
        .expect("back to durable");
    assert_eq!(settings().await, ["on", "on", "on"]);
}
