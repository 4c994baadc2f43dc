//! A cached snapshot of the programme's configuration: rates, the tier ladder, the
//! redemption, activity and fraud rules and the active campaigns. They are read on every
//! earn, quote and redemption, so they are loaded into memory and polled every
//! `ledger.config_poll_ms`: rates, tiers and rules are reloaded on every poll, the
//! campaign set only when `config_versions('campaigns')` moved (the operator bumps it in the
//! transaction that changes a campaign). A change is in effect within one poll interval.
//! What was used is recorded on each ledger entry.

use std::sync::{Arc, RwLock};

use deadpool_postgres::ClientWrapper;
use loyalty_crds::campaign::CampaignSpec;
use loyalty_crds::common::Tier;

use crate::domain::earn::CurrencyRate;
use crate::domain::rules::{CampaignEntry, TierLadder, TierRule};
use crate::domain::{EarnRates, Programme, parse_product};
use crate::error::Result;

/// Bounds on stored rates that keep the earn calculation far inside `i128`.
const MAX_EUR_RATE_PPM: i64 = 1_000_000_000_000;
const MAX_POINTS_PER_EUR_MILLI: i64 = 1_000_000;

#[derive(Clone, Default)]
pub struct ProgrammeCache(Arc<RwLock<Arc<Programme>>>);

impl ProgrammeCache {
    pub fn snapshot(&self) -> Arc<Programme> {
        self.0
            .read()
            .expect("programme lock is never poisoned")
            .clone()
    }

    /// Reloads rates and tiers, and the campaigns if their version moved.
    pub async fn poll(&self, client: &ClientWrapper) -> Result<()> {
        let current = self.snapshot();
        let version: Option<i64> = client
            .query_opt(
                "SELECT version FROM config_versions WHERE name = 'campaigns'",
                &[],
            )
            .await?
            .map(|r| r.get(0));
        let campaigns = if version == current.campaigns_version && version.is_some() {
            current.campaigns.clone()
        } else {
            load_campaigns(client).await?
        };
        let next = Programme {
            rates: load_rates(client).await?,
            tiers: load_tiers(client).await?,
            redemption: super::redemption::load(client).await?,
            activities: super::activities::rules::load(client).await?,
            fraud: super::fraud::rules::load(client).await?,
            campaigns,
            campaigns_version: version,
        };
        *self.0.write().expect("programme lock is never poisoned") = Arc::new(next);
        Ok(())
    }
}

async fn load_rates(client: &ClientWrapper) -> Result<EarnRates> {
    let mut rates = EarnRates::default();
    for row in client
        .query("SELECT code, exponent, eur_rate_ppm FROM currencies", &[])
        .await?
    {
        let code: String = row.get(0);
        let exponent: i32 = row.get(1);
        let eur_rate_ppm: i64 = row.get(2);
        match u32::try_from(exponent) {
            Ok(exponent) if eur_rate_ppm <= MAX_EUR_RATE_PPM => {
                rates.currencies.insert(
                    code,
                    CurrencyRate {
                        exponent,
                        eur_rate_ppm,
                    },
                );
            }
            _ => tracing::warn!(code, "currency rate out of bounds; ignored"),
        }
    }
    for row in client
        .query("SELECT product, points_per_eur_milli FROM earn_rates", &[])
        .await?
    {
        let product: String = row.get(0);
        let rate: i64 = row.get(1);
        match parse_product(&product) {
            Ok(p) if rate <= MAX_POINTS_PER_EUR_MILLI => {
                rates.products.insert(p, rate);
            }
            _ => tracing::warn!(product, "earn rate unknown or out of bounds; ignored"),
        }
    }
    Ok(rates)
}

async fn load_tiers(client: &ClientWrapper) -> Result<TierLadder> {
    let mut rules = Vec::new();
    for row in client
        .query("SELECT name, threshold, multiplier_milli FROM tiers", &[])
        .await?
    {
        let name: String = row.get(0);
        match serde_json::from_value::<Tier>(serde_json::Value::String(name.clone())) {
            Ok(tier) => rules.push(TierRule {
                tier,
                threshold: row.get(1),
                multiplier_milli: row.get(2),
            }),
            Err(_) => tracing::warn!(name, "unknown tier; ignored"),
        }
    }
    Ok(TierLadder::new(rules))
}

/// Active campaigns whose stored spec still parses and validates; others are skipped loudly
/// (the operator validated them, so a failure here means a version skew).
async fn load_campaigns(client: &ClientWrapper) -> Result<Vec<CampaignEntry>> {
    let rows = client
        .query(
            "SELECT namespace, name, spec FROM campaigns WHERE active ORDER BY namespace, name",
            &[],
        )
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let (namespace, name): (String, String) = (row.get(0), row.get(1));
        match serde_json::from_value::<CampaignSpec>(row.get(2)) {
            Ok(spec) if spec.validate().is_ok() => out.push(CampaignEntry {
                namespace,
                name,
                spec,
            }),
            Ok(_) | Err(_) => tracing::error!(
                namespace,
                name,
                "stored campaign does not validate; ignored"
            ),
        }
    }
    Ok(out)
}
