//! What points are worth at checkout, both ways, and the redemption rules a discount must
//! keep. Pure: the programme's rules and rates go in, a [`Valuation`] or a [`Refusal`] comes
//! out. The one rounding rule (docs/rules.md, "Points at checkout"):
//!
//! - the discount `points` give is `floor(points × value × 10^exponent / eur_rate_ppm)` minor
//!   units of the booking's currency (`value` in micro-EUR per point): rounded down;
//! - the points a discount costs are `ceil(discount × eur_rate_ppm / (value × 10^exponent))`,
//!   then rounded up to the redemption step: rounded up.
//!
//! Every rounding is against the member, by less than one minor unit or one step: valuing
//! points and pricing that discount again never costs fewer points, and pricing a discount
//! never gives less discount than asked.

use std::collections::HashMap;

use loyalty_crds::common::Tier;
use serde::{Deserialize, Serialize};

use super::earn::{CurrencyRate, EarnRates, product_name};
use super::{Invalid, ProductType, Refusal, Spend};
use crate::error::Error;

/// 100% in basis points.
pub const FULL_SHARE_BP: i64 = 10_000;

/// How points may pay for one product type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedemptionRule {
    /// Whether points can pay for it at all.
    pub redeemable: bool,
    /// The fewest points one redemption may use.
    pub min_points: i64,
    /// Redemptions use multiples of this many points.
    pub step_points: i64,
    /// The largest share of the booking's price points may pay, in basis points.
    pub max_share_bp: i64,
}

/// The programme's redemption rules: per product type, and the value of a point per tier
/// (a tier without its own value uses Basic's).
#[derive(Debug, Clone, Default)]
pub struct RedemptionRules {
    pub products: HashMap<ProductType, RedemptionRule>,
    pub eur_micro_per_point: HashMap<Tier, i64>,
}

/// What a booking asks points to pay for: its product and price.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub product: ProductType,
    pub price: Spend,
}

/// A discount and the points it takes, as the hold's and the redemption's entries record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Valuation {
    pub points: i64,
    /// The discount in minor units of `currency`.
    pub discount_minor: i64,
    #[schema(schema_with = super::schema::currency)]
    pub currency: String,
    #[schema(schema_with = super::schema::product)]
    pub product: ProductType,
    /// What one point is worth, in millionths of a euro, for the member's tier.
    pub eur_micro_per_point: i64,
    /// The largest discount the booking's price allows; absent without a price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_discount_minor: Option<i64>,
}

fn too_large() -> Error {
    Invalid::new("amount_too_large", "the amount is too large to value").into()
}

/// `floor(points × value × 10^exponent / eur_rate_ppm)`, checked.
pub fn discount_for(points: i64, value: i64, rate: CurrencyRate) -> Result<i64, Error> {
    let numerator = i128::from(points)
        .checked_mul(i128::from(value))
        .and_then(|n| n.checked_mul(10i128.checked_pow(rate.exponent)?))
        .ok_or_else(too_large)?;
    i64::try_from(numerator / i128::from(rate.eur_rate_ppm)).map_err(|_| too_large())
}

/// `ceil(discount × eur_rate_ppm / (value × 10^exponent))`, checked.
pub fn points_for(discount_minor: i64, value: i64, rate: CurrencyRate) -> Result<i64, Error> {
    let numerator = i128::from(discount_minor)
        .checked_mul(i128::from(rate.eur_rate_ppm))
        .ok_or_else(too_large)?;
    let denominator = i128::from(value)
        .checked_mul(10i128.checked_pow(rate.exponent).ok_or_else(too_large)?)
        .ok_or_else(too_large)?;
    let points = (numerator + denominator - 1) / denominator;
    i64::try_from(points).map_err(|_| too_large())
}

/// The rule, the value of a point and the rate a checkout is valued with.
struct Terms {
    rule: RedemptionRule,
    value: i64,
    rate: CurrencyRate,
}

fn terms(
    rules: &RedemptionRules,
    rates: &EarnRates,
    product: ProductType,
    currency: &str,
    tier: Tier,
) -> Result<Terms, Error> {
    let rule = rules
        .products
        .get(&product)
        .filter(|r| r.redeemable)
        .copied()
        .ok_or_else(|| Refusal::NotRedeemable {
            product: product_name(product),
        })?;
    let value = rules
        .eur_micro_per_point
        .get(&tier)
        .or_else(|| rules.eur_micro_per_point.get(&Tier::Basic))
        .copied()
        .ok_or_else(|| Refusal::NotRedeemable {
            product: product_name(product),
        })?;
    let rate = *rates.currencies.get(currency).ok_or_else(|| {
        Invalid::new(
            "unknown_currency",
            format!("currency {currency} is not accepted by the programme"),
        )
    })?;
    Ok(Terms { rule, value, rate })
}

/// The largest discount of a booking priced `price_minor`.
fn max_discount(rule: RedemptionRule, price_minor: i64) -> i64 {
    let cap = i128::from(price_minor) * i128::from(rule.max_share_bp) / i128::from(FULL_SHARE_BP);
    i64::try_from(cap).unwrap_or(i64::MAX)
}

/// Checks `points` against the rule (minimum, step) and the discount against the booking's
/// price share, and answers the valuation.
fn checked(
    t: &Terms,
    product: ProductType,
    currency: &str,
    points: i64,
    price_minor: Option<i64>,
) -> Result<Valuation, Error> {
    if points < t.rule.min_points {
        return Err(Refusal::BelowMinimumRedemption {
            min: t.rule.min_points,
        }
        .into());
    }
    if points % t.rule.step_points != 0 {
        return Err(Refusal::NotARedemptionStep {
            step: t.rule.step_points,
        }
        .into());
    }
    let discount_minor = discount_for(points, t.value, t.rate)?;
    let max_discount_minor = price_minor.map(|p| max_discount(t.rule, p));
    if let Some(max) = max_discount_minor
        && discount_minor > max
    {
        return Err(Refusal::DiscountExceedsShare {
            max_discount_minor: max,
            max_share_bp: t.rule.max_share_bp,
        }
        .into());
    }
    Ok(Valuation {
        points,
        discount_minor,
        currency: currency.to_owned(),
        product,
        eur_micro_per_point: t.value,
        max_discount_minor,
    })
}

/// The discount `points` give on `checkout` for a member of `tier`, within the rules.
pub fn value_points(
    rules: &RedemptionRules,
    rates: &EarnRates,
    checkout: &Checkout,
    tier: Tier,
    points: i64,
) -> Result<Valuation, Error> {
    let currency = checkout.price.currency().as_str();
    let t = terms(rules, rates, checkout.product, currency, tier)?;
    let price = Some(checkout.price.amount_minor());
    checked(&t, checkout.product, currency, points, price)
}

/// What a valuation asks: the discount N points give, or the points a discount costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Points(i64),
    DiscountMinor(i64),
}

/// Values an [`Ask`] for `product` in `currency` (and, given a price, within its share).
/// Pricing a discount rounds the points up to the minimum and the step, so the discount
/// answered is at least the one asked.
pub fn value(
    rules: &RedemptionRules,
    rates: &EarnRates,
    product: ProductType,
    currency: &str,
    tier: Tier,
    ask: Ask,
    price_minor: Option<i64>,
) -> Result<Valuation, Error> {
    let t = terms(rules, rates, product, currency, tier)?;
    let points = match ask {
        Ask::Points(points) => points,
        Ask::DiscountMinor(discount) => {
            let exact = points_for(discount, t.value, t.rate)?.max(t.rule.min_points);
            let step = t.rule.step_points;
            let rounded = exact.checked_add(step - 1).ok_or_else(too_large)? / step;
            rounded.checked_mul(step).ok_or_else(too_large)?
        }
    };
    checked(&t, product, currency, points, price_minor)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::earn::tests::rates;

    /// Hotel redeemable from 500 points in steps of 100, up to half the price; experiences
    /// not at all. A point is worth 1 euro cent (Basic) or 1.2 cents (Gold).
    fn rules() -> RedemptionRules {
        let mut r = RedemptionRules::default();
        let rule = |redeemable| RedemptionRule {
            redeemable,
            min_points: 500,
            step_points: 100,
            max_share_bp: 5_000,
        };
        r.products.insert(ProductType::Hotel, rule(true));
        r.products.insert(ProductType::Experience, rule(false));
        r.eur_micro_per_point.insert(Tier::Basic, 10_000);
        r.eur_micro_per_point.insert(Tier::Gold, 12_000);
        r
    }

    fn hotel(price_minor: i64, currency: &str) -> Checkout {
        Checkout {
            product: ProductType::Hotel,
            price: Spend::new(price_minor, currency).unwrap(),
        }
    }

    fn code(e: Error) -> &'static str {
        e.metric_label()
    }

    #[test]
    fn every_boundary_of_the_rules() {
        let (r, x) = (rules(), rates());
        // (points, price in EUR cents, tier, expected discount or refusal code)
        let cases: &[(i64, i64, Tier, Result<i64, &str>)] = &[
            (500, 100_000, Tier::Basic, Ok(500)),
            (499, 100_000, Tier::Basic, Err("below_minimum_redemption")),
            (400, 100_000, Tier::Basic, Err("below_minimum_redemption")),
            (550, 100_000, Tier::Basic, Err("not_a_redemption_step")),
            (600, 100_000, Tier::Basic, Ok(600)),
            (600, 100_000, Tier::Gold, Ok(720)),
            (600, 100_000, Tier::Silver, Ok(600)),
            // Half of a 12.00 EUR booking is 6.00 EUR: exactly 600 points, not 700.
            (600, 1_200, Tier::Basic, Ok(600)),
            (700, 1_200, Tier::Basic, Err("discount_exceeds_share")),
            (600, 1_199, Tier::Basic, Err("discount_exceeds_share")),
        ];
        for (points, price, tier, expected) in cases {
            let got = value_points(&r, &x, &hotel(*price, "EUR"), *tier, *points)
                .map(|v| v.discount_minor)
                .map_err(code);
            assert_eq!(&got, expected, "{points} points on {price} for {tier:?}");
        }
    }

    #[test]
    fn points_cannot_pay_for_unredeemable_products_or_unknown_currencies() {
        let (r, x) = (rules(), rates());
        let experience = Checkout {
            product: ProductType::Experience,
            price: Spend::new(10_000, "EUR").unwrap(),
        };
        let refused = |c: &Checkout| code(value_points(&r, &x, c, Tier::Basic, 500).unwrap_err());
        assert_eq!(refused(&experience), "not_redeemable");
        let flight = Checkout {
            product: ProductType::Flight,
            ..experience.clone()
        };
        assert_eq!(refused(&flight), "not_redeemable");
        assert_eq!(refused(&hotel(10_000, "GBP")), "unknown_currency");
    }

    #[test]
    fn a_discount_is_priced_up_to_the_step_and_the_minimum() {
        let (r, x) = (rules(), rates());
        let ask = |d| {
            value(
                &r,
                &x,
                ProductType::Hotel,
                "EUR",
                Tier::Basic,
                Ask::DiscountMinor(d),
                None,
            )
        };
        // 6.01 EUR needs 601 points: 700 with steps of 100, which give 7.00 EUR.
        assert_eq!(
            ask(601).map(|v| (v.points, v.discount_minor)).unwrap(),
            (700, 700)
        );
        assert_eq!(ask(1).map(|v| v.points).unwrap(), 500);
        let yen = value(
            &r,
            &x,
            ProductType::Hotel,
            "JPY",
            Tier::Basic,
            Ask::Points(500),
            None,
        )
        .unwrap();
        // 500 points = 5.00 EUR = 819.67 JPY, rounded down.
        assert_eq!(yen.discount_minor, 819);
    }

    proptest! {
        #[test]
        fn valuing_and_pricing_never_round_trip_to_more_value_than_was_paid_for(
            steps in 5i64..100_000,
            discount in 1i64..10_000_000,
            currency in prop::sample::select(vec!["EUR", "USD", "JPY"]),
            tier in prop::sample::select(vec![Tier::Basic, Tier::Gold]),
        ) {
            let (r, x) = (rules(), rates());
            let points = steps * 100;
            let valued = value(&r, &x, ProductType::Hotel, currency, tier, Ask::Points(points), None).unwrap();
            // Pricing the discount those points gave never costs fewer points.
            let priced = value(&r, &x, ProductType::Hotel, currency, tier, Ask::DiscountMinor(valued.discount_minor), None).unwrap();
            prop_assert!(priced.points <= points);
            prop_assert!(priced.discount_minor <= valued.discount_minor);
            // Pricing a discount gives at least that discount, for points that pay for it.
            let bought = value(&r, &x, ProductType::Hotel, currency, tier, Ask::DiscountMinor(discount), None).unwrap();
            prop_assert!(bought.discount_minor >= discount);
            let exact = points_for(discount, bought.eur_micro_per_point, x.currencies[currency]).unwrap();
            prop_assert!(bought.points >= exact);
        }
    }
}
