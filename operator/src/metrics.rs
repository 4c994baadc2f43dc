//! Prometheus metrics of the operator, served at `/metrics`.
//!
//! Labels are bounded: controller names and error labels are fixed sets, SQLSTATEs are the two
//! retryable ones, and regions are the declared LoyaltyRegions.

use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Reconcile durations are bucketed from 5 ms to 30 s: a reconcile is a few API calls and one
/// or two short transactions, and placement DDL on CockroachDB can take seconds.
const RECONCILE_BUCKETS_S: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric the operator exports, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Reconciles started, by controller.
    pub reconciles: IntCounterVec,
    /// Reconciles failed, by controller and error label.
    pub failures: IntCounterVec,
    /// Reconcile duration, by controller.
    pub duration: HistogramVec,
    /// Serializable transactions re-run, by SQLSTATE.
    pub db_retries: IntCounterVec,
    /// Failover state transitions, by region and the phases moved between.
    pub failover_transitions: IntCounterVec,
    /// Times this instance became or stopped being the leader, by direction.
    pub leader_transitions: IntCounterVec,
    /// 1 while this instance holds the leader Lease.
    pub is_leader: IntGauge,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("loyalty_operator_reconciles_total", "Reconciles started"),
            &["controller"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "loyalty_operator_reconcile_failures_total",
                "Reconciles failed",
            ),
            &["controller", "error"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "loyalty_operator_reconcile_duration_seconds",
                "Reconcile duration",
            )
            .buckets(RECONCILE_BUCKETS_S.to_vec()),
            &["controller"],
        )
        .expect("valid metric");
        let db_retries = IntCounterVec::new(
            Opts::new(
                "loyalty_operator_db_retries_total",
                "Serializable transactions re-run",
            ),
            &["sqlstate"],
        )
        .expect("valid metric");
        let failover_transitions = IntCounterVec::new(
            Opts::new(
                "loyalty_operator_failover_transitions_total",
                "Region phase transitions (Active, FailingOver, FailedOver, FailingBack)",
            ),
            &["region", "from", "to"],
        )
        .expect("valid metric");
        let leader_transitions = IntCounterVec::new(
            Opts::new(
                "loyalty_operator_leader_transitions_total",
                "Leadership gained or lost",
            ),
            &["direction"],
        )
        .expect("valid metric");
        let is_leader = IntGauge::new("loyalty_operator_is_leader", "1 while this instance leads")
            .expect("valid metric");
        for c in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
            Box::new(db_retries.clone()),
            Box::new(failover_transitions.clone()),
            Box::new(leader_transitions.clone()),
            Box::new(is_leader.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            reconciles,
            failures,
            duration,
            db_retries,
            failover_transitions,
            leader_transitions,
            is_leader,
        }
    }

    /// Counts a reconcile of `controller` and returns a guard that observes its duration.
    pub fn reconcile_started(&self, controller: &'static str) -> ReconcileTimer {
        self.reconciles.with_label_values(&[controller]).inc();
        ReconcileTimer {
            histogram: self.duration.clone(),
            controller,
            start: Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, controller: &'static str, error: &crate::Error) {
        self.failures
            .with_label_values(&[controller, error.metric_label()])
            .inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Observes a reconcile's duration when dropped.
pub struct ReconcileTimer {
    histogram: HistogramVec,
    controller: &'static str,
    start: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram
            .with_label_values(&[self.controller])
            .observe(self.start.elapsed().as_secs_f64());
    }
}
