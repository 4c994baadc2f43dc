//! What the dispatcher decides after an attempt to deliver an event to a webhook, as pure
//! functions of the Partner's `retryPolicy` (docs/events.md, ADR 0020): the wait before the
//! next attempt with its jitter, and the verdict on the receiver's answer.

use chrono::{DateTime, Utc};
use loyalty_crds::partner::{Jitter, RetryPolicy};

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The receiver answered with this status, and a `Retry-After` in seconds if it sent one
    /// that parses.
    Status {
        status: u16,
        retry_after_s: Option<u64>,
    },
    /// No answer within the per-attempt timeout, or no connection at all.
    Failed(String),
}

/// What becomes of the delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver asks never to be called again. The subscription is disabled
    /// and this event goes to the dead letters.
    Gone,
    /// Tried again after this many milliseconds.
    Retry { after_ms: i64 },
    /// The last attempt failed: a dead letter.
    Dead,
}

impl Verdict {
    /// The `outcome` label of the deliveries metric.
    pub fn metric_label(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::Gone => "gone",
            Verdict::Retry { .. } => "retried",
            Verdict::Dead => "dead",
        }
    }
}

/// The verdict on attempt number `attempt` (from 1) that got `answer`. A 429's `Retry-After`
/// replaces the policy's wait (capped at `max_retry_after_s`); it still counts as an attempt,
/// so a receiver that always throttles ends in the dead letters like one that always fails.
/// `unit` is a uniform random number in `[0, 1)` for the jitter.
pub fn judge(
    policy: &RetryPolicy,
    attempt: u32,
    answer: &Answer,
    max_retry_after_s: u64,
    unit: f64,
) -> Verdict {
    let retry_after_s = match answer {
        Answer::Status { status, .. } if (200..300).contains(status) => return Verdict::Delivered,
        Answer::Status { status: 410, .. } => return Verdict::Gone,
        Answer::Status {
            status: 429,
            retry_after_s,
        } => *retry_after_s,
        _ => None,
    };
    if attempt >= u32::try_from(policy.max_attempts).unwrap_or(1) {
        return Verdict::Dead;
    }
    let after_ms = match retry_after_s {
        Some(s) => i64::try_from(s.min(max_retry_after_s).saturating_mul(1000)).unwrap_or(i64::MAX),
        None => jittered_ms(policy, attempt.saturating_add(1), unit),
    };
    Verdict::Retry { after_ms }
}

/// The wait before attempt `attempt` under the policy's jitter: `None` waits exactly the
/// backoff, `Full` uniformly 0 to the backoff, `Equal` half of it plus uniformly 0 to half.
pub fn jittered_ms(policy: &RetryPolicy, attempt: u32, unit: f64) -> i64 {
    let wait = policy.backoff_before_ms(attempt);
    let unit = unit.clamp(0.0, 1.0);
    // Waits are at most 600 000 ms (the CRD's limit), exact in an f64.
    let scaled = |ms: i64| (ms as f64 * unit).floor() as i64;
    match policy.jitter {
        Jitter::None => wait,
        Jitter::Full => scaled(wait),
        Jitter::Equal => {
            let half = wait / 2;
            half + scaled(wait - half)
        }
    }
}

/// A `Retry-After` header: delay-seconds, or an HTTP date (as seconds from `now`, 0 if past).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let seconds = (at.with_timezone(&Utc) - now).num_seconds();
    Some(u64::try_from(seconds).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff_ms: 100,
            max_backoff_ms: 300,
            multiplier_milli: 2000,
            jitter,
            per_attempt_timeout_ms: 50,
        }
    }

    fn status(status: u16) -> Answer {
        Answer::Status {
            status,
            retry_after_s: None,
        }
    }

    #[test]
    fn failures_wait_the_policy_backoff_and_the_last_attempt_is_a_dead_letter() {
        let p = policy(Jitter::None);
        let waits: Vec<Verdict> = (1..=4)
            .map(|n| judge(&p, n, &status(503), 60, 0.5))
            .collect();
        assert_eq!(
            waits,
            [
                Verdict::Retry { after_ms: 100 },
                Verdict::Retry { after_ms: 200 },
                Verdict::Retry { after_ms: 300 },
                Verdict::Dead
            ]
        );
        let timeout = Answer::Failed("timed out".into());
        assert_eq!(judge(&p, 4, &timeout, 60, 0.5), Verdict::Dead);
    }

    #[test]
    fn success_gone_and_throttling_are_told_apart() {
        let p = policy(Jitter::Full);
        assert_eq!(judge(&p, 4, &status(204), 60, 0.5), Verdict::Delivered);
        assert_eq!(judge(&p, 1, &status(410), 60, 0.5), Verdict::Gone);
        let throttled = |s| Answer::Status {
            status: 429,
            retry_after_s: Some(s),
        };
        assert_eq!(
            judge(&p, 1, &throttled(2), 60, 0.5),
            Verdict::Retry { after_ms: 2000 }
        );
        assert_eq!(
            judge(&p, 1, &throttled(7200), 60, 0.5),
            Verdict::Retry { after_ms: 60_000 }
        );
        assert_eq!(judge(&p, 4, &throttled(1), 60, 0.5), Verdict::Dead);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        for unit in [0.0, 0.25, 0.999] {
            let full = jittered_ms(&policy(Jitter::Full), 3, unit);
            let equal = jittered_ms(&policy(Jitter::Equal), 3, unit);
            assert!((0..=200).contains(&full), "{full}");
            assert!((100..=200).contains(&equal), "{equal}");
        }
        assert_eq!(jittered_ms(&policy(Jitter::Full), 3, 0.5), 100);
        assert_eq!(jittered_ms(&policy(Jitter::Equal), 3, 0.5), 150);
        assert_eq!(jittered_ms(&policy(Jitter::None), 3, 0.0), 200);
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("3", now), Some(3));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(60)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
