//! The dispatcher: delivers the outbox's events to the webhook subscriptions Partners declare
//! (docs/events.md, ADR 0020). Every replica runs one. A round fans new events out into
//! deliveries, claims the due ones under a lease (so no two replicas send one event at once),
//! and sends each in a task of its own, bounded by `delivery.concurrency`; each attempt's
//! outcome is judged by the Partner's `retryPolicy` (`domain::delivery`) and recorded.

mod client;
mod sender;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::config::DeliveryConfig;
use crate::domain::delivery::{Answer, Verdict, judge};
use crate::error::Result;
use crate::metrics::Metrics;
use crate::partners::{PartnerDirectory, Partners};
use crate::store::delivery::{Claimed, Recorded};
use crate::store::{Db, now_micros};
use sender::{Attempt, send};

/// One replica's dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    db: Db,
    partners: PartnerDirectory,
    region: String,
    config: DeliveryConfig,
    http: reqwest::Client,
    /// This instance's lease owner id.
    owner: Uuid,
    in_flight: Arc<Semaphore>,
}

impl Dispatcher {
    /// Fails when `delivery.ca_file` is missing or holds no certificate that parses.
    pub fn new(
        db: Db,
        partners: PartnerDirectory,
        region: String,
        config: DeliveryConfig,
    ) -> anyhow::Result<Self> {
        let http = client::http_client(config.ca_file.as_deref())?;
        let in_flight = Arc::new(Semaphore::new(config.concurrency));
        Ok(Self {
            db,
            partners,
            region,
            config,
            http,
            owner: Uuid::new_v4(),
            in_flight,
        })
    }

    /// Runs rounds every `delivery.poll_ms` until the process ends; failures are logged and
    /// the next round tries again.
    pub fn spawn(self) {
        if self.config.poll_ms == 0 {
            return;
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(self.config.poll_ms));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.round().await {
                    tracing::warn!(error = %e, "delivery round failed");
                }
            }
        });
    }

    /// One round: fan out, claim as many as there are free senders, start them, and update
    /// the gauges. Returns the number of attempts started.
    pub async fn round(&self) -> Result<usize> {
        let partners = self.partners.snapshot();
        if partners.subscriptions.is_empty() {
            // Nothing to send: no transaction at all (most deployments, most tests).
            self.update_gauges().await?;
            return Ok(0);
        }
        let batch = self.config.batch_size;
        let margin = self.config.fanout_margin();
        self.db
            .fan_out(&self.region, &partners.subscriptions, batch, margin)
            .await?;
        let free = i64::try_from(self.in_flight.available_permits()).unwrap_or(batch);
        let claimed = if free == 0 {
            Vec::new()
        } else {
            let leases = self.leases_ms(&partners);
            self.db
                .claim_deliveries(&self.region, self.owner, &leases, batch.min(free))
                .await?
        };
        let started = claimed.len();
        for delivery in claimed {
            let permit = self.in_flight.clone().acquire_owned().await;
            let (me, partners) = (self.clone(), partners.clone());
            tokio::spawn(async move {
                let _permit = permit;
                me.attempt(&partners, delivery).await;
            });
        }
        self.update_gauges().await?;
        Ok(started)
    }

    /// Each partner's lease: its per-attempt timeout plus `delivery.lease_slack_ms`.
    fn leases_ms(&self, partners: &Partners) -> HashMap<String, i64> {
        partners
            .subscriptions
            .iter()
            .filter_map(|s| partners.get(&s.partner_code))
            .map(|p| {
                let timeout = p.row.retry_policy.per_attempt_timeout_ms;
                let lease = timeout.saturating_add(ms(self.config.lease_slack_ms));
                (p.row.code.clone(), lease)
            })
            .collect()
    }

    /// Sends one delivery, judges the answer and records it.
    async fn attempt(&self, partners: &Partners, delivery: Claimed) {
        let Some(partner) = partners.get(&delivery.key.partner_code) else {
            return;
        };
        let policy = &partner.row.retry_policy;
        let attempt = Attempt {
            http: &self.http,
            secrets: partners.hook_secrets(&delivery.key.partner_code, &delivery.key.subscription),
            timeout: Duration::from_millis(
                u64::try_from(policy.per_attempt_timeout_ms).unwrap_or(1),
            ),
            allow_loopback_http: self.config.allow_loopback_http,
        };
        let answer = send(&attempt, &delivery).await;
        let verdict = judge(
            policy,
            delivery.attempt,
            &answer,
            self.config.max_retry_after_s,
            rand::random::<f64>(),
        );
        self.metrics()
            .deliveries
            .with_label_values(&[partner.row.code.as_str(), verdict.metric_label()])
            .inc();
        let recorded = recorded(verdict, &answer);
        if let Err(e) = self
            .db
            .record_delivery(self.owner, &delivery.key, &recorded)
            .await
        {
            // The lease runs out and the delivery is attempted again: at least once.
            tracing::warn!(error = %e, event_id = %delivery.key.event_id, "recording a delivery failed");
        }
    }

    fn metrics(&self) -> &Metrics {
        self.db.metrics()
    }

    async fn update_gauges(&self) -> Result<()> {
        let gauges = self.db.delivery_gauges().await?;
        let metrics = self.metrics();
        metrics.outbox_lag.set(gauges.oldest_pending_s);
        metrics.dead_letters.reset();
        for (partner, count) in gauges.dead_letters {
            metrics
                .dead_letters
                .with_label_values(&[partner.as_str()])
                .set(count);
        }
        Ok(())
    }
}

/// What to store for `verdict` on `answer`.
fn recorded(verdict: Verdict, answer: &Answer) -> Recorded {
    let (status, error) = match answer {
        Answer::Status { status, .. } => (Some(*status), format!("HTTP {status}")),
        Answer::Failed(why) => (None, why.clone()),
    };
    match verdict {
        Verdict::Delivered => Recorded::Delivered {
            status: status.unwrap_or(200),
        },
        Verdict::Gone => Recorded::Gone,
        Verdict::Retry { after_ms } => Recorded::Retry {
            at: now_micros() + chrono::Duration::milliseconds(after_ms),
            error,
            status,
        },
        Verdict::Dead => Recorded::Dead { error, status },
    }
}

fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
