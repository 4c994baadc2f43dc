//! The workload: concurrent clients running operations on members of every region, each
//! recorded in the [`History`]. Bounded by a duration and a count of operations.

pub mod client;
pub mod clock;
pub mod history;
pub mod ops;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use client::{Request, Router};
pub use clock::Clock;
pub use history::{Attempt, History, Op, OpKind, Outcome};

use crate::members::Member;
use client::Conns;
use ops::Planner;

/// How long one operation may keep retrying (longer than a failover takes).
pub const OP_DEADLINE_MS: u64 = 12_000;
/// Pause between two operations of one client.
pub const THINK_MS: u64 = 5;

/// How much work to do.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    pub seed: u64,
    /// Concurrent clients for each region's members.
    pub clients_per_region: usize,
    /// Operations stop being started after this long.
    pub duration: Duration,
    /// Operations stop being started after this many, across all clients.
    pub max_ops: u64,
    pub op_deadline_ms: u64,
    /// Writes only, no balance reads. Reads always honour the fence, so in a run whose
    /// services skip the fence check for writes a read's 421 would teach the clients to leave
    /// the fenced region at once; without reads they keep writing to it, as stale clients do.
    pub write_only: bool,
}

/// Default bounds of a workload.
pub const DEFAULT_CLIENTS_PER_REGION: usize = 3;
pub const DEFAULT_DURATION_S: u64 = 30;
pub const DEFAULT_MAX_OPS: u64 = 100_000;

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            seed: 1,
            clients_per_region: DEFAULT_CLIENTS_PER_REGION,
            duration: Duration::from_secs(DEFAULT_DURATION_S),
            max_ops: DEFAULT_MAX_OPS,
            op_deadline_ms: OP_DEADLINE_MS,
            write_only: false,
        }
    }
}

/// A running workload.
pub struct Workload {
    stop: watch::Sender<bool>,
    clients: JoinSet<Vec<Op>>,
}

/// What every client shares.
struct Shared {
    router: Arc<Router>,
    members: Vec<Member>,
    started: AtomicU64,
    config: WorkloadConfig,
}

impl Workload {
    /// Starts `clients_per_region` clients per home region among `members`.
    pub fn start(config: WorkloadConfig, router: Arc<Router>, members: Vec<Member>) -> Workload {
        let mut homes: Vec<String> = members.iter().map(|m| m.home.clone()).collect();
        homes.sort();
        homes.dedup();
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            router,
            members,
            started: AtomicU64::new(0),
            config: config.clone(),
        });
        let mut clients = JoinSet::new();
        let mut id = 0u32;
        for home in &homes {
            for _ in 0..config.clients_per_region {
                let prefix = format!("s{}-c{id}", config.seed);
                let planner = Planner::new(config.seed, id, prefix, config.write_only);
                clients.spawn(client_loop(
                    shared.clone(),
                    id,
                    home.clone(),
                    planner,
                    stopped.clone(),
                ));
                id += 1;
            }
        }
        Workload { stop, clients }
    }

    /// Stops starting operations and waits for those in flight (each bounded by its deadline).
    pub async fn stop(mut self) -> History {
        let _ = self.stop.send(true);
        let mut ops = Vec::new();
        while let Some(done) = self.clients.join_next().await {
            if let Ok(client_ops) = done {
                ops.extend(client_ops);
            }
        }
        ops.sort_by_key(|op| (op.invoke_ms, op.id));
        History { ops }
    }
}

async fn client_loop(
    shared: Arc<Shared>,
    client: u32,
    home: String,
    mut planner: Planner,
    stopped: watch::Receiver<bool>,
) -> Vec<Op> {
    let own: Vec<Member> = shared
        .members
        .iter()
        .filter(|m| m.home == home)
        .cloned()
        .collect();
    let group_name = own.first().map(|m| m.group.clone()).unwrap_or_default();
    let group: Vec<Member> = shared
        .members
        .iter()
        .filter(|m| m.group == group_name)
        .cloned()
        .collect();
    let clock = shared.router.clock;
    let end_ms = u64::try_from(shared.config.duration.as_millis()).unwrap_or(u64::MAX);
    let mut conns = Conns::default();
    let mut ops = Vec::new();
    while !*stopped.borrow() && clock.ms() < end_ms && !own.is_empty() {
        let id = shared.started.fetch_add(1, Ordering::Relaxed);
        if id >= shared.config.max_ops {
            break;
        }
        let planned = planner.plan(&own, &group);
        let invoke_ms = clock.ms();
        let deadline_ms = invoke_ms + shared.config.op_deadline_ms;
        let exchange = shared
            .router
            .execute(
                &mut conns,
                &planned.member.home,
                &planned.request,
                deadline_ms,
            )
            .await;
        if let (OpKind::Hold { .. }, Some(body)) = (&planned.kind, &exchange.response)
            && let Some(hold) = body["hold_id"].as_str().and_then(|s| s.parse().ok())
        {
            planner.hold_opened(planned.member.clone(), hold);
        }
        ops.push(Op {
            id,
            client,
            member: planned.member.id,
            home: planned.member.home.clone(),
            kind: planned.kind,
            idempotency_key: planned.request.idempotency_key.clone().unwrap_or_default(),
            invoke_ms,
            complete_ms: clock.ms(),
            outcome: exchange.outcome,
            acked_by: exchange.acked_by,
            response: exchange.response,
            attempts: exchange.attempts,
        });
        tokio::time::sleep(Duration::from_millis(THINK_MS)).await;
    }
    ops
}
