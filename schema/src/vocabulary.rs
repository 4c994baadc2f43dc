//! Texts stored in rows that the service and the operator both read or write.

use std::fmt;
use std::str::FromStr;

/// A stored text that names no known value: a row the code cannot interpret, which callers
/// treat as an internal error, never as a default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! stored_names {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownName { kind: $kind, value: other.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_names!(
    /// The configuration sets of `config_versions`: the operator bumps a set's version in the
    /// transaction that changes its rows, and the service reloads a set when its version moves.
    ConfigSet, "configuration set", {
        /// Campaign rows.
        Campaigns => "campaigns",
        /// Partner rows.
        Partners => "partners",
        /// Region and country-home rows.
        Regions => "regions",
    }
);

stored_names!(
    /// A region's state in its `regions` row (the fence, ADR 0004).
    RegionState, "region state", {
        /// Commits writes for the members it serves.
        Active => "active",
        /// Commits nothing; its members are served by `served_by` (or by nobody when the
        /// group failed closed).
        Fenced => "fenced",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_through_its_text() {
        for set in ConfigSet::ALL {
            assert_eq!(set.as_str().parse::<ConfigSet>(), Ok(*set));
        }
        for state in RegionState::ALL {
            assert_eq!(state.as_str().parse::<RegionState>(), Ok(*state));
        }
    }

    #[test]
    fn an_unknown_text_is_an_error_not_a_default() {
        let err = "paused".parse::<RegionState>().unwrap_err();
        assert_eq!(err.to_string(), "unknown region state \"paused\"");
        assert!("Active".parse::<RegionState>().is_err());
    }
}
