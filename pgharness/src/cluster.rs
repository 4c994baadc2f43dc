//! The directories a server uses, and `initdb`.
//!
//! Every server gets a private *run directory* under the system temp dir. It holds the Unix
//! socket, the server log and, unless the caller gave a data directory, the cluster itself
//! (`<run>/data`). The run directory is always removed on stop; a caller's data directory never
//! is. Keeping sockets and logs out of a caller's data directory means a persistent development
//! cluster carries no stale sockets, and socket paths stay short (Unix limits them to ~107 bytes).
//!
//! Run directories of [`Durability::Fast`] servers go to `/dev/shm` when it is a roomy tmpfs and
//! `TMPDIR` is not set: `initdb` there takes under a second where a loaded disk can take five, and
//! a fast server has given up crash safety anyway. Durable servers stay on disk, since fsync on a
//! tmpfs measures nothing.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::Durability;
use crate::error::{Error, Result};
use crate::os_user::RunAs;

/// The shared-memory tmpfs preferred for fast servers' run directories.
const SHM_DIR: &str = "/dev/shm";
/// Free space `/dev/shm` needs to be used (Docker's default 64 MiB one is too small).
const SHM_MIN_FREE_BYTES: u64 = 1 << 30;

/// Attempts at finding an unused run directory name before giving up.
const RUN_DIR_ATTEMPTS: u32 = 100;

/// PostgreSQL insists that a data directory be private to its owner.
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Makes run directory names unique within this process; the pid makes them unique across.
static RUN_DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Creates a fresh, private run directory owned by the server's account.
pub(crate) fn create_run_dir(run_as: RunAs, durability: Durability) -> Result<PathBuf> {
    if durability == Durability::Fast && std::env::var_os("TMPDIR").is_none() && shm_is_roomy() {
        // Fall back to the temp dir if /dev/shm turns out not to be writable after all.
        if let Ok(dir) = create_run_dir_in(Path::new(SHM_DIR), run_as) {
            return Ok(dir);
        }
    }
    create_run_dir_in(&std::env::temp_dir(), run_as)
}

fn shm_is_roomy() -> bool {
    rustix::fs::statvfs(SHM_DIR)
        .is_ok_and(|stats| stats.f_bavail.saturating_mul(stats.f_frsize) >= SHM_MIN_FREE_BYTES)
}

fn create_run_dir_in(parent: &Path, run_as: RunAs) -> Result<PathBuf> {
    for _ in 0..RUN_DIR_ATTEMPTS {
        let sequence = RUN_DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("pgharness-{}-{sequence}", std::process::id()));
        match std::fs::DirBuilder::new()
            .mode(PRIVATE_DIR_MODE)
            .create(&dir)
        {
            Ok(()) => {
                if let Err(error) = run_as.give(&dir) {
                    let _ = std::fs::remove_dir(&dir);
                    return Err(error);
                }
                return Ok(dir);
            }
            // A directory left by an earlier process that had the same pid: try the next name.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(Error::io("create directory", dir)(error)),
        }
    }
    Err(Error::io("create a run directory in", parent)(
        std::io::Error::other("every candidate name is taken"),
    ))
}

/// Whether `data_dir` already holds a cluster.
pub(crate) fn holds_cluster(data_dir: &Path) -> bool {
    data_dir.join("PG_VERSION").is_file()
}

/// Makes a caller-given data directory ready for `initdb`: it exists, is private and belongs to
/// the server's account. Only called when it holds no cluster yet, so `initdb` will insist that
/// it is empty anyway; the owner of an existing cluster is never changed.
pub(crate) fn prepare_empty_data_dir(data_dir: &Path, run_as: RunAs) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(data_dir)
        .map_err(Error::io("create directory", data_dir))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))
        .map_err(Error::io("change the permissions of", data_dir))?;
    run_as.give(data_dir)
}

/// Runs `initdb` for a cluster whose superuser is `postgres`, trusted on every connection.
///
/// `--no-sync` skips flushing the new files: a cluster that is half-written after a power cut
/// is simply recreated. `--locale=C` keeps sorting identical on every machine.
pub(crate) fn initdb(bin_dir: &Path, data_dir: &Path, run_dir: &Path, run_as: RunAs) -> Result<()> {
    let program = bin_dir.join("initdb");
    let mut command = Command::new(&program);
    crate::postmaster::clear_pg_env(&mut command);
    command
        .arg("--pgdata")
        .arg(data_dir)
        .args([
            "--no-sync",
            "--no-instructions",
            "--auth=trust",
            "--username=postgres",
        ])
        .args(["--encoding=UTF8", "--locale=C"])
        // The server's account may not be able to enter the caller's working directory.
        .current_dir(run_dir)
        .stdin(Stdio::null());
    run_as.apply(&mut command);
    run(&mut command, &program)
}

/// Runs `command` (the program at `program`) to completion; a failure carries its output.
pub(crate) fn run(command: &mut Command, program: &Path) -> Result<()> {
    let output = command.output().map_err(|source| Error::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::CommandFailed {
        program: program.display().to_string(),
        status: output.status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}
