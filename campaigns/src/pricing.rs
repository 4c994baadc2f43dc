//! Pricing a booking under a campaign set with the service's own earn planning
//! ([`loyalty_service::domain::compute_base_points`], [`loyalty_service::domain::rules::plan`])
//! and its cap windows, the caps counted in memory instead of in the earn transaction.

mod caps;
mod programme;

use chrono::{DateTime, Utc};
use loyalty_crds::campaign::EarnContext;
use loyalty_crds::common::{
    Channel, CurrencyCode, Money as ApiMoney, PartnerCode, ProductType, RegionName, ResidencyGroup,
    Tier,
};
use loyalty_service::api::EarnExplanation;
use loyalty_service::domain::rules::{self, CampaignEntry, TierLadder};
use loyalty_service::domain::{EarnRates, Invalid, Money, compute_base_points};
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
    pub campaigns: Vec<CampaignEntry>,
    pub caps: CapBook,
}

impl Pricer {
    pub fn new(campaigns: Vec<CampaignEntry>) -> Self {
        Self {
            campaigns,
            caps: CapBook::default(),
        }
    }

    /// The booking's earn under `rates` and `ladder`, its grants counted against the caps.
    pub fn price(
        &mut self,
        booking: &Booking,
        rates: &EarnRates,
        ladder: &TierLadder,
    ) -> Result<Priced, Invalid> {
        let spend = Money::new(booking.amount_minor, &booking.currency)?;
        let base = compute_base_points(&spend, booking.product, rates)?;
        let money = ApiMoney {
            amount_minor: booking.amount_minor,
            currency: CurrencyCode::new(&booking.currency)
                .map_err(|e| Invalid::new("invalid_currency", e.to_string()))?,
        };
        let ctx = EarnContext {
            product_type: booking.product,
            tier: booking.tier,
            residency_group: &booking.residency_group,
            region: &booking.region,
            partner: booking.partner.as_ref(),
            channel: booking.channel,
            spend: &money,
        };
        let plan = rules::plan(&base, ladder, &self.campaigns, &ctx, booking.at)?;
        let granted = self.caps.grant(
            &plan.campaigns,
            &self.campaigns,
            &booking.member,
            booking.at,
        );
        let points = plan.tier_points + granted.iter().map(|g| g.points).sum::<i64>();
        Ok(Priced {
            points,
            explanation: EarnExplanation {
                calculation: base,
                tier: plan.tier,
                tier_multiplier_milli: plan.tier_multiplier_milli,
                tier_points: plan.tier_points,
                campaigns: granted,
            },
        })
    }
}
