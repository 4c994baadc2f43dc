//! A hold's stored state, converted to and from `holds.state` explicitly.

use std::str::FromStr;

/// Where a hold stands: active until captured, voided or expired; in review while a flagged
/// operation waits for support (docs/fraud.md), then captured, active or voided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Active,
    Captured,
    Voided,
    Expired,
    InReview,
}

impl HoldStatus {
    pub const ALL: [HoldStatus; 5] = [
        Self::Active,
        Self::Captured,
        Self::Voided,
        Self::Expired,
        Self::InReview,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Captured => "captured",
            Self::Voided => "voided",
            Self::Expired => "expired",
            Self::InReview => "in_review",
        }
    }
}

/// A stored text that names no hold state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hold state {0:?}")]
pub struct UnknownHoldStatus(pub String);

impl FromStr for HoldStatus {
    type Err = UnknownHoldStatus;
    fn from_str(s: &str) -> Result<Self, UnknownHoldStatus> {
        Self::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| UnknownHoldStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_and_an_unknown_one_is_an_error() {
        for h in HoldStatus::ALL {
            assert_eq!(h.as_str().parse(), Ok(h));
        }
        assert!("pending".parse::<HoldStatus>().is_err());
    }
}
