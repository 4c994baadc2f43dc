//! A partner's webhook receiver for the delivery tests: a real axum server on 127.0.0.1:0
//! that records every request as it arrives (when, its Standard Webhooks headers, its body)
//! and answers as the test's script says, per event and attempt. Plain http here; over https
//! in `tls_receiver`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use loyalty_crds::partner::{Jitter, RetryPolicy};
use loyalty_service::config::Config;
use loyalty_service::partners::demo::air_france;
use loyalty_service::partners::signature::SigningSecret;
use loyalty_service::store::delivery::{Subscription, publish_subscription};
use loyalty_service::store::partners::publish;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, fresh_database, spawn_app_on, test_config};

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Ok,
    Status(u16),
    /// 429 with `Retry-After` in seconds.
    Throttle(u64),
    /// Answers 200 only after this long (past the per-attempt timeout).
    Hang(Duration),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub event: Value,
    /// 1 for the first request with this `webhook-id`, 2 for its first retry, …
    pub attempt: usize,
}

/// The script: what to answer to `attempt` of `event`.
type Script = dyn Fn(&Value, usize) -> Reply + Send + Sync;

/// Every request so far, in arrival order.
pub type Calls = Arc<Mutex<Vec<Call>>>;

#[derive(Clone)]
struct Shared {
    calls: Calls,
    script: Arc<Script>,
}

pub struct Receiver {
    pub url: String,
    calls: Calls,
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let attempt = {
        let mut calls = shared.calls.lock().unwrap();
        let attempt = calls.iter().filter(|c| c.id == id).count() + 1;
        calls.push(Call {
            at: Instant::now(),
            id,
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: body.to_vec(),
            event: event.clone(),
            attempt,
        });
        attempt
    };
    match (shared.script)(&event, attempt) {
        Reply::Ok => StatusCode::NO_CONTENT.into_response(),
        Reply::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Reply::Throttle(s) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", s.to_string())],
        )
            .into_response(),
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            StatusCode::OK.into_response()
        }
    }
}

/// The receiver's routes (`POST /hooks`), answering by `script`, and where they record.
pub fn recording(
    script: impl Fn(&Value, usize) -> Reply + Send + Sync + 'static,
) -> (axum::Router, Calls) {
    let calls = Calls::default();
    let shared = Shared {
        calls: calls.clone(),
        script: Arc::new(script),
    };
    let router = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(shared);
    (router, calls)
}

impl Receiver {
    pub async fn start(script: impl Fn(&Value, usize) -> Reply + Send + Sync + 'static) -> Self {
        let (router, calls) = recording(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, calls }
    }

    /// A receiver served elsewhere (over https) at `url`, recording into `calls`.
    pub fn serving(url: String, calls: Calls) -> Self {
        Self { url, calls }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `done` holds for the calls so far, and returns them.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        self.wait_for_within(what, Duration::from_secs(30), done)
            .await
    }

    /// Waits up to `deadline` until `done` holds for the calls so far, and returns them.
    pub async fn wait_for_within(
        &self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&[Call]) -> bool,
    ) -> Vec<Call> {
        let polls = deadline.as_millis() / 10;
        for _ in 0..polls {
            let calls = self.calls();
            if done(&calls) {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("receiver never saw {what}: {:#?}", self.calls());
    }
}

/// A script that answers `failure` to each event's first `n` attempts, then 204.
pub fn failing_first(n: usize, failure: Reply) -> impl Fn(&Value, usize) -> Reply {
    move |_, attempt| if attempt <= n { failure } else { Reply::Ok }
}

/// The requests for one event, in arrival order.
pub fn of_event<'a>(calls: &'a [Call], id: &str) -> Vec<&'a Call> {
    calls.iter().filter(|c| c.id == id).collect()
}

/// Milliseconds between consecutive calls.
pub fn gaps_ms(calls: &[&Call]) -> Vec<u128> {
    calls
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).as_millis())
        .collect()
}

/// A retry policy without jitter, in milliseconds, so spacing can be asserted.
pub fn policy(
    max_attempts: i32,
    initial_backoff_ms: i64,
    per_attempt_timeout_ms: i64,
) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff_ms,
        max_backoff_ms: 10_000,
        multiplier_milli: 2_000,
        jitter: Jitter::None,
        per_attempt_timeout_ms,
    }
}

/// An instance whose partner `AF` (under `policy`) subscribes the receiver to every event
/// type, with the subscription's secret mounted; the dispatcher polls every 10 ms.
pub struct Subscribed {
    pub app: TestApp,
    pub receiver: Receiver,
    pub secret: SigningSecret,
    pub config: Config,
}

/// Publishes partner `AF` under `policy` the way the operator does, with a subscription
/// `hooks` of every event type to `url`, and mounts its secret in a new directory. Returns
/// the directory (`partners.secrets_dir`) and the secret.
pub async fn subscribe(
    db_url: &str,
    policy: RetryPolicy,
    url: &str,
) -> (std::path::PathBuf, SigningSecret) {
    let dir = std::env::temp_dir().join(format!("loyalty-delivery-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = SigningSecret::generate();
    std::fs::write(dir.join("AF.hooks"), secret.to_text()).unwrap();
    let (client, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut row = air_france("not-checked".to_owned());
    row.retry_policy = policy;
    publish(&client, &row, ("partners", "air-france"))
        .await
        .unwrap();
    let subscription = Subscription {
        partner_code: "AF".to_owned(),
        name: "hooks".to_owned(),
        url: url.to_owned(),
        event_types: Vec::new(),
        secret_sha256: "not-checked".to_owned(),
        subscribed_at: Utc::now(),
    };
    publish_subscription(&client, &subscription).await.unwrap();
    (dir, secret)
}

/// The test configuration of a delivering instance on `dir`'s secrets.
pub fn delivering_config(dir: &std::path::Path) -> Config {
    let mut config = test_config();
    config.partners.secrets_dir = dir.to_owned();
    config.ledger.config_poll_ms = 50;
    config.delivery.poll_ms = 10;
    config.delivery.lease_slack_ms = 300;
    config.delivery.allow_loopback_http = true;
    config
}

pub async fn spawn_subscribed(
    policy: RetryPolicy,
    script: impl Fn(&Value, usize) -> Reply + Send + Sync + 'static,
) -> Subscribed {
    spawn_subscribed_with(policy, script, true).await
}

/// As [`spawn_subscribed`]; without `dispatching` the instance's dispatcher is off (its
/// `config` still has it on, for further instances).
pub async fn spawn_subscribed_with(
    policy: RetryPolicy,
    script: impl Fn(&Value, usize) -> Reply + Send + Sync + 'static,
    dispatching: bool,
) -> Subscribed {
    let db_url = fresh_database().await;
    let receiver = Receiver::start(script).await;
    let (dir, secret) = subscribe(&db_url, policy, &receiver.url).await;
    let config = delivering_config(&dir);
    let mut own = config.clone();
    if !dispatching {
        own.delivery.poll_ms = 0;
    }
    let app = spawn_app_on(&db_url, own).await;
    Subscribed {
        app,
        receiver,
        secret,
        config,
    }
}
