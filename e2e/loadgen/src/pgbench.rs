//! pgbench: the raw limit. Each scenario's script (service/src/store/pgbench/*.sql) sends the very
//! statements the service sends, prepared, at the same concurrency, on the same server; the
//! driver compares the service's throughput with it.
//!
//! Also here: the statement extraction the drift test uses to prove that every statement of
//! the scripts still appears verbatim in the service's source.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::dataset::{self, DatasetSpec};
use crate::engine::Latency;
use crate::error::{Error, Result};

/// Tries per transaction on serialization failures, as the service's retry loop allows.
pub const MAX_TRIES: u32 = 16;
/// Marks a script statement the service does not send (see the scripts' header).
pub const HELPER_MARK: &str = "/* bench helper */";

/// A dataset member's id computed from its number `:k` inside a statement (see dataset.rs),
/// where the service binds the id as a parameter: the drift test reads it as one.
pub const MEMBER_EXPR: &str =
    "('0b000000-0000-4000-8000-' || lpad(to_hex(:k::bigint), 12, '0'))::uuid";

/// The scripts, by scenario name.
pub const SCRIPTS: &[(&str, &str)] = &[
    (
        "balance_read",
        include_str!("../../../service/src/store/pgbench/read.sql"),
    ),
    (
        "earn",
        include_str!("../../../service/src/store/pgbench/earn.sql"),
    ),
    (
        "redeem",
        include_str!("../../../service/src/store/pgbench/redeem.sql"),
    ),
    (
        "hold_capture",
        include_str!("../../../service/src/store/pgbench/hold_capture.sql"),
    ),
    (
        "hot_member",
        include_str!("../../../service/src/store/pgbench/redeem.sql"),
    ),
];

/// The raw limits, by name: the least a scenario's kind of transaction costs the database
/// (see each script's header). They are not the service's statements, so the drift test
/// does not hold them to its source; the report names each as `<scenario>_raw`.
pub const BASELINES: &[(&str, &str)] = &[
    ("balance_read_raw", include_str!("../pgbench/read_raw.sql")),
    ("earn_raw", include_str!("../pgbench/earn_raw.sql")),
];

/// The name of the raw-limit baseline of `scenario`, if it has one.
pub fn baseline_of(scenario: &str) -> Option<&'static str> {
    let name = format!("{scenario}_raw");
    BASELINES.iter().map(|(n, _)| *n).find(|n| *n == name)
}

/// What one pgbench run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PgbenchResult {
    pub scenario: String,
    pub clients: usize,
    pub duration_s: f64,
    pub transactions: u64,
    pub failed: u64,
    pub retried: u64,
    /// Script executions per second (hold + capture counts once, like the service's op).
    pub tps: f64,
    /// From pgbench's per-transaction log, microseconds.
    pub latency: Latency,
}

/// Where and how to run pgbench.
pub struct PgbenchTarget<'a> {
    pub bin_dir: &'a Path,
    pub host: &'a str,
    pub port: u16,
    pub database: &'a str,
    pub spec: DatasetSpec,
}

fn defines(spec: &DatasetSpec, hot: bool) -> Vec<(String, String)> {
    let now = chrono::Utc::now();
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string();
    let (kmin, members, lotj) = if hot {
        (0, 0, 0)
    } else {
        (1, spec.members, spec.lots_per_member().saturating_sub(1))
    };
    let lot = dataset::lot_id(1, 0);
    let pairs: Vec<(&str, String)> = vec![
        ("kmin", kmin.to_string()),
        ("members", members.to_string()),
        ("lotj", lotj.to_string()),
        ("region", dataset::REGION.into()),
        ("source", dataset::SOURCE.into()),
        ("soon", fmt(now + chrono::Duration::days(30))),
        ("now", fmt(now)),
        ("expires", fmt(now + chrono::Duration::days(365))),
        ("epoch", "1970-01-01 00:00:00+00".into()),
        ("nil", "00000000-0000-0000-0000-000000000000".into()),
        ("mid", dataset::member_id(1).to_string()),
        ("hash", format!("\\x{}", "ab".repeat(32))),
        (
            "details",
            format!(
                r#"{{"lots": [{{"lot": "{lot}", "points": 1}}], "calculation": {{"product": "hotel", "base_points": 1234, "spend_minor": 12340, "currency": "EUR"}}}}"#
            ),
        ),
        (
            "resp",
            format!(
                r#"{{"entry_id": "{lot}", "member_id": "{lot}", "points": 1234, "source": "hotel-bookings", "booking_ref": "BK-123456789", "balance": {{"available": 1, "pending": 0, "held": 0, "lifetime": 1, "qualifying": 1}}}}"#
            ),
        ),
        (
            "allocations",
            format!(r#"[{{"lot": "{lot}", "points": 2}}]"#),
        ),
        ("batch", "256".into()),
        ("hold_state", "active".into()),
        ("zero", "0".into()),
        ("two", "2".into()),
        ("neg1", "-1".into()),
        ("neg2", "-2".into()),
        ("deltas", "{-1}".into()),
        ("deltas2", "{-2}".into()),
        ("k_earn", "earn".into()),
        ("k_redeem", "redeem".into()),
        ("k_hold", "hold".into()),
        ("k_capture", "capture".into()),
        ("captured", "captured".into()),
        ("r_booking", "booking".into()),
        ("r_redemption", "redemption".into()),
        ("r_hold", "hold".into()),
        ("r_capture", "hold captured".into()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Runs the script of `scenario` with `clients` clients for `duration`.
pub fn run(
    target: &PgbenchTarget<'_>,
    scenario: &str,
    clients: usize,
    duration: Duration,
) -> Result<PgbenchResult> {
    let script = SCRIPTS
        .iter()
        .chain(BASELINES)
        .find(|(name, _)| *name == scenario)
        .map(|(_, s)| *s)
        .ok_or_else(|| Error::Other(format!("no pgbench script for {scenario}")))?;
    let dir =
        std::env::temp_dir().join(format!("loyalty-pgbench-{}-{scenario}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let script_path = dir.join("script.sql");
    std::fs::write(&script_path, script)?;
    let mut cmd = Command::new(target.bin_dir.join("pgbench"));
    for var in [
        "PGPASSWORD",
        "PGSERVICE",
        "PGOPTIONS",
        "PGDATABASE",
        "PGUSER",
    ] {
        cmd.env_remove(var);
    }
    cmd.current_dir(&dir)
        .arg("--no-vacuum")
        .args(["--protocol", "prepared"])
        .arg(format!("--client={clients}"))
        .arg(format!("--jobs={}", clients.min(2)))
        .arg(format!("--time={}", duration.as_secs().max(1)))
        .arg(format!("--max-tries={MAX_TRIES}"))
        .arg("--log")
        .arg(format!("--file={}", script_path.display()))
        .arg(format!("--host={}", target.host))
        .arg(format!("--port={}", target.port))
        .arg("--username=postgres");
    for (k, v) in defines(&target.spec, scenario == "hot_member") {
        cmd.arg(format!("--define={k}={v}"));
    }
    cmd.arg(target.database);
    let output = cmd.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(Error::Other(format!(
            "pgbench {scenario} failed: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let mut result = parse_summary(&stdout)?;
    result.scenario = scenario.to_owned();
    result.clients = clients;
    result.duration_s = duration.as_secs_f64();
    result.latency = latency_from_logs(&dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

fn number_after(text: &str, label: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
    let rest = line.split_once(label)?.1;
    rest.trim_start_matches([' ', '=', ':'])
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Reads pgbench's summary: transactions, failures, retries, tps.
pub fn parse_summary(stdout: &str) -> Result<PgbenchResult> {
    let missing = |what: &str| Error::Other(format!("pgbench printed no {what}:\n{stdout}"));
    let transactions = number_after(stdout, "number of transactions actually processed")
        .ok_or_else(|| missing("transaction count"))?;
    let tps = number_after(stdout, "tps").ok_or_else(|| missing("tps"))?;
    Ok(PgbenchResult {
        transactions: transactions as u64,
        failed: number_after(stdout, "number of failed transactions").unwrap_or(0.0) as u64,
        retried: number_after(stdout, "number of transactions retried").unwrap_or(0.0) as u64,
        tps,
        ..PgbenchResult::default()
    })
}

/// Latency percentiles from pgbench's per-transaction logs (`pgbench_log.*` in `dir`); the
/// third field of each line is the transaction's latency in microseconds.
pub fn latency_from_logs(dir: &Path) -> Result<Latency> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
    for entry in std::fs::read_dir(dir)? {
        let path: PathBuf = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("pgbench_log"));
        if !is_log {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|f| f.parse::<u64>().ok())
            {
                h.saturating_record(us.clamp(1, 60_000_000));
            }
        }
    }
    Ok(Latency::of_histogram(&h))
}

/// The SQL statements of a script the service must send too: every SQL line (backslash
/// commands and comments skipped) not marked [`HELPER_MARK`], without its terminator, with
/// each `:variable` and each [`MEMBER_EXPR`] replaced by `?`.
pub fn service_statements(script: &str) -> Vec<String> {
    script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--") && !l.starts_with('\\'))
        .filter(|l| !l.contains(HELPER_MARK))
        .map(|l| {
            let l = l
                .strip_suffix(";")
                .or_else(|| l.strip_suffix("\\gset"))
                .or_else(|| l.strip_suffix("\\aset"))
                .unwrap_or(l)
                .trim_end();
            normalise_placeholders(&l.replace(MEMBER_EXPR, ":mid"), ':')
        })
        .collect()
}

/// Replaces each placeholder — `$1` (`sigil` '$') or `:name` (`sigil` ':'), but not the
/// `::` of a cast — by `?`.
pub fn normalise_placeholders(sql: &str, sigil: char) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev_colon = i > 0 && chars[i - 1] == ':';
        let next = chars.get(i + 1).copied();
        let starts = c == sigil
            && !prev_colon
            && next.is_some_and(|n| {
                if sigil == '$' {
                    n.is_ascii_digit()
                } else {
                    n.is_ascii_alphabetic() || n == '_'
                }
            });
        if starts {
            out.push('?');
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The string literals of Rust source text, with escapes and `\`-newline continuations
/// resolved as the compiler resolves them (raw strings are not needed: the service has none
/// holding SQL).
pub fn rust_string_literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '/' && chars.peek() == Some(&'/') {
            // Skip line comments: they may hold apostrophes and quotes.
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            continue;
        }
        if c == '\'' {
            // A char literal such as '"' must not open a string; lifetimes have no closing quote
            // within two characters, so only short literals are skipped.
            let mut look = chars.clone();
            let a = look.next();
            let b = look.next();
            let c3 = look.next();
            if a == Some('\\') && c3 == Some('\'') {
                chars.next();
                chars.next();
                chars.next();
            } else if b == Some('\'') {
                chars.next();
                chars.next();
            }
            continue;
        }
        if c != '"' {
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('\n') => {
                        while chars.peek().is_some_and(|c| c.is_whitespace()) {
                            chars.next();
                        }
                    }
                    Some('n') => lit.push('\n'),
                    Some('t') => lit.push('\t'),
                    Some(other) => lit.push(other),
                    None => break,
                },
                other => lit.push(other),
            }
        }
        out.push(lit);
    }
    out
}
