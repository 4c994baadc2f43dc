//! The status condition every kind reports, shaped like `metav1.Condition`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell yet.
    Unknown,
}

/// One observation about an object, in the shape of Kubernetes' `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type in CamelCase, e.g. `Ready`. Unique within a status.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    /// Whether the condition holds: True, False or Unknown.
    pub status: ConditionStatus,
    /// A CamelCase, machine-readable reason for the last transition.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// A human-readable message about the last transition.
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub message: String,
    /// When the condition last changed status (RFC 3339).
    pub last_transition_time: DateTime<Utc>,
    /// The `metadata.generation` the controller had observed when it set the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition observed at `now` for the object's `generation`.
    pub fn new(
        type_: impl Into<String>,
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
        generation: Option<i64>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now,
            observed_generation: generation,
        }
    }

    /// Whether the status is `True`.
    /// A True or False condition, as the controllers set them from a check's outcome.
    pub fn from_bool(
        type_: &str,
        ok: bool,
        reason: &str,
        message: String,
        generation: Option<i64>,
        now: DateTime<Utc>,
    ) -> Self {
        let status = if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        Self::new(type_, status, reason, message, generation, now)
    }

    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Sets `new` in `conditions`, replacing the condition of the same type.
///
/// The last transition time only moves when the status changes, so an unchanged condition
/// re-applied on every reconcile keeps the time it first became what it is. Returns whether
/// the status changed (or the condition is new): the caller emits an Event exactly then.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            let changed = existing.status != new.status;
            let last_transition_time = if changed {
                new.last_transition_time
            } else {
                existing.last_transition_time
            };
            *existing = Condition {
                last_transition_time,
                ..new
            };
            changed
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// The condition of type `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of type `type_` is present and `True`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(Condition::is_true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
    }

    fn ready(status: ConditionStatus, reason: &str, now: DateTime<Utc>) -> Condition {
        Condition::new("Ready", status, reason, "", Some(1), now)
    }

    #[test]
    fn setting_a_new_condition_appends_it_and_reports_a_transition() {
        let mut conditions = Vec::new();
        assert!(set_condition(
            &mut conditions,
            ready(ConditionStatus::True, "Ok", at(1))
        ));
        assert_eq!(conditions.len(), 1);
        assert!(is_condition_true(&conditions, "Ready"));
    }

    #[test]
    fn reapplying_the_same_status_keeps_the_transition_time_but_updates_the_reason() {
        let mut conditions = vec![ready(ConditionStatus::True, "Ok", at(1))];
        assert!(!set_condition(
            &mut conditions,
            ready(ConditionStatus::True, "StillOk", at(2))
        ));
        let c = find_condition(&conditions, "Ready").unwrap();
        assert_eq!(c.last_transition_time, at(1));
        assert_eq!(c.reason, "StillOk");
    }

    #[test]
    fn changing_the_status_moves_the_transition_time() {
        let mut conditions = vec![ready(ConditionStatus::True, "Ok", at(1))];
        assert!(set_condition(
            &mut conditions,
            ready(ConditionStatus::False, "Down", at(2))
        ));
        let c = find_condition(&conditions, "Ready").unwrap();
        assert_eq!(c.last_transition_time, at(2));
        assert!(!is_condition_true(&conditions, "Ready"));
    }

    #[test]
    fn a_condition_serializes_with_kubernetes_field_names() {
        let json = serde_json::to_value(ready(ConditionStatus::Unknown, "Probing", at(1))).unwrap();
        assert_eq!(json["type"], "Ready");
        assert_eq!(json["status"], "Unknown");
        assert_eq!(json["lastTransitionTime"], "2026-03-01T01:00:00Z");
        assert_eq!(json["observedGeneration"], 1);
    }
}
