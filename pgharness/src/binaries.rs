//! Finding the PostgreSQL installation to run.
//!
//! The order is: an explicit directory from the configuration, then the `PGHARNESS_BIN_DIR`
//! environment variable, then `pg_config --bindir`, then Debian's versioned directories
//! (`/usr/lib/postgresql/15/bin` first, else the highest version above 15). An explicit directory
//! or variable is used as given and never silently replaced by a search, so a mistyped path fails
//! loudly instead of testing against a different PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The environment variable that names the bin directory.
pub const BIN_DIR_ENV: &str = "PGHARNESS_BIN_DIR";

/// The programs the harness runs itself. All ship in Debian's `postgresql-15` (and the
/// `postgresql-client-15` it depends on), so their absence always has the same remedy.
const REQUIRED_PROGRAMS: [&str; 5] = ["initdb", "postgres", "pg_ctl", "pg_isready", "createdb"];

/// The oldest major version searched for; the project targets PostgreSQL 15.
const MIN_MAJOR_VERSION: u32 = 15;

/// Debian installs each major version under its own directory here.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// Returns the bin directory to use, or an error that names the package to install.
pub(crate) fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return require_complete(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|dir| !dir.is_empty()) {
        return require_complete(PathBuf::from(dir));
    }
    let mut candidates = Vec::new();
    candidates.extend(pg_config_bindir());
    candidates.extend(debian_bin_dirs());
    candidates.dedup();
    let mut last_missing = REQUIRED_PROGRAMS.join(", ");
    for dir in &candidates {
        let missing = missing_programs(dir);
        if missing.is_empty() {
            return Ok(dir.clone());
        }
        last_missing = missing.join(", ");
    }
    let searched = if candidates.is_empty() {
        format!("PATH (no pg_config) and {DEBIAN_ROOT}/*/bin")
    } else {
        candidates
            .iter()
            .map(|dir| dir.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Error::BinariesNotFound {
        searched,
        missing: last_missing,
    })
}

fn require_complete(dir: PathBuf) -> Result<PathBuf> {
    let missing = missing_programs(&dir);
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(Error::BinariesNotFound {
            searched: dir.display().to_string(),
            missing: missing.join(", "),
        })
    }
}

fn missing_programs(dir: &Path) -> Vec<&'static str> {
    REQUIRED_PROGRAMS
        .into_iter()
        .filter(|program| !dir.join(program).is_file())
        .collect()
}

/// The bin directory `pg_config` reports, when `pg_config` is on PATH and answers.
fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `/usr/lib/postgresql/<major>/bin` for every installed major >= 15: 15 first (the version the
/// project targets), then newer ones from the highest down.
fn debian_bin_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(DEBIAN_ROOT) else {
        return Vec::new();
    };
    let mut majors: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|major| *major >= MIN_MAJOR_VERSION)
        .collect();
    majors.sort_by_key(|major| (*major != MIN_MAJOR_VERSION, std::cmp::Reverse(*major)));
    majors
        .into_iter()
        .map(|major| Path::new(DEBIAN_ROOT).join(major.to_string()).join("bin"))
        .collect()
}
