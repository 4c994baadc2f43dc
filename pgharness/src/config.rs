//! How a server is configured: [`PgConfig`], [`Durability`] and [`Tls`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// Default `max_connections`: enough for a test binary whose tests each hold a pool.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 300;
/// Default `shared_buffers`: PostgreSQL's own default, small enough for several servers at once.
pub const DEFAULT_SHARED_BUFFERS: &str = "128MB";
/// Default bound on how long a start may take (initdb excluded) before it is reported as failed.
pub const DEFAULT_START_TIMEOUT_S: u64 = 30;

/// Whether the server may trade crash safety for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fsync=off`, `synchronous_commit=off`, `full_page_writes=off`. Committed data survives a
    /// crash of the server process but not of the machine. Right for tests and throwaway runs,
    /// whose data nobody needs after a power cut.
    #[default]
    Fast,
    /// PostgreSQL's defaults. For benchmarks that must measure the real commit path and for
    /// development data that should survive anything.
    Durable,
}

/// Whether the server speaks TLS, and whether it insists on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tls {
    /// `ssl = off`: plaintext only.
    #[default]
    Off,
    /// `ssl = on`, with a server certificate for `localhost` and `127.0.0.1` signed by a CA
    /// generated at start ([`crate::PgServer::ca_file`]). Plaintext is still accepted.
    On,
    /// As [`Tls::On`], and a TCP connection without TLS is refused (`hostssl` only).
    Required,
}

/// What [`crate::PgServer::start`] starts. Build it with struct update syntax:
///
/// ```
/// let config = pgharness::PgConfig { max_connections: 50, ..Default::default() };
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Where the cluster lives. `None` (the default) creates a fresh cluster in a temporary
    /// directory that is removed on stop: under `$TMPDIR` if set, else in `/dev/shm` for
    /// [`Durability::Fast`] when it has 1 GiB free, else under `/tmp`. `Some(dir)` reuses the cluster in `dir` when it holds
    /// one (`PG_VERSION` exists) and creates one there otherwise; `dir` is never removed. When the
    /// process runs as root, every ancestor of `dir` must be searchable by the `postgres` user.
    pub data_dir: Option<PathBuf>,
    /// The directory holding `initdb`, `postgres` and friends. `None` searches: the
    /// `PGHARNESS_BIN_DIR` variable, `pg_config --bindir`, then `/usr/lib/postgresql/<15+>/bin`.
    pub bin_dir: Option<PathBuf>,
    /// The TCP port. `None` (the default) picks a free one and retries with another if a
    /// different process takes it first.
    pub port: Option<u16>,
    /// `max_connections`.
    pub max_connections: u32,
    /// `shared_buffers`, in PostgreSQL's syntax (`"128MB"`).
    pub shared_buffers: String,
    /// Crash safety versus speed.
    pub durability: Durability,
    /// Whether the server speaks TLS.
    pub tls: Tls,
    /// Further `name=value` server settings, applied after (so overriding) the harness's own.
    pub settings: Vec<(String, String)>,
    /// How long the server may take to accept connections once launched.
    pub start_timeout: Duration,
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            data_dir: None,
            bin_dir: None,
            port: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shared_buffers: DEFAULT_SHARED_BUFFERS.to_owned(),
            durability: Durability::default(),
            tls: Tls::default(),
            settings: Vec::new(),
            start_timeout: Duration::from_secs(DEFAULT_START_TIMEOUT_S),
        }
    }
}

impl PgConfig {
    /// Rejects values that would only fail later, inside the server, with a vaguer message.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::InvalidConfig(
                "max_connections must be at least 1".into(),
            ));
        }
        if self.port == Some(0) {
            return Err(Error::InvalidConfig(
                "port 0 is not a port; leave `port` as None to pick a free one".into(),
            ));
        }
        if self.start_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "start_timeout must be positive".into(),
            ));
        }
        for (name, _) in &self.settings {
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if !plain {
                return Err(Error::InvalidConfig(format!(
                    "setting name {name:?} is not valid"
                )));
            }
        }
        Ok(())
    }

    /// The `-c name=value` settings the server is launched with, in order; later ones win.
    pub(crate) fn server_settings(&self, port: u16, run_dir: &Path) -> Vec<(String, String)> {
        let mut settings: Vec<(String, String)> = vec![
            ("listen_addresses".into(), crate::HOST.into()),
            ("port".into(), port.to_string()),
            // Sockets go in the private run directory: /var/run/postgresql may not exist, may
            // belong to a system server, and would collide between concurrent servers.
            (
                "unix_socket_directories".into(),
                run_dir.to_string_lossy().into_owned(),
            ),
            ("max_connections".into(), self.max_connections.to_string()),
            ("shared_buffers".into(), self.shared_buffers.clone()),
            // The log goes to stderr, which the harness points at a file in the run directory.
            ("logging_collector".into(), "off".into()),
            ("log_destination".into(), "stderr".into()),
        ];
        if self.durability == Durability::Fast {
            for name in ["fsync", "synchronous_commit", "full_page_writes"] {
                settings.push((name.into(), "off".into()));
            }
        }
        settings.extend(crate::tls::settings(self.tls, run_dir));
        settings.extend(self.settings.iter().cloned());
        settings
    }
}
