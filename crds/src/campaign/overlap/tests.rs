//! Overlap tests at the boundaries: recurrences in different timezones that meet or only
//! touch, across midnight and across the weeks in which only one side changed its clocks.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::campaign::{Campaign, CampaignSpec, exclusive_conflict};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn spec(start: &str, end: &str, timezone: &str, recurrence: Value) -> CampaignSpec {
    serde_json::from_value(json!({
        "displayName": "test",
        "window": { "start": start, "end": end, "timezone": timezone, "recurrence": recurrence },
        "effect": { "multiplierMilli": 2000 },
        "stacking": { "mode": "Exclusive" },
    }))
    .unwrap()
}

/// Every Saturday of 2026, Paris time.
fn paris_saturdays() -> CampaignSpec {
    spec(
        "2026-01-01T00:00:00+01:00",
        "2027-01-01T00:00:00+01:00",
        "Europe/Paris",
        json!({ "daysOfWeek": ["Saturday"] }),
    )
}

/// Fridays from `from` to `to` (New York time) between `start` and `end`.
fn new_york_fridays(start: &str, end: &str, from: &str, to: &str) -> CampaignSpec {
    spec(
        start,
        end,
        "America/New_York",
        json!({ "daysOfWeek": ["Friday"], "startTime": from, "endTime": to }),
    )
}

#[test]
fn weekends_and_weekdays_of_one_window_never_overlap() {
    let weekdays = spec(
        "2026-01-01T00:00:00+01:00",
        "2027-01-01T00:00:00+01:00",
        "Europe/Paris",
        json!({ "daysOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Sunday"] }),
    );
    // The windows are the same year: comparing windows alone would call this an overlap.
    assert_eq!(paris_saturdays().first_shared_instant(&weekdays), None);
    assert_eq!(weekdays.first_shared_instant(&paris_saturdays()), None);
}

#[test]
fn a_friday_evening_in_new_york_is_a_saturday_night_in_paris() {
    let evening = new_york_fridays(
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        "18:00",
        "24:00",
    );
    // Friday 2026-01-02 18:00 in New York (UTC-5) is Saturday 00:00 in Paris (UTC+1).
    let first = Some(utc(2026, 1, 2, 23, 0));
    assert_eq!(paris_saturdays().first_shared_instant(&evening), first);
    assert_eq!(evening.first_shared_instant(&paris_saturdays()), first);
}

#[test]
fn intervals_that_only_touch_at_midnight_do_not_overlap() {
    // Friday 12:00 to 18:00 in New York ends at the instant Saturday begins in Paris.
    let afternoon = new_york_fridays(
        "2026-01-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        "12:00",
        "18:00",
    );
    assert_eq!(paris_saturdays().first_shared_instant(&afternoon), None);
}

#[test]
fn in_the_weeks_only_new_york_has_changed_its_clocks_the_offsets_differ_by_five_hours() {
    // New York moves to summer time on 2026-03-08, Paris only on 2026-03-29: in between,
    // Friday 18:00 to 19:00 in New York is Friday 23:00 to 24:00 in Paris, not Saturday.
    let dst_gap = new_york_fridays(
        "2026-03-09T00:00:00Z",
        "2026-03-28T00:00:00Z",
        "18:00",
        "19:00",
    );
    assert_eq!(paris_saturdays().first_shared_instant(&dst_gap), None);
    // The same hour in the first week of both summers is Saturday 00:00 in Paris again.
    let summer = new_york_fridays(
        "2026-03-29T00:00:00Z",
        "2026-04-30T00:00:00Z",
        "18:00",
        "19:00",
    );
    assert_eq!(
        paris_saturdays().first_shared_instant(&summer),
        Some(utc(2026, 4, 3, 22, 0))
    );
}

fn campaign(name: &str, spec: CampaignSpec) -> Campaign {
    let mut c = Campaign::new(name, spec);
    c.metadata.namespace = Some("marketing-eu".into());
    c
}

#[test]
fn of_two_exclusive_campaigns_that_meet_the_later_name_is_refused() {
    let a = campaign("a-saturdays", paris_saturdays());
    let evening = new_york_fridays(
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        "18:00",
        "24:00",
    );
    let b = campaign("b-evenings", evening);
    let all = [a.clone(), b.clone()];
    assert_eq!(exclusive_conflict(&a, &all), None);
    let conflict = exclusive_conflict(&b, &all).expect("b is refused");
    assert_eq!(conflict.kept, "marketing-eu/a-saturdays");
    assert_eq!(conflict.from, utc(2026, 1, 2, 23, 0));
    let mut other_priority = b.clone();
    other_priority.spec.stacking.priority = 1;
    assert_eq!(exclusive_conflict(&other_priority, &all), None);
}

#[test]
fn exclusive_campaigns_for_different_earns_never_conflict() {
    use crate::common::ActivityKind;
    let bookings = campaign("a-bookings", paris_saturdays());
    let mut reviews = campaign("b-reviews", paris_saturdays());
    reviews.spec.eligibility.activities = vec![ActivityKind::Review];
    let mut streaks = campaign("c-streaks-and-reviews", paris_saturdays());
    streaks.spec.eligibility.activities = vec![ActivityKind::Streak, ActivityKind::Review];
    let all = [bookings.clone(), reviews.clone(), streaks.clone()];
    assert_eq!(
        exclusive_conflict(&reviews, &all),
        None,
        "a review campaign does not compete with a booking campaign"
    );
    let conflict = exclusive_conflict(&streaks, &all).expect("both add to reviews");
    assert_eq!(conflict.kept, "marketing-eu/b-reviews");
}
