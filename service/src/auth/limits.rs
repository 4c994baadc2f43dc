//! Rate limits (GCRA, from `governor`): one per client address over every authenticated
//! route, and one per token subject for each scope, so a member's token, a booking system
//! and support each get their own budget. Idle keys are forgotten by [`Limits::forget_idle`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::Scope;
use crate::config::{LimitsConfig, RateQuota};

pub struct Limits {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_subject: BTreeMap<Scope, DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

/// A keyed limiter for `quota`, or none when the quota is unlimited (`per_second = 0`).
fn limiter<K: std::hash::Hash + Eq + Clone>(
    quota: &RateQuota,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(quota.per_second)?;
    let burst = NonZeroU32::new(quota.burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Self {
        let per_subject = Scope::ALL
            .into_iter()
            .filter_map(|scope| Some((scope, limiter(config.quota(scope))?)))
            .collect();
        Self {
            per_address: limiter(&config.per_address),
            per_subject,
            clock: DefaultClock::default(),
        }
    }

    /// Ok, or how long `address` must wait.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Duration> {
        match &self.per_address {
            Some(limiter) => self.wait(limiter.check_key(&address)),
            None => Ok(()),
        }
    }

    /// Ok, or how long `subject` must wait before its next request under `scope`.
    pub fn check_subject(&self, scope: Scope, subject: &str) -> Result<(), Duration> {
        match self.per_subject.get(&scope) {
            Some(limiter) => self.wait(limiter.check_key(&subject.to_owned())),
            None => Ok(()),
        }
    }

    fn wait<E>(&self, outcome: Result<(), governor::NotUntil<E>>) -> Result<(), Duration>
    where
        E: governor::clock::Reference,
        DefaultClock: Clock<Instant = E>,
    {
        outcome.map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the state of keys that have been idle long enough to be indistinguishable from
    /// new ones, so memory follows the active callers, not every caller ever seen.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.per_address {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for limiter in self.per_subject.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}
