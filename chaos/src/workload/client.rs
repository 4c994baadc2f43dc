//! Sending one operation the way a client behind a router would: to the region that serves
//! the member's home (learned from 421 answers), to another region of the member's residency
//! group when that one cannot be reached, retrying with the same Idempotency-Key until the
//! operation is acknowledged, definitely refused, or out of time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use hyper::header::HeaderValue;
use loyalty_loadgen::error::Error as HttpError;
use loyalty_loadgen::http::{Conn, Reply};
use serde_json::Value;

use super::clock::Clock;
use super::history::{Attempt, Outcome};

/// Longest wait for one response.
pub const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Pause before retrying after an unreachable region or a retryable refusal.
pub const RETRY_BACKOFF_MS: u64 = 100;
/// Most attempts one operation makes (the deadline usually ends it first).
pub const MAX_ATTEMPTS: usize = 64;
/// 503 codes that the service answers only when it wrote nothing.
const DEFINITE_503_CODES: [&str; 3] = ["contention", "database_unavailable", "region_unknown"];

/// A request of the API, the same whichever region it is sent to.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    pub idempotency_key: Option<String>,
    /// Another token than the workload's, when the operation is a member's own act.
    pub authorization: Option<HeaderValue>,
}

/// How an operation's attempts ended.
#[derive(Debug)]
pub struct Exchange {
    pub attempts: Vec<Attempt>,
    pub outcome: Outcome,
    pub acked_by: Option<String>,
    pub response: Option<Value>,
}

/// What one reply (or its absence) means.
enum Verdict {
    Acked(Value),
    /// 421: the named region serves the member.
    WrongRegion(String),
    /// A refusal that retrying with the same request cannot change.
    Refused,
    /// Nothing written, but worth retrying (contention, unreachable).
    Retry {
        unreachable: bool,
    },
    /// Perhaps written.
    Ambiguous,
}

/// The regions, their addresses and groups, and where each home region is served from.
pub struct Router {
    addrs: HashMap<String, SocketAddr>,
    group_of: HashMap<String, String>,
    /// Home region → the region that last said it serves it (from 421 answers).
    routes: Mutex<HashMap<String, String>>,
    pub clock: Clock,
}

/// One client's keep-alive connections, one per region.
#[derive(Default)]
pub struct Conns {
    by_region: HashMap<String, Conn>,
}

impl Router {
    /// `regions`: (name, residency group, address).
    pub fn new(regions: &[(String, String, SocketAddr)], clock: Clock) -> Router {
        Router {
            addrs: regions.iter().map(|(n, _, a)| (n.clone(), *a)).collect(),
            group_of: regions
                .iter()
                .map(|(n, g, _)| (n.clone(), g.clone()))
                .collect(),
            routes: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn route(&self, home: &str) -> String {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes.get(home).cloned().unwrap_or_else(|| home.to_owned())
    }

    fn learn(&self, home: &str, serving: &str) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes.insert(home.to_owned(), serving.to_owned());
    }

    /// The next region of `region`'s group (in name order), for when `region` is unreachable.
    fn sibling(&self, region: &str) -> String {
        let group = self.group_of.get(region);
        let mut members: Vec<&String> = self
            .group_of
            .iter()
            .filter(|(_, g)| Some(*g) == group)
            .map(|(n, _)| n)
            .collect();
        members.sort();
        let at = members.iter().position(|n| *n == region).unwrap_or(0);
        members
            .get((at + 1) % members.len().max(1))
            .map(|n| (*n).clone())
            .unwrap_or_else(|| region.to_owned())
    }

    /// Runs `request` for a member homed in `home` until acknowledged, refused or `deadline_ms`.
    pub async fn execute(
        &self,
        conns: &mut Conns,
        home: &str,
        request: &Request,
        deadline_ms: u64,
    ) -> Exchange {
        let mut attempts = Vec::new();
        let mut target = self.route(home);
        while attempts.len() < MAX_ATTEMPTS && self.clock.ms() < deadline_ms {
            let (attempt, verdict) = self.attempt(conns, &target, request).await;
            attempts.push(attempt);
            match verdict {
                Verdict::Acked(body) => {
                    return Exchange {
                        attempts,
                        outcome: Outcome::Ok,
                        acked_by: Some(target),
                        response: Some(body),
                    };
                }
                Verdict::Refused => break,
                Verdict::WrongRegion(serving) => {
                    self.learn(home, &serving);
                    if serving == target {
                        tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                    }
                    target = serving;
                }
                Verdict::Retry { unreachable } => {
                    if unreachable {
                        target = self.sibling(&target);
                    }
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                }
                Verdict::Ambiguous => {
                    target = self.sibling(&target);
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                }
            }
        }
        let outcome = if attempts.iter().all(|a| a.definite) {
            Outcome::Fail
        } else {
            Outcome::Unknown
        };
        Exchange {
            attempts,
            outcome,
            acked_by: None,
            response: None,
        }
    }

    async fn attempt(
        &self,
        conns: &mut Conns,
        region: &str,
        request: &Request,
    ) -> (Attempt, Verdict) {
        let sent_ms = self.clock.ms();
        let result = match self.addrs.get(region) {
            Some(addr) => {
                let conn = conns.by_region.entry(region.to_owned()).or_insert_with(|| {
                    Conn::new(*addr).with_timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
                });
                send(conn, request).await
            }
            None => Err(HttpError::Other(format!("no address for region {region}"))),
        };
        let (status, detail, verdict) = judge(result);
        let definite = !matches!(verdict, Verdict::Ambiguous | Verdict::Acked(_));
        let attempt = Attempt {
            region: region.to_owned(),
            sent_ms,
            status,
            detail,
            definite,
        };
        (attempt, verdict)
    }
}

async fn send(conn: &mut Conn, request: &Request) -> Result<Reply, HttpError> {
    let body = match &request.body {
        Some(v) => Some(Bytes::from(serde_json::to_vec(v)?)),
        None => None,
    };
    conn.send_as(
        request.authorization.clone(),
        request.method.clone(),
        &request.path,
        body,
        request.idempotency_key.as_deref(),
    )
    .await
}

/// Classifies a reply: (status, error code or wire error, verdict).
fn judge(result: Result<Reply, HttpError>) -> (Option<u16>, Option<String>, Verdict) {
    let reply = match result {
        Ok(reply) => reply,
        Err(HttpError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return (
                None,
                Some("connection refused".into()),
                Verdict::Retry { unreachable: true },
            );
        }
        Err(e) => return (None, Some(e.to_string()), Verdict::Ambiguous),
    };
    let status = reply.status.as_u16();
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().map(str::to_owned);
    let verdict = match status {
        200..=299 => Verdict::Acked(body.clone()),
        421 => match body["error"]["details"]["serving_region"].as_str() {
            Some(serving) => Verdict::WrongRegion(serving.to_owned()),
            None => Verdict::Refused,
        },
        400..=499 => Verdict::Refused,
        503 if code
            .as_deref()
            .is_some_and(|c| DEFINITE_503_CODES.contains(&c)) =>
        {
            Verdict::Retry { unreachable: false }
        }
        _ => Verdict::Ambiguous,
    };
    (Some(status), code, verdict)
}
