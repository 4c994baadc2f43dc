//! The chaos smoke, run by `cargo test --workspace`: one failover scenario end to end, and
//! proof that the checker fails when the service skips its fence check. Each plays on its own
//! topology (PostgreSQL, stand-in, operator, three service processes); they take turns so two
//! topologies never share the machine's cores.
//!
//! The service and operator binaries must be built (`cargo test --workspace` builds them;
//! otherwise `cargo build -p loyalty-service -p loyalty-operator`).

use loyalty_chaos::Error;
use loyalty_chaos::scenario::{self, ScenarioConfig, ScenarioName, ScenarioResult};

/// One topology at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn summary(result: &ScenarioResult) {
    let check = result.check.as_ref();
    println!(
        "{} (seed {}): ok {} fail {} unknown {}; violations {}; timings {:?}",
        result.name.as_str(),
        result.seed,
        result.ops.ok,
        result.ops.fail,
        result.ops.unknown,
        result.violation_count(),
        result.timings
    );
    if let Some(check) = check {
        println!("writes {:?}; fences {:?}", check.writes, check.fences);
        for v in check.violations.iter().take(10) {
            println!("violation {}: {}", v.check, v.message);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_region_moves_its_members_to_the_other_eu_region_and_loses_no_acknowledged_write()
{
    let _turn = TURN.lock().await;
    let result = scenario::run(ScenarioConfig::new(ScenarioName::KillRegion, 7))
        .await
        .expect("the scenario runs");
    summary(&result);
    let check = result.check.as_ref().expect("checked");
    assert!(check.is_clean(), "{:#?}", check.violations);
    assert!(result.played.unmet.is_empty(), "{:?}", result.played.unmet);
    assert_eq!(result.timings.rpo_writes, 0);
    assert!(check.writes.acknowledged > 100, "{:?}", check.writes);
    assert!(
        result.timings.rto_ms.is_some(),
        "no write for eu-west-1's members was acknowledged through eu-central-1 after the kill"
    );
}

/// Plays `name` with the services' fence check removed; `Err` says why it could not judge.
async fn play_without_fence_check(name: ScenarioName, seed: u64) -> Result<ScenarioResult, String> {
    let config = ScenarioConfig {
        skip_fence_check: true,
        ..ScenarioConfig::new(name, seed)
    };
    let result = match scenario::run(config).await {
        Err(Error::ChildExited { process, log, .. }) if process.ends_with("-service") => {
            return Err(format!(
                "the service refuses LOYALTY_CHAOS__SKIP_FENCE_CHECK (built without the \
                 `chaos-hooks` feature?); its log:\n{log}"
            ));
        }
        other => other.expect("the scenario runs"),
    };
    summary(&result);
    let check = result.check.as_ref().expect("checked");
    if check.fences.verified == 0 && check.fences.without_epoch > 0 {
        return Err(format!(
            "the service records no written_epoch, so no entry's epoch can be judged ({} \
             entries without one)",
            check.fences.without_epoch
        ));
    }
    Ok(result)
}

fn assert_caught(result: &ScenarioResult) {
    let check = result.check.as_ref().expect("checked");
    assert!(
        !check.of("committed_while_fenced").is_empty(),
        "{}: the commits after the fence went unnoticed: {:#?}",
        result.name.as_str(),
        check.violations
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_region_without_its_fence_check_is_caught_committing_after_its_fence() {
    let _turn = TURN.lock().await;
    // A control that cannot judge fails: a checker that was never given the chance to
    // catch anything proves nothing.
    match play_without_fence_check(ScenarioName::PauseRegion, 11).await {
        Ok(result) => assert_caught(&result),
        Err(reason) => panic!("the control could not judge: {reason}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_cut_off_from_the_operator_without_its_fence_check_is_caught_committing_after_its_fence()
 {
    let _turn = TURN.lock().await;
    // A control that cannot judge fails: a checker that was never given the chance to
    // catch anything proves nothing.
    match play_without_fence_check(ScenarioName::PartitionFromOperator, 13).await {
        Ok(result) => assert_caught(&result),
        Err(reason) => panic!("the control could not judge: {reason}"),
    }
}
