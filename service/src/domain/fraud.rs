//! Fraud rules (docs/fraud.md): which outgoing operations — redemptions, holds and transfers
//! out — go to a review queue instead of completing. Pure: the store reads the member's recent
//! movements inside the operation's own SERIALIZABLE transaction and asks [`evaluate`]; a
//! flagged operation is never refused, its points are reserved until support decides.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The longest window a rule may look back over.
pub const MAX_WINDOW_S: i64 = 30 * 24 * 3600;
/// Movements read for one evaluation at most. A member with more in the lookback than this
/// is flagged by every rule that reads movements (see [`Facts::truncated`]).
pub const MAX_FACT_ROWS: i64 = 1_000;
/// The longest a review may stay open before the sweep rejects it (`ledger.review_ttl_h`).
pub const MAX_REVIEW_TTL_H: u32 = 30 * 24;

/// What a rule measures, as stored in `fraud_rules.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// More than `limit` outgoing operations in `window`, this one included.
    VelocityCount,
    /// More than `limit` points out in `window`, this operation's included.
    VelocityPoints,
    /// One operation of more than `limit` points.
    SinglePoints,
    /// Any outgoing operation within `window` after a transfer in of at least `limit` points.
    AfterTransferIn,
}

impl RuleKind {
    pub const ALL: [RuleKind; 4] = [
        Self::VelocityCount,
        Self::VelocityPoints,
        Self::SinglePoints,
        Self::AfterTransferIn,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VelocityCount => "velocity_count",
            Self::VelocityPoints => "velocity_points",
            Self::SinglePoints => "single_points",
            Self::AfterTransferIn => "after_transfer_in",
        }
    }

    /// Whether the rule reads the member's recent movements (all but the single-size rule).
    pub const fn reads_movements(self) -> bool {
        !matches!(self, Self::SinglePoints)
    }
}

/// A stored text that names no rule kind, operation or review state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {text:?}")]
pub struct Unknown {
    pub what: &'static str,
    pub text: String,
}

fn parse_one<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    what: &'static str,
    s: &str,
) -> Result<T, Unknown> {
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| Unknown {
            what,
            text: s.to_owned(),
        })
}

impl FromStr for RuleKind {
    type Err = Unknown;
    fn from_str(s: &str) -> Result<Self, Unknown> {
        parse_one(&Self::ALL, Self::as_str, "fraud rule kind", s)
    }
}

/// One configured rule (a `fraud_rules` row that passed [`FraudRule::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudRule {
    pub name: String,
    pub kind: RuleKind,
    pub limit: i64,
    pub window: Duration,
}

impl FraudRule {
    /// A rule with a positive limit and, for the rules that read movements, a window of
    /// 1..=[`MAX_WINDOW_S`] seconds; `None` otherwise.
    pub fn new(name: String, kind: RuleKind, limit: i64, window_s: i64) -> Option<Self> {
        let window_ok = !kind.reads_movements() || (1..=MAX_WINDOW_S).contains(&window_s);
        (limit > 0 && window_ok).then(|| Self {
            name,
            kind,
            limit,
            window: Duration::seconds(window_s.clamp(0, MAX_WINDOW_S)),
        })
    }
}

/// Every enabled rule, as of one poll of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FraudRules {
    pub rules: Vec<FraudRule>,
}

impl FraudRules {
    /// How far back the movements must be read; `None` when no rule reads them.
    pub fn lookback(&self) -> Option<Duration> {
        self.rules
            .iter()
            .filter(|r| r.kind.reads_movements())
            .map(|r| r.window)
            .max()
    }
}

/// Points moved at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Movement {
    pub at: DateTime<Utc>,
    pub points: i64,
}

/// The member's movements within the lookback, as read in the operation's transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Redemptions, holds (reviewed ones too) and transfers out: points positive.
    pub outgoing: Vec<Movement>,
    /// Transfers received.
    pub transfers_in: Vec<Movement>,
    /// More than [`MAX_FACT_ROWS`] movements in the lookback: the lists are incomplete.
    pub truncated: bool,
}

/// Why an operation was flagged: the rule, what was measured and the rule's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flag {
    pub rule: String,
    pub kind: RuleKind,
    /// Operations, points, or (after a transfer in) the largest transfer in the window.
    pub observed: i64,
    pub limit: i64,
}

/// The flags `rules` raise on an outgoing operation of `points` at `now`, given `facts`.
/// Sums saturate: a sum past `i64::MAX` is past every limit.
pub fn evaluate(rules: &FraudRules, facts: &Facts, points: i64, now: DateTime<Utc>) -> Vec<Flag> {
    rules
        .rules
        .iter()
        .filter_map(|rule| {
            let observed = measure(rule, facts, points, now);
            let flagged = match rule.kind {
                RuleKind::AfterTransferIn => observed >= rule.limit,
                _ => observed > rule.limit,
            } || (facts.truncated && rule.kind.reads_movements());
            flagged.then(|| Flag {
                rule: rule.name.clone(),
                kind: rule.kind,
                observed,
                limit: rule.limit,
            })
        })
        .collect()
}

/// What `rule` measures for this operation.
fn measure(rule: &FraudRule, facts: &Facts, points: i64, now: DateTime<Utc>) -> i64 {
    let since = now - rule.window;
    let within = |list: &[Movement]| {
        list.iter()
            .filter(move |m| m.at > since)
            .map(|m| m.points)
            .collect::<Vec<_>>()
    };
    match rule.kind {
        RuleKind::SinglePoints => points,
        RuleKind::VelocityCount => {
            i64::try_from(within(&facts.outgoing).len()).map_or(i64::MAX, |n| n.saturating_add(1))
        }
        RuleKind::VelocityPoints => within(&facts.outgoing)
            .into_iter()
            .fold(points, i64::saturating_add),
        RuleKind::AfterTransferIn => within(&facts.transfers_in).into_iter().max().unwrap_or(0),
    }
}

/// The operation a review holds back, as stored in `fraud_reviews.operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// A direct redemption: approval captures the hold in full.
    Redemption,
    /// A hold for a booking: approval makes it an ordinary active hold.
    Hold,
    /// A transfer out: approval sends the held points to the recipient.
    Transfer,
}

impl Operation {
    pub const ALL: [Operation; 3] = [Self::Redemption, Self::Hold, Self::Transfer];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Redemption => "redemption",
            Self::Hold => "hold",
            Self::Transfer => "transfer",
        }
    }
}

impl FromStr for Operation {
    type Err = Unknown;
    fn from_str(s: &str) -> Result<Self, Unknown> {
        parse_one(&Self::ALL, Self::as_str, "reviewed operation", s)
    }
}

/// Where a review stands, as stored in `fraud_reviews.state`: open until approved, rejected
/// or expired (rejected by the sweep after `ledger.review_ttl_h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Open,
    Approved,
    Rejected,
    Expired,
}

impl ReviewState {
    pub const ALL: [ReviewState; 4] = [Self::Open, Self::Approved, Self::Rejected, Self::Expired];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

impl FromStr for ReviewState {
    type Err = Unknown;
    fn from_str(s: &str) -> Result<Self, Unknown> {
        parse_one(&Self::ALL, Self::as_str, "review state", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn rule(kind: RuleKind, limit: i64, window_s: i64) -> FraudRules {
        FraudRules {
            rules: vec![FraudRule::new("r".into(), kind, limit, window_s).unwrap()],
        }
    }

    fn ago(s: i64, points: i64) -> Movement {
        Movement {
            at: now() - Duration::seconds(s),
            points,
        }
    }

    fn flagged(rules: &FraudRules, facts: &Facts, points: i64) -> Option<i64> {
        let flags = evaluate(rules, facts, points, now());
        flags.first().map(|f| f.observed)
    }

    #[test]
    fn each_rule_flags_just_past_its_limit_and_not_at_it() {
        let three_out = Facts {
            outgoing: vec![ago(10, 100), ago(20, 100), ago(30, 100)],
            ..Facts::default()
        };
        let received = |points| Facts {
            transfers_in: vec![ago(60, points)],
            ..Facts::default()
        };
        // (rule, facts, this operation's points, observed when flagged)
        let cases = [
            (
                rule(RuleKind::VelocityCount, 4, 3600),
                three_out.clone(),
                1,
                None,
            ),
            (
                rule(RuleKind::VelocityCount, 3, 3600),
                three_out.clone(),
                1,
                Some(4),
            ),
            (
                rule(RuleKind::VelocityPoints, 400, 3600),
                three_out.clone(),
                100,
                None,
            ),
            (
                rule(RuleKind::VelocityPoints, 400, 3600),
                three_out.clone(),
                101,
                Some(401),
            ),
            (
                rule(RuleKind::SinglePoints, 500, 0),
                Facts::default(),
                500,
                None,
            ),
            (
                rule(RuleKind::SinglePoints, 500, 0),
                Facts::default(),
                501,
                Some(501),
            ),
            (
                rule(RuleKind::AfterTransferIn, 1_000, 3600),
                received(999),
                1,
                None,
            ),
            (
                rule(RuleKind::AfterTransferIn, 1_000, 3600),
                received(1_000),
                1,
                Some(1_000),
            ),
        ];
        for (i, (rules, facts, points, expected)) in cases.into_iter().enumerate() {
            assert_eq!(flagged(&rules, &facts, points), expected, "case {i}");
        }
    }

    #[test]
    fn movements_at_or_before_the_window_start_do_not_count() {
        let facts = Facts {
            outgoing: vec![ago(3600, 100), ago(3599, 100)],
            transfers_in: vec![ago(3600, 5_000)],
            truncated: false,
        };
        assert_eq!(
            flagged(&rule(RuleKind::VelocityCount, 1, 3600), &facts, 1),
            Some(2)
        );
        assert_eq!(
            flagged(&rule(RuleKind::VelocityCount, 2, 3600), &facts, 1),
            None
        );
        assert_eq!(
            flagged(&rule(RuleKind::AfterTransferIn, 1, 3600), &facts, 1),
            None
        );
    }

    #[test]
    fn a_truncated_history_flags_every_rule_that_reads_movements() {
        let facts = Facts {
            truncated: true,
            ..Facts::default()
        };
        assert!(flagged(&rule(RuleKind::VelocityCount, 100, 60), &facts, 1).is_some());
        assert!(flagged(&rule(RuleKind::AfterTransferIn, 100, 60), &facts, 1).is_some());
        assert!(flagged(&rule(RuleKind::SinglePoints, 100, 0), &facts, 1).is_none());
    }

    #[test]
    fn sums_saturate_instead_of_overflowing() {
        let facts = Facts {
            outgoing: vec![ago(1, i64::MAX)],
            ..Facts::default()
        };
        assert_eq!(
            flagged(&rule(RuleKind::VelocityPoints, i64::MAX - 1, 60), &facts, 5),
            Some(i64::MAX)
        );
    }

    #[test]
    fn rules_out_of_bounds_are_not_built_and_the_lookback_is_the_longest_window() {
        assert!(FraudRule::new("x".into(), RuleKind::VelocityCount, 0, 60).is_none());
        assert!(FraudRule::new("x".into(), RuleKind::VelocityCount, 1, 0).is_none());
        assert!(FraudRule::new("x".into(), RuleKind::VelocityCount, 1, MAX_WINDOW_S + 1).is_none());
        assert!(FraudRule::new("x".into(), RuleKind::SinglePoints, 1, 0).is_some());
        let rules = FraudRules {
            rules: vec![
                FraudRule::new("a".into(), RuleKind::VelocityCount, 1, 60).unwrap(),
                FraudRule::new("b".into(), RuleKind::AfterTransferIn, 1, 600).unwrap(),
                FraudRule::new("c".into(), RuleKind::SinglePoints, 1, 0).unwrap(),
            ],
        };
        assert_eq!(rules.lookback(), Some(Duration::seconds(600)));
        assert_eq!(rule(RuleKind::SinglePoints, 1, 0).lookback(), None);
    }

    #[test]
    fn stored_names_round_trip_and_unknown_ones_are_errors() {
        for k in RuleKind::ALL {
            assert_eq!(k.as_str().parse(), Ok(k));
        }
        for o in Operation::ALL {
            assert_eq!(o.as_str().parse(), Ok(o));
        }
        for s in ReviewState::ALL {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
        assert!("velocity".parse::<RuleKind>().is_err());
        assert!("refund".parse::<Operation>().is_err());
        assert!("pending".parse::<ReviewState>().is_err());
    }
}
