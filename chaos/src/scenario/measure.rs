//! The figures of a scenario: time to detect, time to fence, RTO, RPO and time to fail back,
//! from the script's markers, the history and the recorded transitions.

use serde::{Deserialize, Serialize};

use super::script::Played;
use crate::fence::Transition;
use crate::workload::{Clock, History, Outcome};

/// Every figure is milliseconds after the fault (or after the recovery, for fail-back).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Timings {
    pub fault_ms: Option<u64>,
    /// Until the operator's `failingSince`.
    pub detect_ms: Option<i64>,
    /// Until the fencing transition committed.
    pub fence_ms: Option<i64>,
    /// Until the first acknowledged write for the failed region's members through the target.
    pub rto_ms: Option<u64>,
    /// Acknowledged writes lost.
    pub rpo_writes: u64,
    /// From the recovery until the fail-back transition committed.
    pub failback_ms: Option<i64>,
}

/// Computes the figures.
pub fn timings(
    played: &Played,
    history: &History,
    transitions: &[Transition],
    clock: &Clock,
    lost: u64,
) -> Timings {
    let mut t = Timings {
        fault_ms: played.fault_ms,
        rpo_writes: lost,
        ..Timings::default()
    };
    let Some(fault) = played.fault_ms else {
        return t;
    };
    let fault_i = i64::try_from(fault).unwrap_or(i64::MAX);
    t.detect_ms = played.detected_ms.map(|d| d - fault_i);
    let Some(failed) = played.failed_region.as_deref() else {
        return t;
    };
    let after_fault = |state: &str| {
        transitions
            .iter()
            .filter(|tr| tr.region == failed && tr.state == state)
            .map(|tr| clock.ms_of(tr.at))
            .find(|at| *at >= fault_i)
    };
    let fenced_at = after_fault("fenced");
    t.fence_ms = fenced_at.map(|at| at - fault_i);
    if let Some(target) = played.target.as_deref() {
        t.rto_ms = history
            .writes()
            .filter(|op| op.home == failed && op.outcome == Outcome::Ok)
            .filter(|op| op.acked_by.as_deref() == Some(target) && op.complete_ms >= fault)
            .map(|op| op.complete_ms - fault)
            .min();
    }
    if let (Some(healed), Some(fenced)) = (played.healed_ms, fenced_at) {
        let healed = i64::try_from(healed).unwrap_or(i64::MAX);
        t.failback_ms = transitions
            .iter()
            .filter(|tr| tr.region == failed && tr.state == "active")
            .map(|tr| clock.ms_of(tr.at))
            .find(|at| *at > fenced)
            .map(|at| at - healed);
    }
    t
}

/// Operations per second of one region: acknowledged by it, and not acknowledged for its
/// members (refused or unknown), by the second they completed in.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RegionSeries {
    pub region: String,
    pub acks: Vec<u32>,
    pub errors: Vec<u32>,
}

/// The per-second series of every region named in the history.
pub fn timeline(history: &History) -> Vec<RegionSeries> {
    let seconds = history
        .ops
        .iter()
        .map(|op| op.complete_ms / 1_000 + 1)
        .max()
        .unwrap_or(0);
    let len = usize::try_from(seconds).unwrap_or(0);
    let mut series: Vec<RegionSeries> = Vec::new();
    let mut bump = |region: &str, second: u64, ack: bool| {
        let at = match series.iter().position(|s| s.region == region) {
            Some(at) => at,
            None => {
                series.push(RegionSeries {
                    region: region.to_owned(),
                    acks: vec![0; len],
                    errors: vec![0; len],
                });
                series.len() - 1
            }
        };
        let slot = usize::try_from(second)
            .unwrap_or(0)
            .min(len.saturating_sub(1));
        let column = if ack {
            &mut series[at].acks
        } else {
            &mut series[at].errors
        };
        column[slot] += 1;
    };
    for op in &history.ops {
        let second = op.complete_ms / 1_000;
        match (&op.outcome, &op.acked_by) {
            (Outcome::Ok, Some(region)) => bump(region, second, true),
            _ => bump(&op.home, second, false),
        }
    }
    series.sort_by(|a, b| a.region.cmp(&b.region));
    series
}
