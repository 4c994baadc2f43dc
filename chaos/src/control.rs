//! The sandbox's control channel: `loyalty-chaos up` serves it on a loopback port and writes
//! where to find it into a state file; `loyalty-chaos kill|pause|resume|partition|heal REGION`
//! read that file and send one [`Fault`] as a JSON line, answered by one JSON line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::topology::{Fault, Topology};

/// Overrides where the sandbox's state file is.
pub const STATE_FILE_ENV: &str = "LOYALTY_CHAOS_STATE";
/// The state file's default path.
pub const DEFAULT_STATE_FILE: &str = "/tmp/loyalty-chaos-sandbox.json";

/// What the sandbox publishes about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxState {
    pub control: String,
    pub kubeconfig: PathBuf,
    pub database_url: String,
    /// (region, service URL, endpoint URL).
    pub regions: Vec<(String, String, String)>,
    pub run_dir: PathBuf,
}

/// The answer to one fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub message: String,
}

pub fn state_file() -> PathBuf {
    std::env::var_os(STATE_FILE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_FILE))
}

/// Serves the control channel for `topology` and writes the state file; runs until dropped.
pub async fn serve(topology: Arc<Mutex<Topology>>, state_path: &Path) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(Error::io("bind the control port"))?;
    let state = {
        let t = topology.lock().await;
        SandboxState {
            control: listener
                .local_addr()
                .map_err(Error::io("read the control address"))?
                .to_string(),
            kubeconfig: t.cluster.kubeconfig().to_path_buf(),
            database_url: t.db.url(),
            regions: t
                .regions
                .iter()
                .map(|r| {
                    (
                        r.name().to_owned(),
                        format!("http://{}", r.service_addr),
                        r.endpoint(),
                    )
                })
                .collect(),
            run_dir: t.dir().to_path_buf(),
        }
    };
    std::fs::write(state_path, serde_json::to_string_pretty(&state)?)
        .map_err(Error::io(format!("write {}", state_path.display())))?;
    // Removed however serving ends, Ctrl-C (the future dropped) included.
    let _state_file = RemoveOnDrop(state_path.to_path_buf());
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(Error::io("accept a control connection"))?;
        // One fault at a time: the topology is never changed by two requests at once.
        if let Err(e) = handle(stream, &topology).await {
            eprintln!("control: {e}");
        }
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn handle(stream: TcpStream, topology: &Mutex<Topology>) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read)
        .read_line(&mut line)
        .await
        .map_err(Error::io("read a control request"))?;
    let fault: Fault = serde_json::from_str(&line)?;
    let result = topology.lock().await.inject(&fault).await;
    let reply = match result {
        Ok(()) => Reply {
            ok: true,
            message: format!("applied {fault:?}"),
        },
        Err(e) => Reply {
            ok: false,
            message: e.to_string(),
        },
    };
    let mut text = serde_json::to_string(&reply)?;
    text.push('\n');
    write
        .write_all(text.as_bytes())
        .await
        .map_err(Error::io("answer a control request"))
}

/// Sends `fault` to the sandbox described by the state file.
pub async fn send(fault: &Fault) -> Result<Reply> {
    let path = state_file();
    let text = std::fs::read_to_string(&path).map_err(Error::io(format!(
        "read {} (is `loyalty-chaos up` / `make sandbox` running?)",
        path.display()
    )))?;
    let state: SandboxState = serde_json::from_str(&text)?;
    let stream = TcpStream::connect(&state.control)
        .await
        .map_err(Error::io(format!(
            "connect to the sandbox at {}",
            state.control
        )))?;
    let (read, mut write) = stream.into_split();
    let mut request = serde_json::to_string(fault)?;
    request.push('\n');
    write
        .write_all(request.as_bytes())
        .await
        .map_err(Error::io("send the fault"))?;
    let mut line = String::new();
    BufReader::new(read)
        .read_line(&mut line)
        .await
        .map_err(Error::io("read the sandbox's answer"))?;
    Ok(serde_json::from_str(&line)?)
}
