//! Pricing a booking under a campaign set with the service's own pure earn planning
//! ([`loyalty_service::domain::booking::plan_earn`]) and cap arithmetic
//! ([`loyalty_service::domain::caps::grant`]), the cap counters kept in memory instead of in
//! the earn transaction.

mod caps;
mod programme;

use chrono::{DateTime, Utc};
use loyalty_crds::common::{Channel, PartnerCode, ProductType, RegionName, ResidencyGroup, Tier};
use loyalty_service::api::EarnExplanation;
use loyalty_service::domain::booking::{
    Booking as ServiceBooking, Earner, Programme, Residency, plan_earn,
};
use loyalty_service::domain::partner_bonus::PartnerTerms;
use loyalty_service::domain::rules::{CampaignEntry, TierLadder};
use loyalty_service::domain::{EarnRates, Invalid, Reference, Source, Spend};
use serde::{Deserialize, Serialize};

pub use caps::CapBook;
pub use programme::{reference_ladder, reference_rates};

/// A booking as the earn rules see it: the earn request and the member's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Booking {
    /// Who earns: any stable name; per-member caps count per member.
    #[serde(default = "default_member")]
    pub member: String,
    /// When the booking was made: campaigns active then apply.
    pub at: DateTime<Utc>,
    pub product: ProductType,
    /// The spend in the currency's minor units (cents).
    pub amount_minor: i64,
    pub currency: String,
    #[serde(default = "default_tier")]
    pub tier: Tier,
    #[serde(default = "default_channel")]
    pub channel: Channel,
    #[serde(default = "default_group")]
    pub residency_group: ResidencyGroup,
    #[serde(default = "default_region")]
    pub region: RegionName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<PartnerCode>,
}

fn default_member() -> String {
    "member".into()
}
fn default_tier() -> Tier {
    Tier::Basic
}
fn default_channel() -> Channel {
    Channel::Web
}
fn default_group() -> ResidencyGroup {
    ResidencyGroup::new("eu").expect("a valid group")
}
fn default_region() -> RegionName {
    RegionName::new("eu-west-1").expect("a valid region")
}

/// What a booking earns: the explanation the earn records, and its total.
#[derive(Debug, Clone, Serialize)]
pub struct Priced {
    pub points: i64,
    #[serde(flatten)]
    pub explanation: EarnExplanation,
}

/// Prices bookings one after another under one campaign set, counting caps and budgets.
pub struct Pricer {
    /// The campaign set; rates and tiers are set for each booking.
    pub programme: Programme,
    pub caps: CapBook,
}

impl Pricer {
    pub fn new(campaigns: Vec<CampaignEntry>) -> Self {
        Self {
            programme: Programme {
                campaigns,
                ..Programme::default()
            },
            caps: CapBook::default(),
        }
    }

    /// The booking's earn under `rates` and `ladder` ([`plan_earn`]), its grants counted
    /// against the caps.
    pub fn price(
        &mut self,
        booking: &Booking,
        rates: EarnRates,
        ladder: TierLadder,
    ) -> Result<Priced, Invalid> {
        self.programme.rates = rates;
        self.programme.tiers = ladder;
        let residency = Residency {
            group: booking.residency_group.clone(),
            home_region: booking.region.clone(),
        };
        let earner = Earner {
            tier: booking.tier,
            residency: &residency,
        };
        let (base, plan) = plan_earn(&self.programme, &booking.to_service()?, earner)?;
        let campaigns = &self.programme.campaigns;
        let granted = self
            .caps
            .grant(&plan.campaigns, campaigns, &booking.member, booking.at);
        let points = plan.tier_points + granted.iter().map(|g| g.points).sum::<i64>();
        Ok(Priced {
            points,
            explanation: EarnExplanation {
                calculation: base,
                tier: plan.tier,
                tier_multiplier_milli: plan.tier_multiplier_milli,
                tier_points: plan.tier_points,
                campaigns: granted,
                // Partner bonuses are the Partner's, not a campaign's: not simulated.
                partner: None,
            },
        })
    }
}

impl Booking {
    /// The service's booking: the source and reference of a simulated booking are fixed.
    fn to_service(&self) -> Result<ServiceBooking, Invalid> {
        Ok(ServiceBooking {
            source: Source::parse("simulation")?,
            booking_ref: Reference::parse("simulated")?,
            product: self.product,
            spend: Spend::new(self.amount_minor, &self.currency)?,
            channel: self.channel,
            partner: self.partner.clone(),
            partner_terms: PartnerTerms::Unknown,
            booked_at: self.at,
            vests_at: None,
        })
    }
}
