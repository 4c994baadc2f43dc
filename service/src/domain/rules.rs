//! The programme's earn rules, pure and deterministic: tier multiplier, then campaigns by
//! stacking mode (docs/rules.md). Caps and budgets need the database and are applied by the
//! earn transaction to the awards planned here.
//!
//! Evaluation order:
//! 1. base points: spend → EUR → product rate (ADR 0003), kept exact (a fraction);
//! 2. the member's tier multiplier on the exact base; floored once → `tier_points`;
//! 3. the campaigns active at the booking time whose eligibility matches: if any is
//!    Exclusive, the highest-priority Exclusive alone; otherwise every Additive plus the
//!    BestOf campaign worth the most. Each applied campaign grants
//!    floor(exact base × tier × (multiplier − 1)) + bonus points;
//! 4. (in the transaction) each grant is cut to the campaign's per-member cap and budget.
//!
//! An activity earn (a referral, a review, a streak) has no base or tier step: the campaigns
//! that list the activity stack the same way on the activity's points.

use loyalty_crds::campaign::{ActivityContext, CampaignSpec, EarnContext, StackingMode};
use loyalty_crds::common::Tier;
use serde::Serialize;

use super::{Invalid, PointsBreakdown};

const MILLI: i128 = 1_000;

/// A campaign as the service holds it: its resource's identity and validated spec.
#[derive(Debug, Clone)]
pub struct CampaignEntry {
    pub namespace: String,
    pub name: String,
    pub spec: CampaignSpec,
}

/// One rung of the tier ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierRule {
    pub tier: Tier,
    pub threshold: i64,
    pub multiplier_milli: i64,
}

/// The tier ladder, lowest threshold first; never empty (Basic at 0 is implied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierLadder(Vec<TierRule>);

impl TierLadder {
    pub fn new(mut rules: Vec<TierRule>) -> Self {
        if !rules.iter().any(|r| r.threshold == 0) {
            rules.push(TierRule {
                tier: Tier::Basic,
                threshold: 0,
                multiplier_milli: 1_000,
            });
        }
        rules.sort_by_key(|r| r.threshold);
        Self(rules)
    }

    /// The highest tier whose threshold `qualifying` reaches.
    pub fn tier_for(&self, qualifying: i64) -> Tier {
        self.0
            .iter()
            .rev()
            .find(|r| qualifying >= r.threshold)
            .map_or(Tier::Basic, |r| r.tier)
    }

    pub fn rule(&self, tier: Tier) -> TierRule {
        self.0
            .iter()
            .find(|r| r.tier == tier)
            .copied()
            .unwrap_or(TierRule {
                tier,
                threshold: 0,
                multiplier_milli: 1_000,
            })
    }
}

impl Default for TierLadder {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

/// A campaign's planned grant before caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PlannedAward {
    pub namespace: String,
    pub name: String,
    #[schema(schema_with = super::schema::stacking_mode)]
    pub mode: StackingMode,
    pub multiplier_milli: i64,
    pub bonus_points: i64,
    /// Points this campaign grants before its caps.
    pub points: i64,
}

/// What a booking earns before caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EarnPlan {
    pub tier: Tier,
    pub tier_multiplier_milli: i64,
    /// Base points with the tier multiplier, floored once.
    pub tier_points: i64,
    pub campaigns: Vec<PlannedAward>,
}

fn too_large() -> Invalid {
    Invalid::new("amount_too_large", "the spend is too large to evaluate")
}

/// floor(exact base × factor / scale), checked.
pub(super) fn scaled(base: &PointsBreakdown, factor: i128, scale: i128) -> Result<i64, Invalid> {
    let numerator = base
        .exact_numerator()
        .checked_mul(factor)
        .ok_or_else(too_large)?;
    let denominator = base
        .exact_denominator()
        .checked_mul(scale)
        .ok_or_else(too_large)?;
    i64::try_from(numerator / denominator).map_err(|_| too_large())
}

/// A campaign's effect: its multiplier in thousandths and its flat bonus.
fn effect(entry: &CampaignEntry) -> (i64, i64) {
    let effect = &entry.spec.effect;
    (
        i64::from(effect.multiplier_milli.unwrap_or(1_000)),
        effect.bonus_points.unwrap_or(0).max(0),
    )
}

fn planned(entry: &CampaignEntry, extra: i64, bonus: i64) -> Result<PlannedAward, Invalid> {
    let (multiplier, _) = effect(entry);
    Ok(PlannedAward {
        namespace: entry.namespace.clone(),
        name: entry.name.clone(),
        mode: entry.spec.stacking.mode,
        multiplier_milli: multiplier,
        bonus_points: bonus,
        points: extra.checked_add(bonus).ok_or_else(too_large)?,
    })
}

fn award(
    base: &PointsBreakdown,
    tier_milli: i64,
    entry: &CampaignEntry,
) -> Result<PlannedAward, Invalid> {
    let (multiplier, bonus) = effect(entry);
    let extra = i128::from(tier_milli) * i128::from(multiplier - 1_000);
    planned(entry, scaled(base, extra, MILLI * MILLI)?, bonus)
}

/// A campaign's addition to an activity's `points`: floor(points × (multiplier − 1)) + bonus.
fn activity_award(points: i64, entry: &CampaignEntry) -> Result<PlannedAward, Invalid> {
    let (multiplier, bonus) = effect(entry);
    let extra = i128::from(points) * i128::from(multiplier - 1_000) / MILLI;
    planned(entry, i64::try_from(extra).map_err(|_| too_large())?, bonus)
}

/// The campaigns that apply of those `applicable`, each priced by `price`: the
/// highest-priority Exclusive alone if there is one, otherwise every Additive plus the
/// BestOf worth the most.
fn stack(
    applicable: &[&CampaignEntry],
    price: impl Fn(&CampaignEntry) -> Result<PlannedAward, Invalid>,
) -> Result<Vec<PlannedAward>, Invalid> {
    // Highest priority first; the name breaks ties so the choice is deterministic.
    let rank = |c: &CampaignEntry| {
        (
            std::cmp::Reverse(c.spec.stacking.priority),
            c.namespace.clone(),
            c.name.clone(),
        )
    };
    let exclusive = applicable
        .iter()
        .filter(|c| c.spec.stacking.mode == StackingMode::Exclusive)
        .min_by_key(|c| rank(c));
    if let Some(winner) = exclusive {
        return Ok(vec![price(winner)?]);
    }
    let mut applied = Vec::new();
    let mut best: Option<(PlannedAward, &CampaignEntry)> = None;
    for entry in applicable {
        let planned = price(entry)?;
        match entry.spec.stacking.mode {
            StackingMode::Additive => applied.push(planned),
            StackingMode::BestOf => {
                let better = best.as_ref().is_none_or(|(b, be)| {
                    planned.points > b.points
                        || (planned.points == b.points && rank(entry) < rank(be))
                });
                if better {
                    best = Some((planned, entry));
                }
            }
            // None applies here: any Exclusive campaign was chosen above.
            StackingMode::Exclusive => {}
        }
    }
    applied.extend(best.map(|(b, _)| b));
    Ok(applied)
}

/// Plans the earn of a booking at `at` for a member of `ctx.tier`.
pub fn plan(
    base: &PointsBreakdown,
    ladder: &TierLadder,
    campaigns: &[CampaignEntry],
    ctx: &EarnContext<'_>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<EarnPlan, Invalid> {
    let tier_milli = ladder.rule(ctx.tier).multiplier_milli;
    let tier_points = scaled(base, i128::from(tier_milli), MILLI)?;
    let applicable: Vec<&CampaignEntry> = campaigns
        .iter()
        .filter(|c| c.spec.enabled && c.spec.applies_to(ctx, at))
        .collect();
    Ok(EarnPlan {
        tier: ctx.tier,
        tier_multiplier_milli: tier_milli,
        tier_points,
        campaigns: stack(&applicable, |c| award(base, tier_milli, c))?,
    })
}

/// Plans what the campaigns for activities add to an activity earn of `points` (as the
/// activity's own caps left them) at `at`. Nothing is added to an earn of no points.
pub fn plan_activity(
    points: i64,
    campaigns: &[CampaignEntry],
    ctx: &ActivityContext<'_>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PlannedAward>, Invalid> {
    if points <= 0 {
        return Ok(Vec::new());
    }
    let applicable: Vec<&CampaignEntry> = campaigns
        .iter()
        .filter(|c| c.spec.enabled && c.spec.applies_to_activity(ctx, at))
        .collect();
    stack(&applicable, |c| activity_award(points, c))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use loyalty_crds::campaign::{CampaignWindow, Caps, Effect, Eligibility, Stacking};
    use loyalty_crds::common::{Channel, RegionName, ResidencyGroup};
    use proptest::prelude::*;

    use super::*;
    use crate::domain::earn::tests::rates;
    use crate::domain::{Spend, compute_base_points};

    fn entry(
        name: &str,
        mode: StackingMode,
        priority: i32,
        multiplier_milli: Option<i32>,
        bonus: Option<i64>,
    ) -> CampaignEntry {
        CampaignEntry {
            namespace: "m".into(),
            name: name.into(),
            spec: CampaignSpec {
                display_name: name.into(),
                description: String::new(),
                window: CampaignWindow {
                    start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                    end: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
                    timezone: "UTC".into(),
                    recurrence: None,
                },
                eligibility: Eligibility::default(),
                effect: Effect {
                    multiplier_milli,
                    bonus_points: bonus,
                },
                stacking: Stacking { mode, priority },
                caps: Caps::default(),
                lot_expiry_days: None,
                enabled: true,
            },
        }
    }

    use loyalty_crds::common::ProductType;

    fn plan_for(amount_minor: i64, tier: Tier, campaigns: &[CampaignEntry]) -> (i64, EarnPlan) {
        let spend = Spend::new(amount_minor, "USD").unwrap();
        let base = compute_base_points(&spend, ProductType::Hotel, &rates()).unwrap();
        let ladder = TierLadder::new(vec![
            TierRule {
                tier: Tier::Silver,
                threshold: 5_000,
                multiplier_milli: 1_250,
            },
            TierRule {
                tier: Tier::Gold,
                threshold: 20_000,
                multiplier_milli: 1_500,
            },
        ]);
        let group = ResidencyGroup::new("eu").unwrap();
        let region = RegionName::new("eu-west-1").unwrap();
        let ctx = EarnContext {
            product_type: ProductType::Hotel,
            tier,
            residency_group: &group,
            region: &region,
            partner: None,
            channel: Channel::Web,
            spend: spend.money(),
        };
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let plan = plan(&base, &ladder, campaigns, &ctx, at).unwrap();
        let total = plan.tier_points + plan.campaigns.iter().map(|c| c.points).sum::<i64>();
        (total, plan)
    }

    fn campaigns() -> Vec<CampaignEntry> {
        vec![
            entry("a", StackingMode::Additive, 1, Some(1_500), Some(10)),
            entry("b", StackingMode::BestOf, 1, Some(2_000), None),
            entry("c", StackingMode::BestOf, 2, None, Some(500)),
        ]
    }

    proptest! {
        #[test]
        fn earned_points_are_monotone_in_spend_and_never_negative(
            a in 1i64..100_000_000, b in 1i64..100_000_000, tier_index in 0usize..3
        ) {
            let tier = [Tier::Basic, Tier::Silver, Tier::Gold][tier_index];
            let (lo, hi) = (a.min(b), a.max(b));
            let (total_lo, plan_lo) = plan_for(lo, tier, &campaigns());
            let (total_hi, _) = plan_for(hi, tier, &campaigns());
            prop_assert!(total_lo >= 0);
            prop_assert!(plan_lo.campaigns.iter().all(|c| c.points >= 0));
            prop_assert!(total_lo <= total_hi);
        }
    }

    #[test]
    fn an_exclusive_campaign_applies_alone() {
        let mut list = campaigns();
        list.push(entry("x", StackingMode::Exclusive, 0, Some(1_100), None));
        let (_, plan) = plan_for(10_000, Tier::Basic, &list);
        let names: Vec<&str> = plan.campaigns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["x"]);
    }

    #[test]
    fn activity_campaigns_stack_on_the_activitys_points_and_booking_ones_do_not() {
        use loyalty_crds::common::ActivityKind;
        let group = ResidencyGroup::new("eu").unwrap();
        let region = RegionName::new("eu-west-1").unwrap();
        let ctx = ActivityContext {
            activity: ActivityKind::Review,
            tier: Tier::Basic,
            residency_group: &group,
            region: &region,
        };
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let for_reviews = |mut c: CampaignEntry| {
            c.spec.eligibility.activities = vec![ActivityKind::Review];
            c
        };
        let mut list = campaigns(); // booking campaigns: none applies
        list.push(for_reviews(entry(
            "r-double",
            StackingMode::BestOf,
            0,
            Some(2_000),
            None,
        )));
        list.push(for_reviews(entry(
            "r-bonus",
            StackingMode::BestOf,
            0,
            None,
            Some(30),
        )));
        list.push(for_reviews(entry(
            "r-plus",
            StackingMode::Additive,
            0,
            Some(1_333),
            Some(1),
        )));
        let planned = plan_activity(50, &list, &ctx, at).unwrap();
        let got: Vec<(&str, i64)> = planned
            .iter()
            .map(|p| (p.name.as_str(), p.points))
            .collect();
        // 50 × 0.333 = 16.65 → 16, + 1; the best BestOf is the double (50 > 30).
        assert_eq!(got, vec![("r-plus", 17), ("r-double", 50)]);
        assert_eq!(plan_activity(0, &list, &ctx, at).unwrap(), vec![]);
        let streak = ActivityContext {
            activity: ActivityKind::Streak,
            ..ctx
        };
        assert_eq!(plan_activity(50, &list, &streak, at).unwrap(), vec![]);
    }

    #[test]
    fn the_tier_ladder_picks_the_highest_threshold_reached() {
        let ladder = TierLadder::new(vec![TierRule {
            tier: Tier::Silver,
            threshold: 5_000,
            multiplier_milli: 1_250,
        }]);
        assert_eq!(ladder.tier_for(4_999), Tier::Basic);
        assert_eq!(ladder.tier_for(5_000), Tier::Silver);
    }
}
