//! Where a run's CPU goes: the time PostgreSQL (the postmaster and its backends), the service
//! instances and the generator itself spent on the CPU, from `/proc/<pid>/stat`, as shares of
//! the whole machine (every core) over the run's wall time.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Kernel clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// CPU time so far of each group of processes, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    database: u64,
    services: u64,
    generator: u64,
}

/// Shares of the machine's CPU capacity (1.0 = every core busy for the whole run).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuShares {
    pub database: f64,
    pub services: f64,
    pub generator: f64,
}

/// The postmaster's pid, from the first line of `postmaster.pid` in the data directory.
pub fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// `utime + stime` and the parent of `pid`.
fn ticks_and_parent(pid: u32) -> Option<(u64, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15), i.e. indexes 1 and 11, 12 here.
    let parent = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime, parent))
}

/// The ticks of `root` and every process whose parent it is (PostgreSQL's backends are
/// children of the postmaster).
fn tree_ticks(root: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(ticks_and_parent_of)
        .filter(|(pid, _, parent)| *pid == root || *parent == root)
        .map(|(_, ticks, _)| ticks)
        .sum()
}

fn ticks_and_parent_of(pid: u32) -> Option<(u32, u64, u32)> {
    ticks_and_parent(pid).map(|(ticks, parent)| (pid, ticks, parent))
}

/// The CPU time so far of PostgreSQL (under `postmaster`), the `services` and this process.
pub fn sample(postmaster: Option<u32>, services: &[u32]) -> CpuSample {
    CpuSample {
        at: Instant::now(),
        database: postmaster.map_or(0, tree_ticks),
        services: services
            .iter()
            .filter_map(|&pid| ticks_and_parent(pid))
            .map(|(ticks, _)| ticks)
            .sum(),
        generator: ticks_and_parent(std::process::id()).map_or(0, |(ticks, _)| ticks),
    }
}

/// The shares of the machine each group used between `before` and `after`.
pub fn shares(before: &CpuSample, after: &CpuSample) -> CpuShares {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let capacity = after.at.duration_since(before.at).as_secs_f64() * cores * TICKS_PER_S;
    let share = |a: u64, b: u64| {
        if capacity > 0.0 {
            b.saturating_sub(a) as f64 / capacity
        } else {
            0.0
        }
    };
    CpuShares {
        database: share(before.database, after.database),
        services: share(before.services, after.services),
        generator: share(before.generator, after.generator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_shows_up_in_its_own_share() {
        let me = std::process::id();
        let before = sample(None, &[me]);
        let spin_until = Instant::now() + std::time::Duration::from_millis(300);
        let mut x = 0u64;
        while Instant::now() < spin_until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let s = shares(&before, &sample(None, &[me]));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        // One core busy for the whole window is 1/cores of the machine; allow for ticks.
        assert!(s.services > 0.5 / cores, "{s:?}");
        assert!(s.generator > 0.5 / cores, "{s:?}");
        assert_eq!(s.database, 0.0);
    }
}
