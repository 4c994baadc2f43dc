//! Probing a region's service: `GET {endpoint}/readyz` with a timeout.
//!
//! The service answers 200 when it is ready, and 503 with `reason: region_not_active` when it
//! runs and reaches the database but its region is fenced. For failover both mean "the
//! region's service is up": a fenced region that answers so is recovering, and is what
//! fail-back waits for. Anything else (no answer in time, a refused connection, another 5xx
//! or reason) is a failed probe.

use std::time::Duration;

use serde::Deserialize;

/// The `/readyz` reason of a live service whose region is fenced (service/src/routes/health.rs).
pub const FENCED_REASON: &str = "region_not_active";
/// The most a readiness body may weigh; anything bigger is a failed probe.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Ready (200).
    Ready,
    /// Up and reaching the database, but its region is fenced (503 `region_not_active`).
    UpFenced,
    /// No usable answer: why, in a few words.
    Failed(String),
}

impl ProbeOutcome {
    /// Whether the region's service is up (ready, or up but fenced).
    pub fn is_up(&self) -> bool {
        !matches!(self, ProbeOutcome::Failed(_))
    }
}

#[derive(Deserialize)]
struct Readiness {
    #[serde(default)]
    reason: Option<String>,
}

/// Probes regions over HTTP(S); one client (connection pool, TLS roots) for all of them.
#[derive(Clone)]
pub struct Prober {
    client: reqwest::Client,
}

impl Prober {
    /// A prober whose every request gives up after `timeout` (connect included).
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A probe must see this region's answer, never another one's.
            .redirect(reqwest::redirect::Policy::none())
            // Every probe opens its own connection, as kubelet's do: a kept-alive connection
            // could keep answering from a process the region's address no longer reaches.
            .pool_max_idle_per_host(0)
            .build()
            .expect("a TLS-capable HTTP client builds");
        Self { client }
    }

    /// Probes `endpoint` (the LoyaltyRegion's `spec.endpoint`).
    pub async fn probe(&self, endpoint: &str) -> ProbeOutcome {
        let url = format!("{}/readyz", endpoint.trim_end_matches('/'));
        let response = match self.client.get(&url).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return ProbeOutcome::Failed("timeout".into()),
            Err(e) if e.is_connect() => return ProbeOutcome::Failed("connect".into()),
            Err(_) => return ProbeOutcome::Failed("request".into()),
        };
        let status = response.status();
        if status == reqwest::StatusCode::OK {
            return ProbeOutcome::Ready;
        }
        if status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return ProbeOutcome::Failed(format!("http {}", status.as_u16()));
        }
        match response.bytes().await {
            Ok(body) if body.len() <= MAX_BODY_BYTES => classify_unavailable(&body),
            Ok(_) => ProbeOutcome::Failed("oversized body".into()),
            Err(e) if e.is_timeout() => ProbeOutcome::Failed("timeout".into()),
            Err(_) => ProbeOutcome::Failed("body".into()),
        }
    }
}

/// A 503's body: up-but-fenced, or the reason it is not ready.
fn classify_unavailable(body: &[u8]) -> ProbeOutcome {
    match serde_json::from_slice::<Readiness>(body) {
        Ok(Readiness { reason: Some(r) }) if r == FENCED_REASON => ProbeOutcome::UpFenced,
        Ok(Readiness { reason: Some(r) }) => ProbeOutcome::Failed(format!("not ready: {r}")),
        _ => ProbeOutcome::Failed("http 503".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_region_that_answers_is_up_and_any_other_unavailability_is_not() {
        let fenced =
            br#"{"status":"not_ready","reason":"region_not_active","region_state":"fenced"}"#;
        assert_eq!(classify_unavailable(fenced), ProbeOutcome::UpFenced);
        let db_down = br#"{"status":"not_ready","reason":"database_unavailable"}"#;
        assert_eq!(
            classify_unavailable(db_down),
            ProbeOutcome::Failed("not ready: database_unavailable".into())
        );
        assert!(!classify_unavailable(b"<html>").is_up());
    }
}
