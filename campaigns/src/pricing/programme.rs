//! The programme offline: the service's reference rates and tier ladder
//! ([`loyalty_service::store::seed`]), the ones a new database is seeded with.

use loyalty_service::domain::earn::CurrencyRate;
use loyalty_service::domain::rules::{TierLadder, TierRule};
use loyalty_service::domain::{EarnRates, parse_product};
use loyalty_service::store::seed::{CURRENCIES, EARN_RATES, TIERS};

/// The reference currencies and product rates.
pub fn reference_rates() -> EarnRates {
    let mut rates = EarnRates::default();
    for (code, exponent, eur_rate_ppm) in CURRENCIES {
        let rate = CurrencyRate {
            exponent: exponent.unsigned_abs(),
            eur_rate_ppm: *eur_rate_ppm,
        };
        rates.currencies.insert((*code).to_owned(), rate);
    }
    for (product, per_eur_milli) in EARN_RATES {
        if let Ok(product) = parse_product(product) {
            rates.products.insert(product, *per_eur_milli);
        }
    }
    rates
}

/// The reference tier ladder.
pub fn reference_ladder() -> TierLadder {
    let rules = TIERS
        .iter()
        .filter_map(|(tier, _, threshold, multiplier_milli)| {
            Some(TierRule {
                tier: tier.parse().ok()?,
                threshold: *threshold,
                multiplier_milli: *multiplier_milli,
            })
        })
        .collect();
    TierLadder::new(rules)
}
