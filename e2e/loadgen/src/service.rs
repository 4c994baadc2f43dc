//! The service under test as a separate process (its release binary), so that its memory can
//! be read from `/proc/<pid>/status` and nothing of the generator runs inside it.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use loyalty_service::auth::Scope;
use loyalty_service::auth::dev::DevIssuer;

use crate::error::{Error, Result};
use crate::http::Conn;

/// How long the service may take to answer `/readyz` after it is started.
const START_TIMEOUT_S: u64 = 60;

/// A running `loyalty-service serve`.
pub struct ServiceProcess {
    child: Child,
    pub addr: SocketAddr,
}

/// Builds `loyalty-service` in release mode next to the running binary (same target
/// directory, so `CARGO_TARGET_DIR` is honoured) and returns its path.
pub fn build_release_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| Error::Other("the running binary has no directory".into()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "loyalty-service",
            "--bin",
            "loyalty-service",
        ])
        .status()?;
    if !status.success() {
        return Err(Error::Other("building loyalty-service failed".into()));
    }
    // `target/release/loyalty-bench` or `target/release/deps/...` (tests): look in both.
    for candidate in [dir.join("loyalty-service"), dir.join("../loyalty-service")] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(Error::Other(format!(
        "no loyalty-service binary next to {}",
        exe.display()
    )))
}

/// The identity provider of this run: one generated key whose key set is written where a
/// service can read it (the returned path), and every connection of this process sending its
/// platform token (all service scopes). One per process, so that every service instance a run
/// starts (the scale-out runs start several) trusts the token the generator sends.
pub fn local_issuer() -> Result<&'static (DevIssuer, PathBuf)> {
    static ISSUER: OnceLock<std::result::Result<(DevIssuer, PathBuf), String>> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            let issuer = DevIssuer::generate("https://issuer.loadgen.invalid", "loyalty-api");
            let jwks = std::env::temp_dir()
                .join(format!("loyalty-loadgen-jwks-{}.json", std::process::id()));
            issuer.write_jwks(&jwks).map_err(|e| e.to_string())?;
            let day = Duration::from_secs(24 * 3600);
            crate::http::use_token(issuer.token("loadgen", "loadgen", &Scope::SERVICES, day));
            Ok((issuer, jwks))
        })
        .as_ref()
        .map_err(|e| Error::Other(e.clone()))
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl ServiceProcess {
    /// Starts `binary serve` on a free port against `database_url` and waits until ready.
    pub async fn start(binary: &Path, database_url: &str, pool_size: usize) -> Result<Self> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?)
            .parse()
            .expect("a valid address");
        let (issuer, jwks) = local_issuer()?;
        let child = Command::new(binary)
            .arg("serve")
            .envs(issuer.service_env(jwks))
            .env("LOYALTY_DATABASE__URL", database_url)
            .env("LOYALTY_LISTEN", addr.to_string())
            .env("LOYALTY_REGION", crate::dataset::REGION)
            .env("LOYALTY_DATABASE__POOL_SIZE", pool_size.to_string())
            // The whole-database audit at the end of a run reads every member (about a
            // minute at 10^6 members): longer than a request may take by default.
            .env(
                "LOYALTY_HTTP__REQUEST_TIMEOUT_MS",
                (crate::hot::AUDIT_TIMEOUT_S * 1000).to_string(),
            )
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut service = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(START_TIMEOUT_S);
        let mut conn = Conn::new(addr);
        loop {
            if let Some(status) = service.child.try_wait()? {
                return Err(Error::Other(format!("loyalty-service exited: {status}")));
            }
            if let Ok(reply) = conn.get("/readyz").await
                && reply.status.is_success()
            {
                return Ok(service);
            }
            if Instant::now() > deadline {
                service.stop();
                return Err(Error::Timeout(
                    "loyalty-service did not become ready".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory (VmHWM) so far, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// Current resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `kB` field of `/proc/<pid>/status`.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
