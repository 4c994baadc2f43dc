//! The hot-member correctness check: 64 clients redeem one point at a time from one member
//! funded with fewer points than they ask for in total. Afterwards exactly `funded` redemptions
//! must have succeeded, the rest refused with 422, the balance must be `funded - succeeded`
//! (never negative), no request may have failed with a 5xx, and the service's audit must be
//! clean.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::Conn;

/// How long the audit may take on a large dataset.
pub const AUDIT_TIMEOUT_S: u64 = 1_800;

#[derive(Debug, Clone, Serialize)]
pub struct HotCheck {
    pub member_id: Uuid,
    pub clients: usize,
    pub funded: i64,
    pub attempts: u64,
    pub succeeded: u64,
    pub statuses: BTreeMap<String, u64>,
    pub transport_errors: u64,
    pub final_available: i64,
    /// `final_available == funded - succeeded`, `final_available >= 0`, `succeeded <= funded`.
    pub no_overdraft: bool,
    pub server_errors: u64,
    pub audit: Option<AuditSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditSummary {
    pub mismatch_count: u64,
    pub members_checked: u64,
    pub entries_checked: u64,
    pub duration_s: f64,
}

impl HotCheck {
    pub fn passed(&self) -> bool {
        self.no_overdraft
            && self.server_errors == 0
            && self.transport_errors == 0
            && self.audit.as_ref().is_none_or(|a| a.mismatch_count == 0)
    }
}

fn expect_status(what: &str, reply: &crate::http::Reply, want: u16) -> Result<serde_json::Value> {
    if reply.status.as_u16() != want {
        return Err(Error::Other(format!(
            "{what}: status {} body {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )));
    }
    reply.json()
}

/// Enrols a member, funds it with `funded` points and lets `clients` clients race `attempts`
/// one-point redemptions against it.
pub async fn overdraft_check(
    addr: SocketAddr,
    clients: usize,
    funded: i64,
    attempts: u64,
) -> Result<HotCheck> {
    let mut conn = Conn::new(addr);
    let tag = Uuid::new_v4().simple().to_string();
    let reply = conn
        .post_json(
            "/v1/members",
            &json!({"external_id": format!("hot-{tag}"), "country": "FR"}),
            None,
        )
        .await?;
    let member: Uuid = expect_status("enrol", &reply, 201)?["member_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Other("enrol answered without member_id".into()))?;
    // Hotel bookings earn 10 points per EUR: 10 cents per point.
    let body = json!({"source": "hotel-bookings", "booking_ref": format!("hot-fund-{tag}"),
                      "product": "hotel", "spend": {"amount_minor": funded * 10, "currency": "EUR"}});
    let reply = conn
        .post_json(&format!("/v1/members/{member}/earn"), &body, None)
        .await?;
    expect_status("fund", &reply, 201)?;

    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, tag) = (next.clone(), tag.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
            let mut transport = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= attempts {
                    break;
                }
                let reference = format!("hot-{tag}-{i}");
                let body = json!({"points": 1, "reference": reference});
                match conn
                    .post_json(
                        &format!("/v1/members/{member}/redeem"),
                        &body,
                        Some(&reference),
                    )
                    .await
                {
                    Ok(reply) => {
                        *statuses
                            .entry(reply.status.as_u16().to_string())
                            .or_default() += 1
                    }
                    Err(_) => transport += 1,
                }
            }
            (statuses, transport)
        }));
    }
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut transport_errors = 0;
    for t in tasks {
        let (s, e) = t.await.expect("hot client panicked");
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
        transport_errors += e;
    }
    let reply = conn.get(&format!("/v1/members/{member}/balance")).await?;
    let final_available = expect_status("balance", &reply, 200)?["available"]
        .as_i64()
        .unwrap_or(i64::MIN);
    let succeeded = statuses.get("201").copied().unwrap_or(0);
    let server_errors = statuses
        .iter()
        .filter(|(s, _)| s.starts_with('5'))
        .map(|(_, n)| n)
        .sum();
    let no_overdraft = final_available >= 0
        && succeeded <= funded as u64
        && final_available == funded - succeeded as i64;
    Ok(HotCheck {
        member_id: member,
        clients,
        funded,
        attempts,
        succeeded,
        statuses,
        transport_errors,
        final_available,
        no_overdraft,
        server_errors,
        audit: None,
    })
}

/// Runs `GET /v1/admin/audit` (which checks the whole database).
pub async fn audit(addr: SocketAddr) -> Result<AuditSummary> {
    let mut conn = Conn::new(addr).with_timeout(Duration::from_secs(AUDIT_TIMEOUT_S));
    let started = Instant::now();
    let reply = conn.get("/v1/admin/audit").await?;
    let report = expect_status("audit", &reply, 200)?;
    let count = |k: &str| report[k].as_u64().unwrap_or(u64::MAX);
    Ok(AuditSummary {
        mismatch_count: count("mismatch_count"),
        members_checked: count("members_checked"),
        entries_checked: count("entries_checked"),
        duration_s: started.elapsed().as_secs_f64(),
    })
}

/// The service's transaction counters, scraped from `/metrics` after the scenarios: how much
/// SERIALIZABLE cost in re-runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TxCounters {
    /// `loyalty_tx_total` by outcome (committed, contention, a refusal's code, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// `loyalty_tx_retries_total` by SQLSTATE.
    pub retries: BTreeMap<String, u64>,
}

impl TxCounters {
    pub fn committed(&self) -> u64 {
        self.outcomes.get("committed").copied().unwrap_or(0)
    }

    pub fn retried(&self) -> u64 {
        self.retries.values().sum()
    }
}

/// Sums the service's transaction counters over their other labels.
pub async fn tx_counters(addr: SocketAddr) -> Result<TxCounters> {
    let reply = Conn::new(addr).get("/metrics").await?;
    let text = String::from_utf8_lossy(&reply.body);
    let mut counters = TxCounters::default();
    for line in text.lines() {
        let (series, target) = if line.starts_with("loyalty_tx_total{") {
            ("outcome", &mut counters.outcomes)
        } else if line.starts_with("loyalty_tx_retries_total{") {
            ("sqlstate", &mut counters.retries)
        } else {
            continue;
        };
        let label = line
            .split_once(&format!("{series}=\""))
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(value, _)| value.to_owned());
        let value = line
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse::<f64>().ok());
        if let (Some(label), Some(value)) = (label, value) {
            *target.entry(label).or_default() += value as u64;
        }
    }
    Ok(counters)
}
