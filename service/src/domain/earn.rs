//! The earn calculation and its single rounding rule (docs/adr/0003-rounding.md).
//!
//! points = floor(amount_minor × eur_rate_ppm × points_per_eur_milli
//!                / (10^exponent × 10^6 × 10^3))
//!
//! Everything is integer arithmetic in `i128`; the only rounding is the final floor, so a
//! quote and an earn of the same booking always agree and no fraction of a point is ever
//! created.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::points::MAX_POINTS_PER_OPERATION;
use super::{Invalid, Points, Spend};

pub use loyalty_crds::common::ProductType;

/// The product type's name on the wire (`hotel`, `flight`, `car`, `experience`).
pub fn product_name(product: ProductType) -> String {
    serde_json::to_value(product)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Parses a product type name, with the API's error code.
pub fn parse_product(raw: &str) -> Result<ProductType, Invalid> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
        Invalid::new(
            "unknown_product",
            "product must be one of hotel, flight, car, experience",
        )
    })
}

/// One currency's conversion into EUR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyRate {
    pub exponent: u32,
    pub eur_rate_ppm: i64,
}

/// A snapshot of the rates tables, loaded from the database and refreshed periodically.
#[derive(Debug, Clone, Default)]
pub struct EarnRates {
    pub currencies: HashMap<String, CurrencyRate>,
    pub products: HashMap<ProductType, i64>,
}

/// How a booking's base points were computed; stored on the ledger entry so a member can
/// be told why they got what they got.
///
/// Read back from a stored response, the exact fraction is not there (it is not stored):
/// only [`compute_base_points`] makes one that [`rules::plan`](super::rules::plan) can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PointsBreakdown {
    #[schema(schema_with = super::schema::product)]
    pub product: ProductType,
    /// The exact base points are `numerator / denominator`; multipliers apply to this
    /// fraction so that rounding happens once (see `rules`).
    #[serde(skip)]
    numerator: i128,
    #[serde(skip)]
    denominator: i128,
    pub amount_minor: i64,
    #[schema(schema_with = super::schema::currency)]
    pub currency: String,
    pub eur_rate_ppm: i64,
    pub points_per_eur_milli: i64,
    pub base_points: i64,
}

const PPM: i128 = 1_000_000;
const MILLI: i128 = 1_000;

/// Base points for a booking, before tier and campaign effects.
pub fn compute_base_points(
    spend: &Spend,
    product: ProductType,
    rates: &EarnRates,
) -> Result<PointsBreakdown, Invalid> {
    let currency = rates
        .currencies
        .get(spend.currency().as_str())
        .ok_or_else(|| {
            Invalid::new(
                "unknown_currency",
                format!(
                    "currency {} is not accepted by the programme",
                    spend.currency().as_str()
                ),
            )
        })?;
    let per_eur_milli = *rates.products.get(&product).ok_or_else(|| {
        Invalid::new(
            "unknown_product",
            format!("no earn rate for {}", product_name(product)),
        )
    })?;
    let numerator = i128::from(spend.amount_minor())
        .checked_mul(i128::from(currency.eur_rate_ppm))
        .and_then(|n| n.checked_mul(i128::from(per_eur_milli)));
    let denominator = 10i128
        .checked_pow(currency.exponent)
        .and_then(|d| d.checked_mul(PPM * MILLI));
    let (Some(numerator), Some(denominator)) = (numerator, denominator) else {
        return Err(Invalid::new(
            "amount_too_large",
            "the spend is too large to convert",
        ));
    };
    // Both operands are non-negative, so integer division is the floor.
    let points = numerator / denominator;
    if points > i128::from(MAX_POINTS_PER_OPERATION) {
        return Err(Invalid::new(
            "points_too_large",
            format!("a booking may earn at most {MAX_POINTS_PER_OPERATION} points"),
        ));
    }
    let base_points =
        i64::try_from(points).map_err(|_| Invalid::new("points_too_large", "points overflow"))?;
    Ok(PointsBreakdown {
        product,
        numerator,
        denominator,
        amount_minor: spend.amount_minor(),
        currency: spend.currency().as_str().to_owned(),
        eur_rate_ppm: currency.eur_rate_ppm,
        points_per_eur_milli: per_eur_milli,
        base_points,
    })
}

impl PointsBreakdown {
    pub fn exact_numerator(&self) -> i128 {
        self.numerator
    }

    pub fn exact_denominator(&self) -> i128 {
        self.denominator
    }

    /// The points to award, refusing a booking that earns nothing (a lot must hold at least
    /// one point).
    pub fn awarded(&self) -> Result<Points, Invalid> {
        Points::new(self.base_points)
            .map_err(|_| Invalid::new("no_points", "the booking earns no points"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// EUR, JPY and USD; hotel and flight rates.
    pub(crate) fn rates() -> EarnRates {
        let mut r = EarnRates::default();
        r.currencies.insert(
            "EUR".into(),
            CurrencyRate {
                exponent: 2,
                eur_rate_ppm: 1_000_000,
            },
        );
        r.currencies.insert(
            "JPY".into(),
            CurrencyRate {
                exponent: 0,
                eur_rate_ppm: 6_100,
            },
        );
        r.currencies.insert(
            "USD".into(),
            CurrencyRate {
                exponent: 2,
                eur_rate_ppm: 920_000,
            },
        );
        r.products.insert(ProductType::Hotel, 10_000);
        r.products.insert(ProductType::Flight, 5_000);
        r
    }

    #[test]
    fn hotel_spend_in_euros_earns_ten_points_per_euro_rounded_down() {
        let p = compute_base_points(
            &Spend::new(12_399, "EUR").unwrap(),
            ProductType::Hotel,
            &rates(),
        )
        .unwrap();
        // 123.99 EUR × 10 = 1239.9 → 1239
        assert_eq!(p.base_points, 1_239);
    }

    #[test]
    fn currencies_without_minor_units_convert_exactly() {
        let p = compute_base_points(
            &Spend::new(10_000, "JPY").unwrap(),
            ProductType::Flight,
            &rates(),
        )
        .unwrap();
        // 10000 JPY = 61 EUR; × 5 = 305
        assert_eq!(p.base_points, 305);
    }

    #[test]
    fn unknown_currency_and_product_are_rejected() {
        let r = rates();
        let gbp = Spend::new(100, "GBP").unwrap();
        assert_eq!(
            compute_base_points(&gbp, ProductType::Hotel, &r)
                .unwrap_err()
                .code,
            "unknown_currency"
        );
        let eur = Spend::new(100, "EUR").unwrap();
        assert_eq!(
            compute_base_points(&eur, ProductType::Car, &r)
                .unwrap_err()
                .code,
            "unknown_product"
        );
    }

    #[test]
    fn tiny_spend_earns_nothing_and_is_refused() {
        let p = compute_base_points(&Spend::new(9, "EUR").unwrap(), ProductType::Hotel, &rates())
            .unwrap();
        assert_eq!(p.base_points, 0);
        assert_eq!(p.awarded().unwrap_err().code, "no_points");
    }

    #[test]
    fn points_are_monotone_in_spend() {
        let r = rates();
        let mut last = 0;
        for amount in (1..200_000).step_by(37) {
            let p =
                compute_base_points(&Spend::new(amount, "USD").unwrap(), ProductType::Hotel, &r)
                    .unwrap();
            assert!(p.base_points >= last);
            last = p.base_points;
        }
    }
}
