//! Whether a booking or an activity qualifies for a campaign.

use super::Eligibility;
use crate::common::{
    ActivityKind, Channel, Money, PartnerCode, ProductType, RegionName, ResidencyGroup, Tier,
};

/// What the service knows about a booking when it earns points for it.
#[derive(Debug, Clone, Copy)]
pub struct EarnContext<'a> {
    /// What was booked.
    pub product_type: ProductType,
    /// The member's tier at the time of the booking.
    pub tier: Tier,
    /// The member's residency group.
    pub residency_group: &'a ResidencyGroup,
    /// The member's home region.
    pub region: &'a RegionName,
    /// The partner the booking came through, if any.
    pub partner: Option<&'a PartnerCode>,
    /// Where the booking was made.
    pub channel: Channel,
    /// What the booking cost.
    pub spend: &'a Money,
}

/// What the service knows about an activity earn (a referral, a review, a streak).
#[derive(Debug, Clone, Copy)]
pub struct ActivityContext<'a> {
    /// What the member did.
    pub activity: ActivityKind,
    /// The member's tier when they did it.
    pub tier: Tier,
    /// The member's residency group.
    pub residency_group: &'a ResidencyGroup,
    /// The member's home region.
    pub region: &'a RegionName,
}

fn allows<T: PartialEq>(list: &[T], value: &T) -> bool {
    list.is_empty() || list.contains(value)
}

impl Eligibility {
    /// Whether the criteria that describe bookings are all absent.
    pub fn has_booking_criteria(&self) -> bool {
        !(self.product_types.is_empty()
            && self.partners.is_empty()
            && self.channels.is_empty()
            && self.min_spend.is_none())
    }

    /// Whether a booking qualifies: the campaign is for bookings (it lists no activity), each
    /// non-empty list contains the booking's value, and the spend reaches `minSpend` in the
    /// same currency.
    pub fn matches(&self, ctx: &EarnContext<'_>) -> bool {
        if !self.activities.is_empty() {
            return false;
        }
        let partner_ok =
            self.partners.is_empty() || ctx.partner.is_some_and(|p| self.partners.contains(p));
        let spend_ok = self.min_spend.as_ref().is_none_or(|min| {
            min.currency == ctx.spend.currency && ctx.spend.amount_minor >= min.amount_minor
        });
        allows(&self.product_types, &ctx.product_type)
            && allows(&self.tiers, &ctx.tier)
            && allows(&self.residency_groups, ctx.residency_group)
            && allows(&self.regions, ctx.region)
            && allows(&self.channels, &ctx.channel)
            && partner_ok
            && spend_ok
    }

    /// Whether an activity earn qualifies: the campaign lists the activity, the member's
    /// tier, residency group and region are allowed, and no booking criterion is set.
    pub fn matches_activity(&self, ctx: &ActivityContext<'_>) -> bool {
        self.activities.contains(&ctx.activity)
            && !self.has_booking_criteria()
            && allows(&self.tiers, &ctx.tier)
            && allows(&self.residency_groups, ctx.residency_group)
            && allows(&self.regions, ctx.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Booking {
        group: ResidencyGroup,
        region: RegionName,
        partner: PartnerCode,
        spend: Money,
    }

    fn booking(amount_minor: i64, currency: &str) -> Booking {
        Booking {
            group: "eu".parse().unwrap(),
            region: "eu-west-1".parse().unwrap(),
            partner: "AF".parse().unwrap(),
            spend: Money {
                amount_minor,
                currency: currency.parse().unwrap(),
            },
        }
    }

    fn ctx(b: &Booking, partner: bool) -> EarnContext<'_> {
        EarnContext {
            product_type: ProductType::Hotel,
            tier: Tier::Gold,
            residency_group: &b.group,
            region: &b.region,
            partner: partner.then_some(&b.partner),
            channel: Channel::App,
            spend: &b.spend,
        }
    }

    #[test]
    fn empty_eligibility_matches_every_booking() {
        let b = booking(1, "EUR");
        assert!(Eligibility::default().matches(&ctx(&b, false)));
    }

    #[test]
    fn each_non_empty_list_must_contain_the_bookings_value() {
        let b = booking(10_000, "EUR");
        let hotels = Eligibility {
            product_types: vec![ProductType::Hotel],
            tiers: vec![Tier::Gold, Tier::Genius],
            ..Default::default()
        };
        assert!(hotels.matches(&ctx(&b, false)));
        let flights = Eligibility {
            product_types: vec![ProductType::Flight],
            ..Default::default()
        };
        assert!(!flights.matches(&ctx(&b, false)));
        let web_only = Eligibility {
            channels: vec![Channel::Web],
            ..Default::default()
        };
        assert!(!web_only.matches(&ctx(&b, false)));
    }

    #[test]
    fn a_partner_list_excludes_bookings_without_a_partner() {
        let b = booking(10_000, "EUR");
        let air_france = Eligibility {
            partners: vec!["AF".parse().unwrap()],
            ..Default::default()
        };
        assert!(air_france.matches(&ctx(&b, true)));
        assert!(!air_france.matches(&ctx(&b, false)));
    }

    #[test]
    fn a_campaign_is_for_bookings_or_for_the_activities_it_lists() {
        let b = booking(10_000, "EUR");
        let reviews = Eligibility {
            activities: vec![ActivityKind::Review],
            tiers: vec![Tier::Gold],
            ..Default::default()
        };
        assert!(!reviews.matches(&ctx(&b, false)), "no booking qualifies");
        let activity = |activity, tier| ActivityContext {
            activity,
            tier,
            residency_group: &b.group,
            region: &b.region,
        };
        assert!(reviews.matches_activity(&activity(ActivityKind::Review, Tier::Gold)));
        assert!(!reviews.matches_activity(&activity(ActivityKind::Referral, Tier::Gold)));
        assert!(!reviews.matches_activity(&activity(ActivityKind::Review, Tier::Basic)));
        assert!(
            !Eligibility::default().matches_activity(&activity(ActivityKind::Review, Tier::Gold)),
            "a booking campaign adds nothing to activities"
        );
        let mixed = Eligibility {
            channels: vec![Channel::App],
            ..reviews
        };
        assert!(!mixed.matches_activity(&activity(ActivityKind::Review, Tier::Gold)));
    }

    #[test]
    fn min_spend_is_inclusive_and_never_converts_currencies() {
        let min = Eligibility {
            min_spend: Some(Money {
                amount_minor: 5_000,
                currency: "EUR".parse().unwrap(),
            }),
            ..Default::default()
        };
        assert!(min.matches(&ctx(&booking(5_000, "EUR"), false)));
        assert!(!min.matches(&ctx(&booking(4_999, "EUR"), false)));
        assert!(!min.matches(&ctx(&booking(500_000, "USD"), false)));
    }
}
