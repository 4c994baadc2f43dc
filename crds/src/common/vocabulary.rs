//! The business vocabulary: what is booked, who books it, through which channel, and when.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::CurrencyCode;

/// An amount of money: minor units (cents) of an ISO 4217 currency. Never a float.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    /// The amount in the currency's minor units, e.g. `5000` for 50.00 EUR.
    #[schemars(range(min = 0))]
    pub amount_minor: i64,
    /// The ISO 4217 currency code, e.g. `EUR`.
    pub currency: CurrencyCode,
}

/// What a booking is for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProductType {
    /// A hotel stay.
    Hotel,
    /// A flight.
    Flight,
    /// A car rental.
    Car,
    /// An experience: tours, tickets, activities.
    Experience,
}

impl ProductType {
    /// Every product type, in a stable order.
    pub const ALL: [ProductType; 4] = [Self::Hotel, Self::Flight, Self::Car, Self::Experience];
}

/// A member's tier, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// The tier every member starts in.
    Basic,
    /// The first earned tier.
    Silver,
    /// The second earned tier.
    Gold,
    /// The top tier.
    Genius,
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Tier; 4] = [Self::Basic, Self::Silver, Self::Gold, Self::Genius];

    /// The name on the wire and in the database (`members.tier`, `tiers.name`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "basic",
            Tier::Silver => "silver",
            Tier::Gold => "gold",
            Tier::Genius => "genius",
        }
    }
}

/// A text that names no tier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier {0:?}")]
pub struct UnknownTier(pub String);

impl std::str::FromStr for Tier {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, UnknownTier> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTier(s.to_owned()))
    }
}

/// What a member did, other than booking, that the programme rewards with points.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// A member they referred completed their first booking.
    Referral,
    /// They reviewed a stay or a trip.
    Review,
    /// They visited (logged in, opened the app) on enough consecutive days.
    Streak,
}

impl ActivityKind {
    /// Every activity, in a stable order.
    pub const ALL: [ActivityKind; 3] = [Self::Referral, Self::Review, Self::Streak];

    /// The name on the wire, in the programme's rules and in ledger entries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Referral => "referral",
            Self::Review => "review",
            Self::Streak => "streak",
        }
    }
}

/// A text that names no activity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown activity {0:?}")]
pub struct UnknownActivity(pub String);

impl std::str::FromStr for ActivityKind {
    type Err = UnknownActivity;
    fn from_str(s: &str) -> Result<Self, UnknownActivity> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownActivity(s.to_owned()))
    }
}

/// Where a booking was made.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// The website.
    Web,
    /// The mobile app.
    App,
    /// The call center, on the member's behalf.
    CallCenter,
    /// A partner's own channel.
    Partner,
}

/// A day of the week, as a campaign's recurrence names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl From<Weekday> for chrono::Weekday {
    fn from(day: Weekday) -> Self {
        match day {
            Weekday::Monday => chrono::Weekday::Mon,
            Weekday::Tuesday => chrono::Weekday::Tue,
            Weekday::Wednesday => chrono::Weekday::Wed,
            Weekday::Thursday => chrono::Weekday::Thu,
            Weekday::Friday => chrono::Weekday::Fri,
            Weekday::Saturday => chrono::Weekday::Sat,
            Weekday::Sunday => chrono::Weekday::Sun,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_serializes_in_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Channel::CallCenter).unwrap(),
            "\"call-center\""
        );
        assert_eq!(
            serde_json::to_string(&ProductType::Hotel).unwrap(),
            "\"hotel\""
        );
        assert_eq!(serde_json::to_string(&Tier::Genius).unwrap(), "\"genius\"");
        for tier in Tier::ALL {
            let wire = serde_json::to_value(tier).unwrap();
            assert_eq!(wire.as_str(), Some(tier.as_str()));
            assert_eq!(tier.as_str().parse::<Tier>(), Ok(tier));
        }
        assert_eq!(
            "platinum".parse::<Tier>(),
            Err(UnknownTier("platinum".into()))
        );
        assert_eq!(
            serde_json::to_string(&Weekday::Saturday).unwrap(),
            "\"Saturday\""
        );
    }

    #[test]
    fn activities_convert_both_ways_and_unknown_ones_are_refused() {
        for kind in ActivityKind::ALL {
            let wire = serde_json::to_value(kind).unwrap();
            assert_eq!(wire.as_str(), Some(kind.as_str()));
            assert_eq!(kind.as_str().parse::<ActivityKind>(), Ok(kind));
        }
        assert_eq!(
            "login".parse::<ActivityKind>(),
            Err(UnknownActivity("login".into()))
        );
    }

    #[test]
    fn tiers_order_from_lowest_to_highest() {
        assert!(Tier::Basic < Tier::Silver && Tier::Gold < Tier::Genius);
    }
}
