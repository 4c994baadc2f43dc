//! A region's probe history as failover needs it: consecutive failures and successes, and
//! when the current streak started.
//!
//! The streak starts (`failing_since`, `healthy_since`) are kept in the LoyaltyRegion's status
//! too, and a new operator instance (after a restart or a leader change) starts from them, so
//! thresholds and the stabilization window do not restart with the operator.

use chrono::{DateTime, TimeDelta, Utc};
use loyalty_crds::region::FailoverPolicy;

use super::probe::ProbeOutcome;

/// One region's probe history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Track {
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// First failed probe of the current failing streak.
    pub failing_since: Option<DateTime<Utc>>,
    /// First good probe of the current healthy streak.
    pub healthy_since: Option<DateTime<Utc>>,
    /// The newest probe's outcome, `None` before the first probe of this instance.
    pub last: Option<ProbeOutcome>,
}

impl Track {
    /// A history that continues the streaks recorded in status.
    pub fn resume(
        failing_since: Option<DateTime<Utc>>,
        healthy_since: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            failing_since,
            healthy_since,
            ..Self::default()
        }
    }

    /// Counts one probe made at `now`.
    pub fn observe(&mut self, outcome: ProbeOutcome, now: DateTime<Utc>) {
        if outcome.is_up() {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
            self.failing_since = None;
            self.healthy_since.get_or_insert(now);
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
            self.healthy_since = None;
            self.failing_since.get_or_insert(now);
        }
        self.last = Some(outcome);
    }

    /// Whether the newest probe failed.
    pub fn looks_down(&self) -> bool {
        self.consecutive_failures > 0
    }

    /// Whether the newest probe found the service up.
    pub fn looks_up(&self) -> bool {
        self.consecutive_successes > 0
    }

    /// Down for failover: `failureThreshold` consecutive failures, or (after an operator
    /// restart, which forgets the count) a failing streak recorded in status that has lasted
    /// as long as that many probes would take and that this instance has seen fail too.
    pub fn is_down(&self, policy: &FailoverPolicy, now: DateTime<Utc>) -> bool {
        let threshold = u32::try_from(policy.failure_threshold.max(1)).unwrap_or(1);
        if self.consecutive_failures >= threshold {
            return true;
        }
        let window = TimeDelta::seconds(
            i64::from(policy.probe_interval_seconds) * i64::from(policy.failure_threshold),
        );
        self.looks_down() && self.failing_since.is_some_and(|t| now - t >= window)
    }

    /// Recovered for fail-back: `successThreshold` consecutive good probes and healthy for
    /// the whole `stabilizationWindowSeconds`.
    pub fn is_recovered(&self, policy: &FailoverPolicy, now: DateTime<Utc>) -> bool {
        let threshold = u32::try_from(policy.success_threshold.max(1)).unwrap_or(1);
        let window = TimeDelta::seconds(i64::from(policy.stabilization_window_seconds));
        self.consecutive_successes >= threshold
            && self.healthy_since.is_some_and(|t| now - t >= window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FailoverPolicy {
        FailoverPolicy {
            probe_interval_seconds: 1,
            failure_threshold: 3,
            success_threshold: 2,
            stabilization_window_seconds: 5,
            ..FailoverPolicy::default()
        }
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_region_is_down_after_the_failure_threshold_and_one_good_probe_resets_it() {
        let mut t = Track::default();
        for s in 0..2 {
            t.observe(ProbeOutcome::Failed("timeout".into()), at(s));
        }
        assert!(!t.is_down(&policy(), at(2)));
        t.observe(ProbeOutcome::Failed("timeout".into()), at(2));
        assert!(t.is_down(&policy(), at(2)));
        assert_eq!(t.failing_since, Some(at(0)));
        t.observe(ProbeOutcome::UpFenced, at(3));
        assert!(!t.is_down(&policy(), at(3)));
        assert_eq!((t.failing_since, t.healthy_since), (None, Some(at(3))));
    }

    #[test]
    fn a_failing_streak_recorded_before_a_restart_still_counts_after_it() {
        let mut t = Track::resume(Some(at(0)), None);
        assert!(!t.is_down(&policy(), at(10)), "no probe of its own yet");
        t.observe(ProbeOutcome::Failed("connect".into()), at(10));
        assert!(t.is_down(&policy(), at(10)));
        assert_eq!(t.failing_since, Some(at(0)));
    }

    #[test]
    fn recovery_needs_the_success_threshold_and_the_whole_stabilization_window() {
        let mut t = Track::default();
        t.observe(ProbeOutcome::Ready, at(0));
        t.observe(ProbeOutcome::Ready, at(1));
        assert!(!t.is_recovered(&policy(), at(4)));
        assert!(t.is_recovered(&policy(), at(5)));
        t.observe(ProbeOutcome::Failed("timeout".into()), at(6));
        t.observe(ProbeOutcome::Ready, at(7));
        assert!(
            !t.is_recovered(&policy(), at(30)),
            "one success after a failure"
        );
    }
}
