//! One attempt: the event POSTed to the subscription's URL as a Standard Webhooks message
//! (`webhook-id` = the event's id, so a receiver deduplicates retries and replays;
//! `webhook-timestamp`; `webhook-signature` with one `v1,` signature per mounted secret, so a
//! receiver rotating keys accepts either), within the Partner's per-attempt timeout.

use std::time::Duration;

use chrono::Utc;
use loyalty_crds::common::{LOOPBACK_HTTP_PREFIXES, is_https_url};

use crate::domain::delivery::{Answer, parse_retry_after};
use crate::partners::signature::SigningSecret;
use crate::store::delivery::Claimed;

/// What an attempt needs besides the delivery.
pub struct Attempt<'a> {
    pub http: &'a reqwest::Client,
    pub secrets: &'a [SigningSecret],
    pub timeout: Duration,
    pub allow_loopback_http: bool,
}

/// Whether the dispatcher may call `url`: https, or loopback http when allowed (tests).
fn may_call(url: &str, allow_loopback_http: bool) -> bool {
    is_https_url(url)
        || (allow_loopback_http && LOOPBACK_HTTP_PREFIXES.iter().any(|p| url.starts_with(p)))
}

/// Sends `delivery` once and says what came back.
pub async fn send(attempt: &Attempt<'_>, delivery: &Claimed) -> Answer {
    if !may_call(&delivery.url, attempt.allow_loopback_http) {
        return Answer::Failed("the subscription's url is not https".to_owned());
    }
    if attempt.secrets.is_empty() {
        return Answer::Failed("no signing secret is mounted for the subscription".to_owned());
    }
    let body = delivery.event.to_string().into_bytes();
    let id = delivery.key.event_id.to_string();
    let timestamp_s = Utc::now().timestamp();
    let signatures: Vec<String> = attempt
        .secrets
        .iter()
        .map(|s| s.sign(&id, timestamp_s, &body))
        .collect();
    let sent = attempt
        .http
        .post(&delivery.url)
        .timeout(attempt.timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp_s.to_string())
        .header("webhook-signature", signatures.join(" "))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => Answer::Status {
            status: response.status().as_u16(),
            retry_after_s: response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, Utc::now())),
        },
        Err(e) if e.is_timeout() => Answer::Failed(format!(
            "no answer within {} ms",
            attempt.timeout.as_millis()
        )),
        Err(e) => Answer::Failed(format!("request failed: {}", without_url(&e))),
    }
}

/// The error's text without the URL, which may carry a partner's token in its query.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    format!("{kind} error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_is_called_unless_loopback_http_is_allowed() {
        assert!(may_call("https://hooks.example/x", false));
        assert!(!may_call("http://hooks.example/x", true));
        assert!(!may_call("http://127.0.0.1:9/x", false));
        assert!(may_call("http://127.0.0.1:9/x", true));
    }
}
