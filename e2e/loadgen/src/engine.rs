//! The load engine: closed loop (N workers back to back, for maximum throughput) and open
//! loop (a fixed request rate, latency measured from each request's intended send time so a
//! slow response cannot hide the requests it delayed — no coordinated omission).
//!
//! Both record into HDR histograms (microseconds, 3 significant digits) per worker and merge
//! them at the end; the result serialises to JSON for `docs/bench/results.json`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, mpsc};

use crate::error::Result;
use crate::http::Conn;

/// Highest latency the histograms track: one minute, in microseconds.
const MAX_TRACKED_US: u64 = 60_000_000;
/// A send that leaves the scheduler later than this after its intended time counts as late.
pub const LATE_SEND_US: u64 = 1_000;
/// Upper bound on open-loop connections (= requests in flight).
pub const MAX_OPEN_LOOP_CONNECTIONS: usize = 512;

/// One kind of request (or short sequence of requests, such as hold then capture).
pub trait Workload: Send + Sync + 'static {
    /// Runs one operation on `conn`. Returns the HTTP status that decides its outcome: the
    /// first non-2xx status of its requests, or the last status when all succeeded.
    fn op<'a>(&'a self, conn: &'a mut Conn) -> BoxFuture<'a, Result<u16>>;
}

/// Latency percentiles of one run, in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Latency {
    /// Percentiles of a histogram of microseconds.
    pub fn of_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunResult {
    pub scenario: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Workers (closed loop) or connections (open loop).
    pub concurrency: usize,
    /// Requests per second asked for (open loop only).
    pub offered_rps: Option<f64>,
    pub duration_s: f64,
    /// Operations completed inside the measured window (after warm-up).
    pub requests: u64,
    /// Operations whose status was 2xx.
    pub ok: u64,
    pub achieved_rps: f64,
    pub latency: Latency,
    /// Completed operations by HTTP status.
    pub statuses: BTreeMap<String, u64>,
    /// Failures by kind: non-2xx statuses (`"422"`, `"503"`) and transport errors (`io`,
    /// `http`, `timeout`).
    pub errors: BTreeMap<String, u64>,
    /// Open loop: sends skipped because every connection was busy and the queue was full.
    pub dropped: u64,
    /// Open loop: sends that left the scheduler more than 1 ms after their intended time.
    pub late_sends: u64,
    /// Open loop: the scheduler's own lag behind the intended send times.
    pub send_lag: Option<Latency>,
    /// Open loop measured over several windows: each window's p99, in the order they ran.
    /// This result is the window with the median p99.
    pub window_p99s_us: Vec<u64>,
}

impl RunResult {
    pub fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| s.starts_with('5'))
            .map(|(_, n)| n)
            .sum()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_US, 3).expect("static histogram bounds are valid")
}

/// One worker's tallies, merged at the end of a run.
struct Tally {
    latency: Histogram<u64>,
    statuses: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    ok: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency: histogram(),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            ok: 0,
        }
    }

    fn record(&mut self, outcome: &Result<u16>, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(us.clamp(1, MAX_TRACKED_US));
        match outcome {
            Ok(status) => {
                *self.statuses.entry(status.to_string()).or_default() += 1;
                if (200..300).contains(status) {
                    self.ok += 1;
                } else {
                    *self.errors.entry(status.to_string()).or_default() += 1;
                }
            }
            Err(e) => {
                *self.errors.entry(e.metric_label().to_owned()).or_default() += 1;
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latency
            .add(&other.latency)
            .expect("histograms share their bounds");
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.ok += other.ok;
    }

    fn into_result(
        self,
        scenario: &str,
        mode: &str,
        concurrency: usize,
        window: Duration,
    ) -> RunResult {
        let requests = self.latency.len();
        let duration_s = window.as_secs_f64();
        RunResult {
            scenario: scenario.to_owned(),
            mode: mode.to_owned(),
            concurrency,
            offered_rps: None,
            duration_s,
            requests,
            ok: self.ok,
            achieved_rps: requests as f64 / duration_s,
            latency: Latency::of_histogram(&self.latency),
            statuses: self.statuses,
            errors: self.errors,
            dropped: 0,
            late_sends: 0,
            send_lag: None,
            window_p99s_us: Vec::new(),
        }
    }
}

/// The target of the `i`-th connection: several service instances share the load evenly.
fn target(targets: &[SocketAddr], i: usize) -> SocketAddr {
    assert!(!targets.is_empty(), "a run needs at least one target");
    targets[i % targets.len()]
}

/// How long to run: a warm-up whose operations are not recorded, then the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warmup: Duration,
    pub measure: Duration,
}

/// `concurrency` workers, each with its own connection to one of `targets` (round robin),
/// send operations back to back.
pub async fn closed_loop(
    scenario: &str,
    targets: &[SocketAddr],
    workload: Arc<dyn Workload>,
    concurrency: usize,
    timing: Timing,
) -> RunResult {
    let started = Instant::now();
    let measure_from = started + timing.warmup;
    let end = measure_from + timing.measure;
    let mut workers = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let (workload, addr) = (workload.clone(), target(targets, i));
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut tally = Tally::new();
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let outcome = workload.op(&mut conn).await;
                if t0 >= measure_from {
                    tally.record(&outcome, t0.elapsed());
                }
                if outcome.is_err() {
                    // A broken connection is redialled by the next op; do not spin on a dead
                    // server.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for w in workers {
        total.merge(w.await.expect("worker task panicked"));
    }
    total.into_result(scenario, "closed", concurrency, timing.measure)
}

/// Offers `rate_rps` operations per second on up to `connections` connections, spread over
/// `targets` round robin.
///
/// A dedicated OS thread schedules the sends (finer-grained than the async timer) and queues
/// each intended send time; a free connection takes it and records the latency from that
/// intended time, so time spent waiting for a connection counts. When every connection is busy
/// and `connections` more sends are already queued, further sends are dropped and counted:
/// that marks a saturated service, and the point is reported as such.
pub async fn open_loop(
    scenario: &str,
    targets: &[SocketAddr],
    workload: Arc<dyn Workload>,
    rate_rps: f64,
    connections: usize,
    timing: Timing,
) -> RunResult {
    let connections = connections.clamp(1, MAX_OPEN_LOOP_CONNECTIONS);
    let (tx, rx) = mpsc::channel::<Instant>(connections);
    let rx = Arc::new(Mutex::new(rx));
    let started = Instant::now() + Duration::from_millis(20);
    let measure_from = started + timing.warmup;
    let end = measure_from + timing.measure;
    let dropped = Arc::new(AtomicU64::new(0));
    let late = Arc::new(AtomicU64::new(0));

    let scheduler = {
        let (dropped, late) = (dropped.clone(), late.clone());
        std::thread::spawn(move || {
            let mut lag = histogram();
            let interval = Duration::from_secs_f64(1.0 / rate_rps.max(0.001));
            let mut i: u32 = 0;
            loop {
                let intended = started + interval * i;
                if intended >= end {
                    break;
                }
                let now = Instant::now();
                if intended > now {
                    std::thread::sleep(intended - now);
                }
                let sent = Instant::now();
                let measured = intended >= measure_from;
                if tx.try_send(intended).is_err() {
                    if measured {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                } else if measured {
                    let lag_us = u64::try_from((sent - intended).as_micros()).unwrap_or(u64::MAX);
                    lag.saturating_record(lag_us.clamp(1, MAX_TRACKED_US));
                    if lag_us > LATE_SEND_US {
                        late.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i = i.saturating_add(1);
            }
            lag
        })
    };

    let mut workers = Vec::with_capacity(connections);
    for i in 0..connections {
        let (workload, rx, addr) = (workload.clone(), rx.clone(), target(targets, i));
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut tally = Tally::new();
            loop {
                let next = rx.lock().await.recv().await;
                let Some(intended) = next else { break };
                let outcome = workload.op(&mut conn).await;
                if intended >= measure_from {
                    tally.record(&outcome, intended.elapsed());
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for w in workers {
        total.merge(w.await.expect("worker task panicked"));
    }
    let lag = tokio::task::spawn_blocking(move || scheduler.join())
        .await
        .expect("join task")
        .expect("scheduler thread panicked");
    let mut result = total.into_result(scenario, "open", connections, timing.measure);
    result.offered_rps = Some(rate_rps);
    result.dropped = dropped.load(Ordering::Relaxed);
    result.late_sends = late.load(Ordering::Relaxed);
    result.send_lag = Some(Latency::of_histogram(&lag));
    result
}
