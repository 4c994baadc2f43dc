//! Planning a booking's earn, without a database: the programme snapshot, the booking and the
//! member's tier and residency go in; the base calculation, the tier and campaign plan, the
//! total after caps and the points' lifetime come out. The store unit reads, calls these,
//! and writes.

use chrono::{DateTime, Duration, Utc};
use loyalty_crds::campaign::EarnContext;
use loyalty_crds::common::{Channel, PartnerCode, RegionName, ResidencyGroup, Tier};

use super::activity::ActivityRules;
use super::caps::Granted;
use super::partner_bonus::{self, PartnerBonus, PartnerTerms};
use super::rules::{self, CampaignEntry, EarnPlan, PlannedAward, TierLadder};
use super::valuation::RedemptionRules;
use super::{
    EarnRates, Invalid, PointsBreakdown, ProductType, Reference, Refusal, Source, Spend,
    compute_base_points,
};
use crate::error::Error;

/// Everything the earn rules read, as of one poll of the configuration.
#[derive(Debug, Clone, Default)]
pub struct Programme {
    pub rates: EarnRates,
    pub tiers: TierLadder,
    pub redemption: RedemptionRules,
    pub activities: ActivityRules,
    /// The fraud rules outgoing operations are screened against.
    pub fraud: super::fraud::FraudRules,
    pub campaigns: Vec<CampaignEntry>,
    /// The campaign set's version; `None` before the operator wrote any.
    pub campaigns_version: Option<i64>,
}

/// A booking reported for an earn (or priced by a quote).
#[derive(Debug, Clone)]
pub struct Booking {
    pub source: Source,
    pub booking_ref: Reference,
    pub product: ProductType,
    pub spend: Spend,
    pub channel: Channel,
    pub partner: Option<PartnerCode>,
    /// What the named partner awards (its bonus rules), as of the request.
    pub partner_terms: PartnerTerms,
    /// When the booking was made: campaigns active then apply.
    pub booked_at: DateTime<Utc>,
    /// Until then the points are pending (e.g. check-out plus the return window).
    pub vests_at: Option<DateTime<Utc>>,
}

/// Where a member lives, as the campaign rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residency {
    pub group: ResidencyGroup,
    pub home_region: RegionName,
}

impl Residency {
    /// A member's stored residency. Enrolment wrote it from validated names, so one that
    /// does not parse is the service's fault, not the caller's.
    pub fn stored(group: &str, home_region: &str) -> Result<Self, Error> {
        let invalid =
            |what: &str, v: &str| Error::Invariant(format!("stored {what} {v:?} is invalid"));
        Ok(Self {
            group: ResidencyGroup::new(group).map_err(|_| invalid("residency group", group))?,
            home_region: RegionName::new(home_region)
                .map_err(|_| invalid("home region", home_region))?,
        })
    }
}

/// What the rules need to know about the member a booking earns for.
#[derive(Debug, Clone, Copy)]
pub struct Earner<'a> {
    pub tier: Tier,
    pub residency: &'a Residency,
}

/// Plans a booking's earn for a member: base points, tier, campaigns (before caps).
pub fn plan_earn(
    programme: &Programme,
    booking: &Booking,
    earner: Earner<'_>,
) -> Result<(PointsBreakdown, EarnPlan), Invalid> {
    let breakdown = compute_base_points(&booking.spend, booking.product, &programme.rates)?;
    let ctx = EarnContext {
        product_type: booking.product,
        tier: earner.tier,
        residency_group: &earner.residency.group,
        region: &earner.residency.home_region,
        partner: booking.partner.as_ref(),
        channel: booking.channel,
        spend: booking.spend.money(),
    };
    let plan = rules::plan(
        &breakdown,
        &programme.tiers,
        &programme.campaigns,
        &ctx,
        booking.booked_at,
    )?;
    Ok((breakdown, plan))
}

/// The bonus of the partner the booking names, if it names one: its rules applied on the
/// exact base points, or why none applied.
pub fn partner_bonus(
    booking: &Booking,
    base: &PointsBreakdown,
) -> Result<Option<PartnerBonus>, Invalid> {
    booking
        .partner
        .as_ref()
        .map(|code| partner_bonus::plan(code, &booking.partner_terms, base))
        .transpose()
}

/// The points a booking earns: its tier points, what the campaigns granted after caps, and
/// the partner's bonus. A booking that earns nothing is refused (a lot holds at least one
/// point).
pub fn total_points(tier_points: i64, granted: &[Granted], partner: i64) -> Result<i64, Error> {
    let total = granted
        .iter()
        .try_fold(tier_points, |sum, g| sum.checked_add(g.points))
        .and_then(|sum| sum.checked_add(partner))
        .ok_or_else(|| Invalid::new("points_too_large", "too many points"))?;
    if total <= 0 {
        return Err(Refusal::NoPoints.into());
    }
    Ok(super::Points::new(total)?.get())
}

/// The points' lifetime: the programme's, unless an applied campaign lengthens it (the
/// longest applicable override wins).
pub fn lot_lifetime(
    applied: &[PlannedAward],
    campaigns: &[CampaignEntry],
    default: Duration,
) -> Duration {
    applied
        .iter()
        .filter_map(|a| {
            campaigns
                .iter()
                .find(|c| c.namespace == a.namespace && c.name == a.name)
        })
        .filter_map(|c| c.spec.lot_expiry_days)
        .max()
        .map_or(default, |d| Duration::days(i64::from(d)))
}

#[cfg(test)]
mod tests {
    use loyalty_crds::campaign::StackingMode;

    use super::*;
    use crate::domain::caps::CappedBy;

    fn granted(points: i64) -> Granted {
        Granted {
            campaign: "marketing/summer".into(),
            mode: StackingMode::Additive,
            multiplier_milli: 1000,
            bonus_points: points,
            planned: points,
            points,
            capped_by: Some(CappedBy::Budget),
        }
    }

    #[test]
    fn the_total_adds_granted_campaign_points_to_the_tier_points() {
        assert_eq!(
            total_points(100, &[granted(50), granted(0)], 0).unwrap(),
            150
        );
        assert_eq!(total_points(0, &[granted(7)], 0).unwrap(), 7);
        assert_eq!(total_points(0, &[], 250).unwrap(), 250);
    }

    #[test]
    fn a_booking_that_earns_nothing_or_too_much_is_refused() {
        assert!(matches!(
            total_points(0, &[granted(0)], 0),
            Err(Error::Refused(Refusal::NoPoints))
        ));
        for too_many in [
            total_points(i64::MAX, &[granted(1)], 0),
            total_points(2_000_000_000, &[], 0),
            total_points(1, &[], i64::MAX),
        ] {
            assert!(matches!(too_many, Err(Error::Invalid(e)) if e.code == "points_too_large"));
        }
    }

    #[test]
    fn without_an_override_points_live_the_programme_lifetime() {
        assert_eq!(
            lot_lifetime(&[], &[], Duration::days(365)),
            Duration::days(365)
        );
    }
}
