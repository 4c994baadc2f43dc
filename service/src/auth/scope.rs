//! The scopes a token may carry, one per kind of caller of the platform.

use std::fmt;
use std::str::FromStr;

/// A scope of the loyalty API. The table of what each one may do is `policy::RULES`, and
/// docs/security.md explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A member acting for themselves: the token's `sub` is their member id.
    Member,
    /// A booking system: earns and reversals for any member, enrolment.
    Earn,
    /// A booking flow: holds, captures, voids and redemptions for any member.
    Bookings,
    /// Customer support: reads any member.
    Support,
    /// Operations: the audit and the sweeps.
    Admin,
    /// A partner's system: its own signed bonus webhooks only. The token's `partner_code`
    /// claim names the partner it acts for (docs/security.md).
    Partner,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Member,
        Scope::Earn,
        Scope::Bookings,
        Scope::Support,
        Scope::Admin,
        Scope::Partner,
    ];

    /// What the platform's own systems hold between them: every scope but a member's.
    pub const SERVICES: [Scope; 4] = [Scope::Earn, Scope::Bookings, Scope::Support, Scope::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Member => "loyalty:member",
            Scope::Earn => "loyalty:earn",
            Scope::Bookings => "loyalty:bookings",
            Scope::Support => "loyalty:support",
            Scope::Admin => "loyalty:admin",
            Scope::Partner => "loyalty:partner",
        }
    }

    /// The short name used in configuration (`limits.<name>`) and metrics labels.
    pub const fn label(self) -> &'static str {
        match self {
            Scope::Member => "member",
            Scope::Earn => "earn",
            Scope::Bookings => "bookings",
            Scope::Support => "support",
            Scope::Admin => "admin",
            Scope::Partner => "partner",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope this service does not know; tokens may carry others (they are ignored).
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownScope;

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or(UnknownScope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_text() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse(), Ok(scope));
        }
        assert_eq!("loyalty:root".parse::<Scope>(), Err(UnknownScope));
    }
}
