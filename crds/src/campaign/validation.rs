//! Campaign validation beyond the schema and CEL rules.
//!
//! The operator runs it before publishing a campaign, and the service may run it again on
//! what it reads from the database: a spec written by an older operator, or inserted by hand,
//! must not grant points it should not.

use std::collections::BTreeSet;

use super::{
    CampaignSpec, MAX_BONUS_POINTS, MAX_LOT_EXPIRY_DAYS, MAX_MULTIPLIER_MILLI, MIN_MULTIPLIER_MILLI,
};
use crate::ValidationIssue;

/// Pushes an issue for every value listed more than once.
fn check_unique<T: Ord + std::fmt::Debug>(
    field: &str,
    list: &[T],
    issues: &mut Vec<ValidationIssue>,
) {
    let mut seen = BTreeSet::new();
    for value in list {
        if !seen.insert(value) {
            issues.push(ValidationIssue::new(
                field,
                format!("{value:?} is listed twice"),
            ));
        }
    }
}

impl CampaignSpec {
    /// Every problem with the spec, or `Ok` when the campaign can be published.
    ///
    /// Checks what CEL cannot (that the timezone is an IANA name) and repeats what the schema
    /// and CEL check (window order, effect bounds, caps), so that a spec that never went
    /// through the API server is held to the same rules.
    pub fn validate(&self) -> Result<(), Vec<ValidationIssue>> {
        let mut issues = Vec::new();
        if self.display_name.trim().is_empty() {
            issues.push(ValidationIssue::new(
                "spec.displayName",
                "displayName must not be empty",
            ));
        }
        self.validate_window(&mut issues);
        self.validate_eligibility(&mut issues);
        self.validate_effect(&mut issues);
        let caps = &self.caps;
        for (field, value) in [
            ("spec.caps.perMemberPoints", caps.per_member_points),
            ("spec.caps.budgetPoints", caps.budget_points),
        ] {
            if value.is_some_and(|v| v < 1) {
                issues.push(ValidationIssue::new(
                    field,
                    "a cap must be at least 1 point",
                ));
            }
        }
        if self
            .lot_expiry_days
            .is_some_and(|d| !(1..=MAX_LOT_EXPIRY_DAYS).contains(&d))
        {
            issues.push(ValidationIssue::new(
                "spec.lotExpiryDays",
                format!("lotExpiryDays must be 1 to {MAX_LOT_EXPIRY_DAYS}"),
            ));
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }

    fn validate_window(&self, issues: &mut Vec<ValidationIssue>) {
        let window = &self.window;
        if window.end <= window.start {
            issues.push(ValidationIssue::new(
                "spec.window.end",
                "window.end must be after window.start",
            ));
        }
        if self.timezone().is_none() {
            issues.push(ValidationIssue::new(
                "spec.window.timezone",
                format!(
                    "{:?} is not an IANA timezone name such as Europe/Paris",
                    window.timezone
                ),
            ));
        }
        if let Some(recurrence) = &window.recurrence {
            if let (Some(start), Some(end)) = (recurrence.start_time, recurrence.end_time)
                && end <= start
            {
                issues.push(ValidationIssue::new(
                    "spec.window.recurrence.endTime",
                    "recurrence.endTime must be after recurrence.startTime (an interval cannot cross midnight)",
                ));
            }
            if recurrence.start_time == Some(super::TimeOfDay::END_OF_DAY) {
                issues.push(ValidationIssue::new(
                    "spec.window.recurrence.startTime",
                    "startTime 24:00 leaves no time in the day",
                ));
            }
            let days: Vec<_> = recurrence
                .days_of_week
                .iter()
                .map(|d| format!("{d:?}"))
                .collect();
            check_unique("spec.window.recurrence.daysOfWeek", &days, issues);
        }
    }

    fn validate_eligibility(&self, issues: &mut Vec<ValidationIssue>) {
        let e = &self.eligibility;
        check_unique("spec.eligibility.productTypes", &e.product_types, issues);
        check_unique("spec.eligibility.tiers", &e.tiers, issues);
        check_unique(
            "spec.eligibility.residencyGroups",
            &e.residency_groups,
            issues,
        );
        check_unique("spec.eligibility.regions", &e.regions, issues);
        check_unique("spec.eligibility.partners", &e.partners, issues);
        check_unique("spec.eligibility.channels", &e.channels, issues);
        check_unique("spec.eligibility.activities", &e.activities, issues);
        if !e.activities.is_empty() && e.has_booking_criteria() {
            issues.push(ValidationIssue::new(
                "spec.eligibility",
                "a campaign for activities cannot require productTypes, partners, channels or minSpend: they describe bookings",
            ));
        }
        if e.min_spend.as_ref().is_some_and(|m| m.amount_minor < 0) {
            issues.push(ValidationIssue::new(
                "spec.eligibility.minSpend.amountMinor",
                "minSpend must not be negative",
            ));
        }
    }

    fn validate_effect(&self, issues: &mut Vec<ValidationIssue>) {
        let effect = &self.effect;
        if effect
            .multiplier_milli
            .is_some_and(|m| !(MIN_MULTIPLIER_MILLI..=MAX_MULTIPLIER_MILLI).contains(&m))
        {
            issues.push(ValidationIssue::new(
                "spec.effect.multiplierMilli",
                format!(
                    "multiplierMilli must be {MIN_MULTIPLIER_MILLI} (1x) to {MAX_MULTIPLIER_MILLI} (10x)"
                ),
            ));
        }
        if effect
            .bonus_points
            .is_some_and(|b| !(0..=MAX_BONUS_POINTS).contains(&b))
        {
            issues.push(ValidationIssue::new(
                "spec.effect.bonusPoints",
                format!("bonusPoints must be 0 to {MAX_BONUS_POINTS}"),
            ));
        }
        if effect.multiplier_milli.is_none() && effect.bonus_points.unwrap_or(0) <= 0 {
            issues.push(ValidationIssue::new(
                "spec.effect",
                "effect needs multiplierMilli or a positive bonusPoints",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::campaign::CampaignSpec;

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "displayName": "Double points weekends",
            "window": {
                "start": "2026-01-01T00:00:00+01:00",
                "end": "2027-01-01T00:00:00+01:00",
                "timezone": "Europe/Paris",
                "recurrence": { "daysOfWeek": ["Saturday", "Sunday"] }
            },
            "eligibility": { "productTypes": ["hotel"] },
            "effect": { "multiplierMilli": 2000 },
            "caps": { "perMemberPoints": 10000, "perMemberWindow": "Month" }
        })
    }

    fn with(path: &[&str], value: serde_json::Value) -> CampaignSpec {
        let mut json = valid();
        let (last, parents) = path.split_last().unwrap();
        let mut node = &mut json;
        for key in parents {
            node = node.get_mut(*key).unwrap();
        }
        node[*last] = value;
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_well_formed_campaign_is_valid() {
        let spec: CampaignSpec = serde_json::from_value(valid()).unwrap();
        assert_eq!(spec.validate(), Ok(()));
        assert!(spec.enabled, "enabled defaults to true");
    }

    #[test]
    fn each_bad_field_is_reported_with_its_path() {
        let cases: Vec<(&[&str], serde_json::Value, &str)> = vec![
            (
                &["window", "timezone"],
                "Europe/Paname".into(),
                "spec.window.timezone",
            ),
            (
                &["window", "end"],
                "2025-12-31T00:00:00Z".into(),
                "spec.window.end",
            ),
            (
                &["window", "end"],
                "2026-01-01T00:00:00+01:00".into(),
                "spec.window.end",
            ),
            (
                &["window", "recurrence"],
                serde_json::json!({ "startTime": "20:00", "endTime": "08:00" }),
                "spec.window.recurrence.endTime",
            ),
            (
                &["window", "recurrence"],
                serde_json::json!({ "daysOfWeek": ["Monday", "Monday"] }),
                "spec.window.recurrence.daysOfWeek",
            ),
            (
                &["effect"],
                serde_json::json!({ "multiplierMilli": 999 }),
                "spec.effect.multiplierMilli",
            ),
            (
                &["effect"],
                serde_json::json!({ "multiplierMilli": 10001 }),
                "spec.effect.multiplierMilli",
            ),
            (&["effect"], serde_json::json!({}), "spec.effect"),
            (
                &["effect"],
                serde_json::json!({ "bonusPoints": 0 }),
                "spec.effect",
            ),
            (
                &["effect"],
                serde_json::json!({ "bonusPoints": -5 }),
                "spec.effect.bonusPoints",
            ),
            (
                &["caps"],
                serde_json::json!({ "budgetPoints": 0 }),
                "spec.caps.budgetPoints",
            ),
            (&["lotExpiryDays"], 0.into(), "spec.lotExpiryDays"),
            (&["displayName"], " ".into(), "spec.displayName"),
            (
                &["eligibility"],
                serde_json::json!({ "tiers": ["gold", "gold"] }),
                "spec.eligibility.tiers",
            ),
            (
                &["eligibility"],
                serde_json::json!({ "activities": ["review", "review"] }),
                "spec.eligibility.activities",
            ),
            (
                &["eligibility"],
                serde_json::json!({ "activities": ["review"], "productTypes": ["hotel"] }),
                "spec.eligibility",
            ),
            (
                &["eligibility"],
                serde_json::json!({ "activities": ["referral"], "minSpend": { "amountMinor": 1, "currency": "EUR" } }),
                "spec.eligibility",
            ),
        ];
        for (path, value, field) in cases {
            let spec = with(path, value.clone());
            let issues = spec.validate().expect_err(&format!("{path:?} = {value}"));
            assert!(
                issues.iter().any(|i| i.field == field),
                "{path:?} = {value}: expected an issue on {field}, got {issues:?}"
            );
        }
    }

    #[test]
    fn a_campaign_for_activities_is_valid_without_booking_criteria() {
        let spec = with(
            &["eligibility"],
            serde_json::json!({ "activities": ["referral", "streak"], "tiers": ["gold"] }),
        );
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn a_bonus_alone_is_a_valid_effect() {
        let spec = with(&["effect"], serde_json::json!({ "bonusPoints": 500 }));
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn unknown_product_types_and_tiers_do_not_deserialize() {
        let mut json = valid();
        json["eligibility"] = serde_json::json!({ "productTypes": ["cruise"] });
        assert!(serde_json::from_value::<CampaignSpec>(json).is_err());
        let mut json = valid();
        json["eligibility"] = serde_json::json!({ "tiers": ["platinum"] });
        assert!(serde_json::from_value::<CampaignSpec>(json).is_err());
    }
}
