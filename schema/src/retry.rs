//! The transaction discipline the service and the operator share (ADR 0002): a unit of work
//! runs SERIALIZABLE and is re-run as a whole on a serialization failure (40001) or deadlock
//! (40P01), after a bounded, fully jittered exponential backoff; 40003 (statement completion
//! unknown) is ambiguous and never re-run blindly. Errors are classified by SQLSTATE, never by
//! message text.
//!
//! Each side keeps its own attempt (the service's pipelined transaction, the operator's plain
//! one) and drives it with a [`Retry`]: `while retry.again(class).await`.

use std::time::Duration;

use rand::Rng;

/// What a failed attempt's SQLSTATE means for the unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlClass {
    /// Run the unit again from the start; the SQLSTATE, for metrics.
    Retry(&'static str),
    /// The COMMIT may or may not have applied: resolve it from the unit's own records.
    Ambiguous,
    /// Anything else: the caller's error.
    Other,
}

/// Classifies a SQLSTATE (`None`: the error carried none).
pub fn classify(sqlstate: Option<&str>) -> SqlClass {
    match sqlstate {
        Some("40001") => SqlClass::Retry("40001"),
        Some("40P01") => SqlClass::Retry("40P01"),
        Some("40003") => SqlClass::Ambiguous,
        _ => SqlClass::Other,
    }
}

/// How often and how patiently a unit of work is re-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff window; it doubles per attempt up to `cap_ms`.
    pub base_ms: u64,
    pub cap_ms: u64,
}

impl RetryPolicy {
    /// A policy; the relations between its numbers are checked at compile time where it is a
    /// constant.
    pub const fn new(max_attempts: u32, base_ms: u64, cap_ms: u64) -> Self {
        assert!(max_attempts >= 1 && base_ms >= 1 && base_ms <= cap_ms);
        Self {
            max_attempts,
            base_ms,
            cap_ms,
        }
    }

    /// The backoff before attempt `attempt + 1`: uniform in `[0, min(cap, base·2^attempt)]`,
    /// so that conflicting transactions spread out instead of colliding again in step.
    pub fn delay(&self, attempt: u32) -> Duration {
        let window_ms = self
            .base_ms
            .saturating_mul(1 << attempt.min(16))
            .min(self.cap_ms);
        Duration::from_millis(rand::rng().random_range(0..=window_ms))
    }
}

/// The attempt counter of one unit of work.
#[derive(Debug)]
pub struct Retry {
    policy: RetryPolicy,
    attempt: u32,
}

impl Retry {
    pub fn new(policy: RetryPolicy) -> Self {
        Self { policy, attempt: 1 }
    }

    /// The attempt about to run (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// After a retryable failure: waits out the backoff and answers whether another attempt
    /// may run (`false` once `max_attempts` have run).
    pub async fn again(&mut self) -> bool {
        if self.attempt >= self.policy.max_attempts {
            return false;
        }
        tokio::time::sleep(self.policy.delay(self.attempt)).await;
        self.attempt += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_failures_and_deadlocks_retry_and_an_unknown_commit_is_ambiguous() {
        assert_eq!(classify(Some("40001")), SqlClass::Retry("40001"));
        assert_eq!(classify(Some("40P01")), SqlClass::Retry("40P01"));
        assert_eq!(classify(Some("40003")), SqlClass::Ambiguous);
        assert_eq!(classify(Some("23505")), SqlClass::Other);
        assert_eq!(classify(None), SqlClass::Other);
    }

    #[test]
    fn the_backoff_window_doubles_up_to_its_cap() {
        let policy = RetryPolicy::new(8, 10, 100);
        for attempt in 0..12 {
            let window = (10u64 << attempt).min(100);
            assert!(policy.delay(attempt) <= Duration::from_millis(window));
        }
    }

    #[tokio::test]
    async fn a_unit_runs_at_most_max_attempts_times() {
        let mut retry = Retry::new(RetryPolicy::new(3, 1, 1));
        let mut runs = 1;
        while retry.again().await {
            runs += 1;
        }
        assert_eq!((runs, retry.attempt()), (3, 3));
    }
}
