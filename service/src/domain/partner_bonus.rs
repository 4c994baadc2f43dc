//! A partner's bonus on a booking made through it, pure and deterministic: every bonus rule
//! of the Partner whose product types include the booking's (empty: all) applies, each
//! either a flat `pointsPerBooking` or `multiplierMilli` on the booking's exact base points
//! (the extra over 1x, floored once: 1500 adds half the base). Tier and campaigns do not
//! multiply it. An unknown or disabled partner adds nothing, and says so.

use loyalty_crds::common::PartnerCode;
use loyalty_crds::partner::BonusRule;
use serde::Serialize;
use utoipa::ToSchema;

use super::rules::scaled;
use super::{Invalid, PointsBreakdown};

const MILLI: i128 = 1_000;

/// What this instance knows of the partner a booking names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnerTerms {
    /// No Partner with that code is published.
    Unknown,
    /// The Partner is paused (`enabled: false`).
    Disabled,
    /// The Partner's bonus rules.
    Enabled(Vec<BonusRule>),
}

/// Why the partner added what it added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerOutcome {
    Applied,
    NoMatchingRule,
    UnknownPartner,
    PartnerDisabled,
}

/// One bonus rule's award.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct AppliedBonusRule {
    /// The rule's position in the Partner's `bonusRules`, from 0.
    pub rule: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_per_booking: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiplier_milli: Option<i32>,
    pub points: i64,
}

/// The partner part of an earn's explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct PartnerBonus {
    pub partner: String,
    pub outcome: PartnerOutcome,
    pub rules: Vec<AppliedBonusRule>,
    /// The sum of the rules' points: what the partner adds to the earn.
    pub points: i64,
}

/// The bonus `partner`'s `terms` add to a booking worth `base`.
pub fn plan(
    partner: &PartnerCode,
    terms: &PartnerTerms,
    base: &PointsBreakdown,
) -> Result<PartnerBonus, Invalid> {
    let outcome = |outcome| PartnerBonus {
        partner: partner.to_string(),
        outcome,
        rules: Vec::new(),
        points: 0,
    };
    let rules = match terms {
        PartnerTerms::Unknown => return Ok(outcome(PartnerOutcome::UnknownPartner)),
        PartnerTerms::Disabled => return Ok(outcome(PartnerOutcome::PartnerDisabled)),
        PartnerTerms::Enabled(rules) => rules,
    };
    let mut bonus = outcome(PartnerOutcome::NoMatchingRule);
    for (index, rule) in rules.iter().enumerate() {
        if !rule.product_types.is_empty() && !rule.product_types.contains(&base.product) {
            continue;
        }
        let points = rule_points(rule, base)?;
        bonus.points = bonus.points.checked_add(points).ok_or_else(too_large)?;
        bonus.rules.push(AppliedBonusRule {
            rule: index,
            points_per_booking: rule.points_per_booking,
            multiplier_milli: rule.multiplier_milli,
            points,
        });
        bonus.outcome = PartnerOutcome::Applied;
    }
    Ok(bonus)
}

fn rule_points(rule: &BonusRule, base: &PointsBreakdown) -> Result<i64, Invalid> {
    let flat = rule.points_per_booking.unwrap_or(0).max(0);
    let extra_milli = rule
        .multiplier_milli
        .map_or(0, |m| i128::from(m) - MILLI)
        .max(0);
    let multiplied = scaled(base, extra_milli, MILLI)?;
    flat.checked_add(multiplied).ok_or_else(too_large)
}

fn too_large() -> Invalid {
    Invalid::new("points_overflow", "the partner bonus is too large")
}

#[cfg(test)]
mod tests {
    use loyalty_crds::common::ProductType;

    use super::*;
    use crate::domain::earn::tests::rates;
    use crate::domain::{Spend, compute_base_points};

    fn air_france() -> PartnerTerms {
        PartnerTerms::Enabled(crate::partners::demo::air_france(String::new()).bonus_rules)
    }

    fn bonus(product: ProductType, terms: &PartnerTerms) -> PartnerBonus {
        let spend = Spend::new(10_001, "USD").unwrap();
        let base = compute_base_points(&spend, product, &rates()).unwrap();
        plan(&PartnerCode::new("AF").unwrap(), terms, &base).unwrap()
    }

    #[test]
    fn a_flight_earns_the_flat_bonus_and_a_hotel_half_its_base_again() {
        let flight = bonus(ProductType::Flight, &air_france());
        assert_eq!(
            (flight.outcome, flight.points),
            (PartnerOutcome::Applied, 250)
        );
        assert_eq!(flight.rules[0].rule, 0);
        let spend = Spend::new(10_001, "USD").unwrap();
        let base = compute_base_points(&spend, ProductType::Hotel, &rates()).unwrap();
        let hotel = bonus(ProductType::Hotel, &air_france());
        assert_eq!(hotel.rules[0].rule, 1);
        assert_eq!(hotel.points, base.base_points / 2);
    }

    #[test]
    fn no_matching_rule_an_unknown_or_a_disabled_partner_adds_nothing_and_says_why() {
        let hotels_only = match air_france() {
            PartnerTerms::Enabled(rules) => PartnerTerms::Enabled(rules[1..].to_vec()),
            other => other,
        };
        for (terms, product, outcome) in [
            (
                hotels_only,
                ProductType::Flight,
                PartnerOutcome::NoMatchingRule,
            ),
            (
                PartnerTerms::Unknown,
                ProductType::Flight,
                PartnerOutcome::UnknownPartner,
            ),
            (
                PartnerTerms::Disabled,
                ProductType::Flight,
                PartnerOutcome::PartnerDisabled,
            ),
        ] {
            let b = bonus(product, &terms);
            assert_eq!((b.outcome, b.points, b.rules.len()), (outcome, 0, 0));
        }
    }
}
