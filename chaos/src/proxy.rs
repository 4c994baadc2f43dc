//! The fault proxy: a TCP proxy on 127.0.0.1 whose behaviour can be switched at run time.
//!
//! One sits between each service instance and the database, and one between the operator and
//! each region's endpoint. Every socket is set to zero linger, so closing it sends a TCP reset:
//! a peer sees a reset exactly where a real network fault or crash would produce one.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::error::{Error, Result};

/// Largest chunk forwarded at once.
const CHUNK_BYTES: usize = 16 * 1024;
/// How long the proxy waits for the upstream to accept a connection.
pub const UPSTREAM_CONNECT_TIMEOUT_MS: u64 = 2_000;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    /// Forwards everything.
    Pass,
    /// Forwards everything, each chunk `ms` late.
    Delay { ms: u64 },
    /// Resets new connections at once; open ones keep working.
    Drop,
    /// Accepts connections but forwards nothing in either direction and keeps them open: a
    /// partition, as a peer that cannot tell it from a very slow network sees it.
    BlackHole,
    /// Resets every open connection now, and every new one, until the mode changes.
    Reset,
    /// Forwards requests but no answers: the upstream does the work, the client never learns.
    HalfOpen,
}

/// The direction of one half of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client to upstream.
    Up,
    /// Upstream to client.
    Down,
}

/// What a pump does under a mode.
enum Action {
    Forward { delay: Duration },
    Stall,
    Reset,
}

fn action(mode: Mode, direction: Direction) -> Action {
    match (mode, direction) {
        (Mode::Pass | Mode::Drop, _) | (Mode::HalfOpen, Direction::Up) => Action::Forward {
            delay: Duration::ZERO,
        },
        (Mode::Delay { ms }, _) => Action::Forward {
            delay: Duration::from_millis(ms),
        },
        (Mode::BlackHole, _) | (Mode::HalfOpen, Direction::Down) => Action::Stall,
        (Mode::Reset, _) => Action::Reset,
    }
}

#[derive(Debug, Clone, Copy)]
struct State {
    mode: Mode,
    upstream: SocketAddr,
}

/// A running proxy. Dropping it stops accepting and resets every connection it carries.
pub struct FaultProxy {
    name: String,
    addr: SocketAddr,
    state: watch::Sender<State>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(name: impl Into<String>, upstream: SocketAddr) -> Result<FaultProxy> {
        let name = name.into();
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::io(format!("bind the {name} proxy")))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("read the proxy address"))?;
        let (state, rx) = watch::channel(State {
            mode: Mode::Pass,
            upstream,
        });
        tokio::spawn(accept_loop(listener, rx));
        Ok(FaultProxy { name, addr, state })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn mode(&self) -> Mode {
        self.state.borrow().mode
    }

    /// Switches the mode; open connections follow at once.
    pub fn set_mode(&self, mode: Mode) {
        self.state.send_modify(|s| s.mode = mode);
    }

    /// Points new connections at another upstream (a database restarted on another port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.state.send_modify(|s| s.upstream = upstream);
    }
}

async fn accept_loop(listener: TcpListener, mut rx: watch::Receiver<State>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(connection(client, rx.clone()));
                }
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    return; // the proxy was dropped
                }
            }
        }
    }
}

/// Waits until the mode lets a connection through; `None` means reset it.
async fn admit(rx: &mut watch::Receiver<State>) -> Option<SocketAddr> {
    loop {
        let state = *rx.borrow_and_update();
        match state.mode {
            Mode::Drop | Mode::Reset => return None,
            Mode::BlackHole => rx.changed().await.ok()?,
            Mode::Pass | Mode::Delay { .. } | Mode::HalfOpen => return Some(state.upstream),
        }
    }
}

async fn connection(client: TcpStream, mut rx: watch::Receiver<State>) {
    let _ = client.set_zero_linger();
    let _ = client.set_nodelay(true);
    let Some(upstream_addr) = admit(&mut rx).await else {
        return;
    };
    let connect = TcpStream::connect(upstream_addr);
    let timeout = Duration::from_millis(UPSTREAM_CONNECT_TIMEOUT_MS);
    let Ok(Ok(upstream)) = tokio::time::timeout(timeout, connect).await else {
        return;
    };
    let _ = upstream.set_zero_linger();
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let up = pump(client_read, upstream_write, Direction::Up, rx.clone());
    let down = pump(upstream_read, client_write, Direction::Down, rx);
    tokio::pin!(up, down);
    // A reset on either side ends both; an orderly end of one direction lets the other finish.
    let (ended, other) = tokio::select! {
        end = &mut up => (end, Pending::Down),
        end = &mut down => (end, Pending::Up),
    };
    if ended == PumpEnd::Eof {
        match other {
            Pending::Down => {
                let _ = down.await;
            }
            Pending::Up => {
                let _ = up.await;
            }
        }
    }
}

enum Pending {
    Up,
    Down,
}

#[derive(Debug, PartialEq, Eq)]
enum PumpEnd {
    Eof,
    Reset,
}

/// Copies one direction under the current mode until end of stream or a reset.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    mut rx: watch::Receiver<State>,
) -> PumpEnd {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let mode = rx.borrow_and_update().mode;
        match action(mode, direction) {
            Action::Reset => return PumpEnd::Reset,
            Action::Stall => {
                if rx.changed().await.is_err() {
                    return PumpEnd::Reset;
                }
            }
            Action::Forward { delay } => {
                tokio::select! {
                    read = from.read(&mut buf) => match read {
                        Ok(0) => {
                            let _ = to.shutdown().await;
                            return PumpEnd::Eof;
                        }
                        Ok(n) => {
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            if to.write_all(&buf[..n]).await.is_err() {
                                return PumpEnd::Reset;
                            }
                        }
                        Err(_) => return PumpEnd::Reset,
                    },
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return PumpEnd::Reset;
                        }
                    }
                }
            }
        }
    }
}
