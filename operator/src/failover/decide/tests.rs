use chrono::{DateTime, Utc};
use loyalty_crds::region::{FailoverMode, FailoverPolicy};
use loyalty_schema::RegionState;

use super::{Hold, Plan, RegionView, decide, reasons};
use crate::db::FenceRow;
use crate::failover::probe::ProbeOutcome;
use crate::failover::track::Track;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn policy(mode: FailoverMode) -> FailoverPolicy {
    FailoverPolicy {
        mode,
        probe_interval_seconds: 1,
        failure_threshold: 3,
        success_threshold: 2,
        stabilization_window_seconds: 5,
        manual_override: None,
    }
}

fn row(name: &str, group: &str, state: RegionState, served_by: &str, reason: &str) -> FenceRow {
    FenceRow {
        name: name.into(),
        residency_group: group.into(),
        state,
        epoch: 7,
        served_by: served_by.into(),
        reason: Some(reason.into()),
    }
}

/// eu-west-1 fenced towards eu-central-1 for `reason`.
fn west_fenced(reason: &str) -> FenceRow {
    row(
        "eu-west-1",
        "eu",
        RegionState::Fenced,
        "eu-central-1",
        reason,
    )
}

fn unfence_plan(reason: &'static str) -> Plan {
    Plan::Unfence {
        region: "eu-west-1".into(),
        from_epoch: 7,
        reason,
    }
}

fn active(name: &str, group: &str) -> FenceRow {
    row(name, group, RegionState::Active, name, "Created")
}

fn up() -> Track {
    let mut t = Track::default();
    for s in [-10, -9, -8] {
        t.observe(ProbeOutcome::Ready, now() + chrono::TimeDelta::seconds(s));
    }
    t
}

fn down() -> Track {
    let mut t = Track::default();
    for s in [-3, -2, -1] {
        t.observe(
            ProbeOutcome::Failed("timeout".into()),
            now() + chrono::TimeDelta::seconds(s),
        );
    }
    t
}

/// One region's inputs: its row, its probe history, its policy and manual controls.
struct Case {
    group: &'static str,
    row: FenceRow,
    track: Track,
    policy: FailoverPolicy,
    fence_requested: bool,
    serve_from: Option<&'static str>,
}

fn case(row: FenceRow, group: &'static str, track: Track) -> Case {
    Case {
        group,
        row,
        track,
        policy: policy(FailoverMode::Automatic),
        fence_requested: false,
        serve_from: None,
    }
}

fn plans(cases: &[Case]) -> Vec<Plan> {
    let views: Vec<RegionView<'_>> = cases
        .iter()
        .map(|c| RegionView {
            name: &c.row.name,
            group: c.group,
            policy: &c.policy,
            deleting: false,
            fence_requested: c.fence_requested,
            serve_from: c.serve_from,
            row: Some(&c.row),
            track: &c.track,
        })
        .collect();
    decide(&views, now())
}

fn three(west: Track, central: Track, us: Track) -> Vec<Case> {
    vec![
        case(active("eu-west-1", "eu"), "eu", west),
        case(active("eu-central-1", "eu"), "eu", central),
        case(active("us-east-1", "us"), "us", us),
    ]
}

fn fence_plan(region: &str, served_by: &str, reason: &'static str) -> Plan {
    Plan::Fence {
        region: region.into(),
        from_epoch: 7,
        served_by: served_by.into(),
        reason,
    }
}

#[test]
fn a_down_region_is_fenced_towards_the_healthy_region_of_its_group() {
    assert_eq!(
        plans(&three(down(), up(), up())),
        vec![fence_plan(
            "eu-west-1",
            "eu-central-1",
            reasons::FAILED_OVER
        )]
    );
}

#[test]
fn a_down_region_alone_in_its_group_fails_closed_and_nobody_crosses_a_group() {
    assert_eq!(
        plans(&three(up(), up(), down())),
        vec![Plan::FailClosed {
            region: "us-east-1".into()
        }]
    );
}

#[test]
fn a_down_target_is_not_eligible_so_the_group_fails_closed() {
    let p = plans(&three(down(), Track::default(), up()));
    assert_eq!(
        p,
        vec![Plan::FailClosed {
            region: "eu-west-1".into()
        }]
    );
}

#[test]
fn nothing_fails_over_when_every_region_looks_down() {
    let p = plans(&three(down(), down(), down()));
    assert!(
        p.iter().all(|p| matches!(
            p,
            Plan::Hold {
                why: Hold::EveryRegionDown,
                ..
            }
        )),
        "{p:?}"
    );
    assert_eq!(p.len(), 3);
}

#[test]
fn at_most_one_region_of_a_group_is_failed_over_at_a_time() {
    let mut cases = three(down(), up(), up());
    cases.insert(0, case(active("eu-north-1", "eu"), "eu", down()));
    assert_eq!(
        plans(&cases),
        vec![
            fence_plan("eu-north-1", "eu-central-1", reasons::FAILED_OVER),
            Plan::Hold {
                region: "eu-west-1".into(),
                why: Hold::GroupAlreadyFailedOver
            },
        ]
    );
}

#[test]
fn the_target_serving_the_fewest_regions_wins_then_the_first_by_name() {
    let mut cases = three(down(), up(), up());
    cases.push(case(active("eu-south-1", "eu"), "eu", up()));
    let p = plans(&cases);
    assert_eq!(
        p,
        vec![fence_plan(
            "eu-west-1",
            "eu-central-1",
            reasons::FAILED_OVER
        )]
    );
}

#[test]
fn a_failed_over_region_fails_back_only_after_recovering_for_the_stabilization_window() {
    let fenced = west_fenced(reasons::FAILED_OVER);
    let mut recovering = Track::default();
    recovering.observe(
        ProbeOutcome::UpFenced,
        now() - chrono::TimeDelta::seconds(2),
    );
    recovering.observe(
        ProbeOutcome::UpFenced,
        now() - chrono::TimeDelta::seconds(1),
    );
    let waiting = vec![
        case(fenced.clone(), "eu", recovering),
        case(active("eu-central-1", "eu"), "eu", up()),
    ];
    assert_eq!(plans(&waiting), vec![]);
    let stable = vec![
        case(fenced, "eu", up()),
        case(active("eu-central-1", "eu"), "eu", up()),
    ];
    assert_eq!(plans(&stable), vec![unfence_plan(reasons::FAILED_BACK)]);
}

#[test]
fn manual_mode_never_fails_over_or_back_on_probes() {
    let mut cases = three(down(), up(), up());
    cases[0].policy = policy(FailoverMode::Manual);
    assert_eq!(plans(&cases), vec![]);
    let fenced = west_fenced(reasons::FAILED_OVER);
    let mut back = vec![
        case(fenced, "eu", up()),
        case(active("eu-central-1", "eu"), "eu", up()),
    ];
    back[0].policy = policy(FailoverMode::Manual);
    assert_eq!(plans(&back), vec![]);
}

#[test]
fn the_fence_annotation_fences_a_healthy_region_and_its_removal_in_manual_mode_unfences() {
    let mut cases = three(up(), up(), up());
    cases[0].fence_requested = true;
    cases[0].policy = policy(FailoverMode::Manual);
    assert_eq!(
        plans(&cases),
        vec![fence_plan(
            "eu-west-1",
            "eu-central-1",
            reasons::MANUAL_FENCE
        )]
    );
    let fenced = west_fenced(reasons::MANUAL_FENCE);
    let mut lifted = vec![case(fenced, "eu", up())];
    lifted[0].policy = policy(FailoverMode::Manual);
    assert_eq!(plans(&lifted), vec![unfence_plan(reasons::MANUAL_UNFENCE)]);
}

#[test]
fn a_switchover_moves_members_to_the_named_region_and_refuses_one_outside_the_group() {
    let mut cases = three(up(), up(), up());
    cases[0].serve_from = Some("eu-central-1");
    assert_eq!(
        plans(&cases),
        vec![fence_plan("eu-west-1", "eu-central-1", reasons::SWITCHOVER)]
    );
    cases[0].serve_from = Some("us-east-1");
    assert!(matches!(&plans(&cases)[..], [Plan::Refused { region, .. }] if region == "eu-west-1"));
}

#[test]
fn a_region_fenced_for_deletion_is_never_unfenced_by_failover() {
    let deleted = row(
        "eu-west-1",
        "eu",
        RegionState::Fenced,
        "eu-west-1",
        "Deleted",
    );
    assert_eq!(plans(&[case(deleted, "eu", up())]), vec![]);
}
