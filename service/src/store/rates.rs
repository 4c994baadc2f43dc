//! A cached snapshot of the rates tables. Rates change rarely and are read on every earn
//! and quote, so they are loaded once and reloaded every `ledger.rates_refresh_ms`; a
//! change takes effect within that bound. The rates used are recorded on each ledger entry.

use std::sync::{Arc, RwLock};

use deadpool_postgres::ClientWrapper;

use crate::domain::earn::CurrencyRate;
use crate::domain::{EarnRates, ProductType};
use crate::error::Result;

/// Bounds on stored rates that keep the earn calculation far inside `i128`.
const MAX_EUR_RATE_PPM: i64 = 1_000_000_000_000;
const MAX_POINTS_PER_EUR_MILLI: i64 = 1_000_000;

#[derive(Clone, Default)]
pub struct RatesCache(Arc<RwLock<Arc<EarnRates>>>);

impl RatesCache {
    pub fn snapshot(&self) -> Arc<EarnRates> {
        self.0.read().expect("rates lock is never poisoned").clone()
    }

    /// Reloads both tables; rows outside the supported bounds are skipped with a warning.
    pub async fn reload(&self, client: &ClientWrapper) -> Result<()> {
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
            match ProductType::parse(&product) {
                Ok(p) if rate <= MAX_POINTS_PER_EUR_MILLI => {
                    rates.products.insert(p, rate);
                }
                _ => tracing::warn!(product, "earn rate unknown or out of bounds; ignored"),
            }
        }
        *self.0.write().expect("rates lock is never poisoned") = Arc::new(rates);
        Ok(())
    }
}
