//! `loyalty-service serve` as a child process: the binary Cargo builds for this package's
//! integration tests, started without `--demo` (so with no development secret: the test
//! issuer's key set and the harness key files, as the chaos topology starts its regions),
//! its output in a log file, and killed with SIGKILL when the test says so or is dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use loyalty_service::auth::Scope;
use uuid::Uuid;

use crate::helpers::{TestApp, client_with, issuer, jwks_file, token};

/// How long a started process may take to answer `/readyz` (it migrates first).
const READY_DEADLINE: Duration = Duration::from_secs(60);

pub struct ServiceProcess {
    child: Child,
    log: PathBuf,
    /// The process's API, called with every service scope.
    pub app: TestApp,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ServiceProcess {
    /// Starts `serve` on a free port against `db_url`, with `env` on top of the production
    /// settings (`LOYALTY_*` variables), and waits until it is ready.
    pub async fn start(db_url: &str, env: &[(&str, String)]) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let log = std::env::temp_dir().join(format!("loyalty-serve-{}.log", Uuid::new_v4()));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_loyalty-service"))
            .arg("serve")
            .envs(issuer().service_env(&jwks_file()))
            .env("LOYALTY_DATABASE__URL", db_url)
            .env("LOYALTY_LISTEN", &listen)
            .env("LOYALTY_DATABASE__POOL_SIZE", "4")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start loyalty-service");
        let app = TestApp {
            base: format!("http://{listen}"),
            http: client_with(Some(&token("restart-tests", &Scope::SERVICES))),
            db_url: db_url.to_owned(),
        };
        let mut process = Self { child, log, app };
        process.wait_ready().await;
        process
    }

    async fn wait_ready(&mut self) {
        let polls = READY_DEADLINE.as_millis() / 50;
        for _ in 0..polls {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("loyalty-service exited ({status}): {}", self.log_text());
            }
            let ready = self.app.http.get(format!("{}/readyz", self.app.base));
            if ready.send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("loyalty-service never became ready: {}", self.log_text());
    }

    /// What the process wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process ends mid-whatever it was doing, without running any shutdown.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
