//! Prometheus metrics of the service, registered in one registry per [`Metrics`] so that
//! several app instances in one test process do not collide.

use std::ops::Deref;
use std::sync::Arc;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: sub-millisecond up to the 500 ms redemption budget and beyond.
const LATENCY_BUCKETS_S: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The service's metrics; a clone shares them (one reference count, however many metrics:
/// the state every request clones carries it).
#[derive(Clone)]
pub struct Metrics(Arc<MetricSet>);

impl Deref for Metrics {
    type Target = MetricSet;

    fn deref(&self) -> &MetricSet {
        &self.0
    }
}

pub struct MetricSet {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub tx_retries: IntCounterVec,
    pub tx_outcomes: IntCounterVec,
    pub pool_wait: HistogramVec,
    pub points_earned: IntCounter,
    pub points_redeemed: IntCounter,
    pub auth_failures: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub deliveries: IntCounterVec,
    pub outbox_lag: Gauge,
    pub dead_letters: IntGaugeVec,
    pub fraud: FraudMetrics,
}

/// The fraud checks (docs/fraud.md): flags by rule, decisions, and the queue's depth.
#[derive(Clone)]
pub struct FraudMetrics {
    /// Operations flagged, by the rule that flagged them (one operation counts once per rule).
    pub flags: IntCounterVec,
    /// Reviews decided: approved, rejected or expired.
    pub decisions: IntCounterVec,
    /// Open reviews of the members this region serves, as of the last sweep round.
    pub reviews_open: IntGauge,
}

impl FraudMetrics {
    fn register(registry: &Registry) -> Self {
        let flags = IntCounterVec::new(
            Opts::new(
                "loyalty_fraud_flags_total",
                "Operations sent to review, by fraud rule",
            ),
            &["rule"],
        )
        .expect("valid metric");
        let decisions = IntCounterVec::new(
            Opts::new("loyalty_fraud_reviews_decided_total", "Reviews decided"),
            &["state"],
        )
        .expect("valid metric");
        let reviews_open = IntGauge::new(
            "loyalty_fraud_reviews_open",
            "Open fraud reviews of the members this region serves (the queue depth)",
        )
        .expect("valid metric");
        for collector in [
            Box::new(flags.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(decisions.clone()),
            Box::new(reviews_open.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            flags,
            decisions,
            reviews_open,
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "loyalty_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "loyalty_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(LATENCY_BUCKETS_S.to_vec()),
            &["method", "route"],
        )
        .expect("valid metric");
        let tx_retries = IntCounterVec::new(
            Opts::new(
                "loyalty_tx_retries_total",
                "Transaction re-runs by SQLSTATE",
            ),
            &["sqlstate"],
        )
        .expect("valid metric");
        let tx_outcomes = IntCounterVec::new(
            Opts::new("loyalty_tx_total", "Transactions by operation and outcome"),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let pool_wait = HistogramVec::new(
            HistogramOpts::new(
                "loyalty_db_pool_wait_seconds",
                "Time spent waiting for a pooled connection",
            )
            .buckets(LATENCY_BUCKETS_S.to_vec()),
            &["outcome"],
        )
        .expect("valid metric");
        let points_earned =
            IntCounter::new("loyalty_points_earned_total", "Points earned").expect("valid metric");
        let points_redeemed = IntCounter::new(
            "loyalty_points_redeemed_total",
            "Points redeemed (direct redemptions and hold captures)",
        )
        .expect("valid metric");
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "loyalty_auth_failures_total",
                "Requests refused before their handler: bad or missing token, missing scope, another member's route",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "loyalty_rate_limited_total",
                "Requests refused with 429, by limit (address or subject) and scope",
            ),
            &["limit", "scope"],
        )
        .expect("valid metric");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "loyalty_webhook_deliveries_total",
                "Webhook delivery attempts by partner and outcome (delivered, retried, dead, gone)",
            ),
            &["partner", "outcome"],
        )
        .expect("valid metric");
        let outbox_lag = Gauge::new(
            "loyalty_outbox_lag_seconds",
            "Age of the oldest outbox event still waiting for delivery to a webhook",
        )
        .expect("valid metric");
        let dead_letters = IntGaugeVec::new(
            Opts::new(
                "loyalty_webhook_dead_letters",
                "Webhook deliveries in the dead-letter state, by partner",
            ),
            &["partner"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(tx_retries.clone()),
            Box::new(tx_outcomes.clone()),
            Box::new(pool_wait.clone()),
            Box::new(points_earned.clone()),
            Box::new(points_redeemed.clone()),
            Box::new(auth_failures.clone()),
            Box::new(rate_limited.clone()),
            Box::new(deliveries.clone()),
            Box::new(outbox_lag.clone()),
            Box::new(dead_letters.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        let fraud = FraudMetrics::register(&registry);
        Self(Arc::new(MetricSet {
            registry,
            http_requests,
            http_latency,
            tx_retries,
            tx_outcomes,
            pool_wait,
            points_earned,
            points_redeemed,
            auth_failures,
            rate_limited,
            deliveries,
            outbox_lag,
            dead_letters,
            fraud,
        }))
    }

    /// The registry in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(out).expect("prometheus text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
