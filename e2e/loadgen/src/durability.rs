//! Durable commits beside fast ones: the same server, dataset and service process, switched
//! between PostgreSQL's defaults (`fsync`, `synchronous_commit` and `full_page_writes` on)
//! and the benchmark's `Fast` settings by `ALTER SYSTEM` and a reload, so that nothing but
//! durability differs between the two sets of figures. Each set runs every closed-loop
//! scenario at each of the plan's client counts (group commit shows at the higher one) and
//! the earn open loop.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_postgres::Client;

use crate::dataset;
use crate::driver::{Plan, open_loop_windows, scenario_sets};
use crate::engine::{self, RunResult};
use crate::error::{Error, Result};

/// The settings `Fast` turns off.
const SETTINGS: [&str; 3] = ["fsync", "synchronous_commit", "full_page_writes"];
/// The closed-loop scenarios of the comparison (the hot member is a correctness check).
pub const SCENARIOS: [&str; 5] = [
    "balance_read",
    "earn",
    "redeem",
    "hold_capture",
    "mix_100_1",
];
/// How long a reload may take to reach a new session.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The runs of one durability setting.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DurabilityRuns {
    /// `Fast` or `Durable`.
    pub durability: String,
    pub runs: Vec<RunResult>,
}

/// The label of a setting, as the report and `Results::durability` spell it.
pub fn label(durable: bool) -> &'static str {
    if durable { "Durable" } else { "Fast" }
}

/// Switches the server behind `admin_url` to durable commits or to `Fast`, and waits until a
/// new session sees the change. Turning fsync back on is followed by a checkpoint, so that
/// what was written without it reaches the disk before durable figures are taken.
pub async fn switch(admin_url: &str, durable: bool) -> Result<()> {
    let admin = dataset::connect(admin_url).await?;
    for name in SETTINGS {
        let statement = if durable {
            format!("ALTER SYSTEM RESET {name}")
        } else {
            format!("ALTER SYSTEM SET {name} = off")
        };
        admin.batch_execute(&statement).await?;
    }
    admin.batch_execute("SELECT pg_reload_conf()").await?;
    let want = if durable { "on" } else { "off" };
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    while fsync_of(&dataset::connect(admin_url).await?).await? != want {
        if Instant::now() > deadline {
            return Err(Error::Timeout(format!(
                "fsync did not become {want} after a reload"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if durable {
        admin.batch_execute("CHECKPOINT").await?;
    }
    Ok(())
}

async fn fsync_of(client: &Client) -> Result<String> {
    Ok(client.query_one("SHOW fsync", &[]).await?.get(0))
}

/// Every scenario of [`SCENARIOS`] closed loop at each of `plan.durability_clients`, and the
/// earn open loop, first with `Fast` then with durable commits; leaves the server as
/// `main_durable` says the rest of the run expects it.
pub async fn compare(
    admin_url: &str,
    addr: SocketAddr,
    members: u64,
    plan: &Plan,
    main_durable: bool,
) -> Result<Vec<DurabilityRuns>> {
    let mut out = Vec::new();
    for durable in [false, true] {
        switch(admin_url, durable).await?;
        let mut runs = Vec::new();
        let sets = scenario_sets(members, plan);
        for (name, workload, _, rates) in sets.into_iter().filter(|s| SCENARIOS.contains(&s.0)) {
            for &clients in &plan.durability_clients {
                let r = engine::closed_loop(
                    name,
                    &[addr],
                    workload.clone(),
                    clients,
                    plan.phase_closed(),
                )
                .await;
                eprintln!(
                    "[loyalty-bench] {} {name} closed c={clients}: {:.0}/s p99 {} µs",
                    label(durable),
                    r.achieved_rps,
                    r.latency.p99_us
                );
                runs.push(r);
            }
            if name == "earn" {
                for &rate in rates {
                    runs.push(open_loop_windows(name, &[addr], workload.clone(), rate, plan).await);
                }
            }
        }
        out.push(DurabilityRuns {
            durability: label(durable).to_owned(),
            runs,
        });
    }
    switch(admin_url, main_durable).await?;
    Ok(out)
}
