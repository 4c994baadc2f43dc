//! Abuse limits against the real server: rate limits per token subject and per client
//! address (429 with Retry-After), a slow-loris client disconnected, a request that dribbles
//! its body answered 408, and an oversized request head refused.

use std::time::{Duration, Instant};

use loyalty_service::auth::Scope;
use loyalty_service::config::{HttpConfig, RateQuota};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{ALICE, BRUNO, TestApp, fresh_database, spawn_app_on, test_config, token};

async fn spawn_with(configure: impl FnOnce(&mut loyalty_service::config::Config)) -> TestApp {
    let mut config = test_config();
    configure(&mut config);
    spawn_app_on(&fresh_database().await, config).await
}

#[tokio::test]
async fn a_member_over_its_rate_is_refused_with_retry_after_and_others_are_not() {
    let app = spawn_with(|c| c.limits.member = RateQuota::new(1, 3)).await;
    let alice = app.as_member(ALICE);
    let path = format!("/v1/members/{ALICE}/balance");
    for i in 0..3 {
        assert_eq!(
            alice.get(&path).await.status,
            StatusCode::OK,
            "request {i} is within the burst"
        );
    }
    let res = alice
        .send(alice.http.get(format!("{}{path}", app.base)))
        .await;
    assert_eq!(
        (res.status, res.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry_after = alice
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap()
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    assert_eq!(
        retry_after,
        Some(1),
        "one request per second: retry in a second"
    );
    let bruno = app.as_member(BRUNO);
    assert_eq!(
        bruno
            .get(&format!("/v1/members/{BRUNO}/balance"))
            .await
            .status,
        StatusCode::OK,
        "Bruno has his own budget"
    );
    // Support has a budget of its own too (the quota is per scope).
    assert_eq!(app.get(&path).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        alice.get(&path).await.status,
        StatusCode::OK,
        "the budget refills"
    );
    let metrics = app.get("/metrics").await.body;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("loyalty_rate_limited_total{limit=\"subject\",scope=\"member\"} 2")
    );
}

#[tokio::test]
async fn one_address_over_its_rate_is_refused_whatever_tokens_it_presents() {
    let app = spawn_with(|c| c.limits.per_address = RateQuota::new(1, 4)).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let caller = app.with_token(Some(&token(&format!("client-{i}"), &[Scope::Support])));
        statuses.push(
            caller
                .get(&format!("/v1/members/{ALICE}"))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
    // Probes are not limited: a kubelet must always reach them.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

fn short_timeouts(c: &mut loyalty_service::config::Config) {
    c.http = HttpConfig {
        header_read_timeout_ms: 1_000,
        request_timeout_ms: 1_500,
        ..c.http.clone()
    };
}

/// How long the server takes to close `stream`, reading whatever it answers; at most `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> (Duration, String) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

#[tokio::test]
async fn a_slow_loris_client_is_disconnected_while_others_are_served() {
    let app = spawn_with(short_timeouts).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut loris = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        loris.push(s);
    }
    // Dribble a header line now and then, as a slow-loris client does to stay connected.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for s in &mut loris {
            let _ = s.write_all(b"X-Slow: 1\r\n").await;
        }
    }
    assert_eq!(
        app.get("/healthz").await.status,
        StatusCode::OK,
        "a normal client is served meanwhile"
    );
    for s in &mut loris {
        let (after, _) = closed_within(s, Duration::from_secs(5)).await;
        assert!(after < Duration::from_secs(4), "the connection stayed open");
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_and_writes_nothing() {
    let app = spawn_with(short_timeouts).await;
    let before = app.footprint().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/members/{ALICE}/redeem HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"points\":",
        token("checkout", &[Scope::Bookings])
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (after, answer) = closed_within(&mut s, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(after < Duration::from_secs(5), "{after:?}");
    assert_eq!(app.footprint().await, before);
}

#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let app = spawn_with(|_| {}).await;
    let res = app
        .http
        .get(format!("{}/v1/members/{ALICE}", app.base))
        .header("x-padding", "p".repeat(32 * 1024))
        .send()
        .await;
    // hyper answers 431, or closes the connection on a head beyond its buffer.
    if let Ok(res) = res {
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}
