//! Whether two campaigns ever apply at the same instant, and the Exclusive-overlap rule the
//! operator enforces and `loyalty-campaigns lint` reports.
//!
//! Windows alone are not enough: a weekend campaign and a weekday campaign of the same year
//! never apply together, and "Saturday in Paris" and "Saturday in New York" share only a few
//! hours. The walk below visits every instant at which either campaign starts or stops
//! applying (window bounds, recurrence boundaries in each timezone, daylight-saving changes),
//! so it is exact to the second.

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use super::{Campaign, CampaignSpec, StackingMode};

impl CampaignSpec {
    /// The first instant at which both campaigns are active, or `None` if they never are.
    pub fn first_shared_instant(&self, other: &CampaignSpec) -> Option<DateTime<Utc>> {
        let end = self.window.end.min(other.window.end);
        let mut at = self.window.start.max(other.window.start);
        while at < end {
            if self.is_active_at(at) && other.is_active_at(at) {
                return Some(at);
            }
            // Between two transitions of either campaign neither answer changes.
            at = [
                self.next_transition_after(at),
                other.next_transition_after(at),
            ]
            .into_iter()
            .flatten()
            .min()?;
        }
        None
    }
}

/// Two Exclusive campaigns of one priority that apply at the same instant: which one is
/// refused, because of which, and from when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExclusiveConflict {
    /// `namespace/name` of the campaign that is kept (its name sorts first).
    pub kept: String,
    /// The priority both have.
    pub priority: i32,
    /// The first instant at which both would apply.
    pub from: DateTime<Utc>,
}

impl std::fmt::Display for ExclusiveConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "overlaps Exclusive campaign {} with the same priority {}: both apply at {}; \
             of two such campaigns the one whose name sorts later is refused",
            self.kept,
            self.priority,
            self.from.to_rfc3339(),
        )
    }
}

fn sort_key(c: &Campaign) -> (String, String) {
    (c.name_any(), c.namespace().unwrap_or_default())
}

fn is_exclusive_candidate(c: &Campaign) -> bool {
    c.spec.enabled
        && c.spec.stacking.mode == StackingMode::Exclusive
        && c.metadata.deletion_timestamp.is_none()
        && c.spec.validate().is_ok()
}

/// Whether two campaigns can ever apply to the same earn: both for bookings, or for
/// activities they both list. A booking campaign and an activity campaign never compete.
fn same_earns(a: &CampaignSpec, b: &CampaignSpec) -> bool {
    let (a, b) = (&a.eligibility.activities, &b.eligibility.activities);
    match (a.is_empty(), b.is_empty()) {
        (true, true) => true,
        (false, false) => a.iter().any(|kind| b.contains(kind)),
        _ => false,
    }
}

/// Why `this` must be refused because of another Exclusive campaign in `all`: the same
/// priority, an instant at which both apply to the same kind of earn (bookings, or an
/// activity both list), and the other's name sorts first (names, then namespaces). The other
/// criteria are not compared: two such campaigns are ambiguous enough to refuse whenever
/// their schedules meet.
pub fn exclusive_conflict<'a>(
    this: &Campaign,
    all: impl IntoIterator<Item = &'a Campaign>,
) -> Option<ExclusiveConflict> {
    if !is_exclusive_candidate(this) {
        return None;
    }
    let mut earlier: Vec<&Campaign> = all
        .into_iter()
        .filter(|o| is_exclusive_candidate(o) && sort_key(o) < sort_key(this))
        .filter(|o| o.spec.stacking.priority == this.spec.stacking.priority)
        .filter(|o| same_earns(&o.spec, &this.spec))
        .collect();
    earlier.sort_by_key(|o| sort_key(o));
    earlier.into_iter().find_map(|o| {
        let from = this.spec.first_shared_instant(&o.spec)?;
        Some(ExclusiveConflict {
            kept: format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()),
            priority: this.spec.stacking.priority,
            from,
        })
    })
}

#[cfg(test)]
mod tests;
