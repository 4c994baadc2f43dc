//! Finds the workspace's built binaries (`loyalty-service`, `loyalty-operator`) next to the
//! running executable: `target/debug/loyalty-chaos`, or a test binary in `target/debug/deps/`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Overrides where the binaries are looked up (a directory).
pub const BIN_DIR_ENV: &str = "LOYALTY_CHAOS_BIN_DIR";
/// The service binary's name.
pub const SERVICE: &str = "loyalty-service";
/// The operator binary's name.
pub const OPERATOR: &str = "loyalty-operator";

/// The directories searched, in order.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        dirs.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
        // Test binaries live in target/<profile>/deps; the binaries one level up.
        if dir.file_name().is_some_and(|n| n == "deps")
            && let Some(parent) = dir.parent()
        {
            dirs.push(parent.to_path_buf());
        }
    }
    dirs
}

/// The path of the workspace binary `name`, or [`Error::BinaryMissing`] saying how to build it.
pub fn find(name: &str) -> Result<PathBuf> {
    let dirs = search_dirs();
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
        .ok_or_else(|| Error::BinaryMissing {
            name: name.to_owned(),
            searched: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
