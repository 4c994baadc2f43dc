//! Schedule tests: window boundaries, weekly recurrence and daylight-saving changes.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::campaign::CampaignSpec;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn campaign(window: serde_json::Value) -> CampaignSpec {
    serde_json::from_value(serde_json::json!({
        "displayName": "test",
        "window": window,
        "effect": { "multiplierMilli": 2000 },
    }))
    .unwrap()
}

/// Double points at weekends in Paris, over the whole of 2026.
fn paris_weekends() -> CampaignSpec {
    campaign(serde_json::json!({
        "start": "2026-01-01T00:00:00+01:00",
        "end": "2027-01-01T00:00:00+01:00",
        "timezone": "Europe/Paris",
        "recurrence": { "daysOfWeek": ["Saturday", "Sunday"] },
    }))
}

#[test]
fn window_start_is_inclusive_and_end_is_exclusive() {
    let c = campaign(serde_json::json!({
        "start": "2026-07-01T00:00:00+02:00",
        "end": "2026-08-01T00:00:00+02:00",
        "timezone": "Europe/Paris",
    }));
    assert!(!c.is_active_at(utc(2026, 6, 30, 21, 59, 59)));
    assert!(c.is_active_at(utc(2026, 6, 30, 22, 0, 0)));
    assert!(c.is_active_at(utc(2026, 7, 31, 21, 59, 59)));
    assert!(!c.is_active_at(utc(2026, 7, 31, 22, 0, 0)));
}

#[test]
fn a_window_without_recurrence_transitions_at_its_start_then_its_end_then_never() {
    let c = campaign(serde_json::json!({
        "start": "2026-07-01T00:00:00Z",
        "end": "2026-08-01T00:00:00Z",
    }));
    let before = utc(2026, 6, 1, 0, 0, 0);
    assert_eq!(
        c.next_transition_after(before),
        Some(utc(2026, 7, 1, 0, 0, 0))
    );
    assert_eq!(
        c.next_transition_after(utc(2026, 7, 1, 0, 0, 0)),
        Some(utc(2026, 8, 1, 0, 0, 0))
    );
    assert_eq!(c.next_transition_after(utc(2026, 8, 1, 0, 0, 0)), None);
}

#[test]
fn a_paris_weekend_across_the_march_change_runs_saturday_midnight_to_monday_midnight_local() {
    // 29 March 2026 is the last Sunday of March: clocks go from 02:00 CET to 03:00 CEST.
    let c = paris_weekends();
    let saturday_start = utc(2026, 3, 27, 23, 0, 0); // Sat 00:00 CET
    let monday_start = utc(2026, 3, 29, 22, 0, 0); // Mon 00:00 CEST
    assert!(!c.is_active_at(saturday_start - Duration::seconds(1)));
    assert!(c.is_active_at(saturday_start));
    assert!(
        c.is_active_at(utc(2026, 3, 29, 1, 30, 0)),
        "right after the change"
    );
    assert!(c.is_active_at(monday_start - Duration::seconds(1)));
    assert!(!c.is_active_at(monday_start));
    assert_eq!(monday_start - saturday_start, Duration::hours(47));
    assert_eq!(
        c.next_transition_after(utc(2026, 3, 27, 12, 0, 0)),
        Some(saturday_start)
    );
    assert_eq!(c.next_transition_after(saturday_start), Some(monday_start));
}

#[test]
fn a_paris_weekend_across_the_october_change_lasts_forty_nine_hours() {
    // 25 October 2026 is the last Sunday of October: clocks go from 03:00 CEST to 02:00 CET.
    let c = paris_weekends();
    let saturday_start = utc(2026, 10, 23, 22, 0, 0); // Sat 00:00 CEST
    let monday_start = utc(2026, 10, 25, 23, 0, 0); // Mon 00:00 CET
    assert!(!c.is_active_at(saturday_start - Duration::seconds(1)));
    assert!(c.is_active_at(saturday_start));
    assert!(c.is_active_at(monday_start - Duration::seconds(1)));
    assert!(!c.is_active_at(monday_start));
    assert_eq!(monday_start - saturday_start, Duration::hours(49));
    assert_eq!(
        c.next_transition_after(utc(2026, 10, 20, 0, 0, 0)),
        Some(saturday_start)
    );
    assert_eq!(
        c.next_transition_after(utc(2026, 10, 25, 1, 30, 0)),
        Some(monday_start)
    );
}

#[test]
fn hours_skipped_by_the_spring_change_never_happen_and_the_next_week_is_found() {
    let c = campaign(serde_json::json!({
        "start": "2026-01-01T00:00:00Z",
        "end": "2027-01-01T00:00:00Z",
        "timezone": "Europe/Paris",
        "recurrence": { "daysOfWeek": ["Sunday"], "startTime": "02:00", "endTime": "03:00" },
    }));
    // On 29 March the local hour 02:00-03:00 does not exist.
    for minute in 0..180 {
        let t = utc(2026, 3, 29, 0, 0, 0) + Duration::minutes(minute);
        assert!(!c.is_active_at(t), "{t}");
    }
    // The next Sunday 02:00 CEST is 00:00 UTC on 5 April.
    assert_eq!(
        c.next_transition_after(utc(2026, 3, 28, 12, 0, 0)),
        Some(utc(2026, 4, 5, 0, 0, 0))
    );
}

#[test]
fn hours_repeated_by_the_autumn_change_apply_twice() {
    let c = campaign(serde_json::json!({
        "start": "2026-01-01T00:00:00Z",
        "end": "2027-01-01T00:00:00Z",
        "timezone": "Europe/Paris",
        "recurrence": { "daysOfWeek": ["Sunday"], "startTime": "02:00", "endTime": "03:00" },
    }));
    // 02:00 CEST is 00:00 UTC; 02:59 CET is 01:59 UTC: two wall-clock hours, back to back.
    assert!(!c.is_active_at(utc(2026, 10, 24, 23, 59, 59)));
    assert!(c.is_active_at(utc(2026, 10, 25, 0, 0, 0)));
    assert!(
        c.is_active_at(utc(2026, 10, 25, 1, 0, 0)),
        "the repeated 02:00"
    );
    assert!(c.is_active_at(utc(2026, 10, 25, 1, 59, 59)));
    assert!(!c.is_active_at(utc(2026, 10, 25, 2, 0, 0)));
    assert_eq!(
        c.next_transition_after(utc(2026, 10, 25, 0, 30, 0)),
        Some(utc(2026, 10, 25, 2, 0, 0))
    );
}

#[test]
fn daily_hours_end_exclusively_and_24_00_means_the_end_of_the_day() {
    let c = campaign(serde_json::json!({
        "start": "2026-01-01T00:00:00Z",
        "end": "2027-01-01T00:00:00Z",
        "timezone": "UTC",
        "recurrence": { "startTime": "18:00", "endTime": "24:00" },
    }));
    assert!(!c.is_active_at(utc(2026, 5, 5, 17, 59, 59)));
    assert!(c.is_active_at(utc(2026, 5, 5, 18, 0, 0)));
    assert!(c.is_active_at(utc(2026, 5, 5, 23, 59, 59)));
    assert!(!c.is_active_at(utc(2026, 5, 6, 0, 0, 0)));
    assert_eq!(
        c.next_transition_after(utc(2026, 5, 5, 20, 0, 0)),
        Some(utc(2026, 5, 6, 0, 0, 0))
    );
}

#[test]
fn a_recurrence_starting_before_the_window_begins_at_the_window_start() {
    let c = campaign(serde_json::json!({
        "start": "2026-03-28T12:00:00+01:00",
        "end": "2026-04-30T00:00:00+02:00",
        "timezone": "Europe/Paris",
        "recurrence": { "daysOfWeek": ["Saturday", "Sunday"] },
    }));
    assert_eq!(
        c.next_transition_after(utc(2026, 3, 1, 0, 0, 0)),
        Some(utc(2026, 3, 28, 11, 0, 0))
    );
}

#[test]
fn a_disabled_campaign_or_an_unknown_timezone_is_never_active() {
    let mut c = paris_weekends();
    let saturday_noon = utc(2026, 3, 28, 11, 0, 0);
    assert!(c.is_active_at(saturday_noon));
    c.enabled = false;
    assert!(!c.is_active_at(saturday_noon));
    assert_eq!(c.next_transition_after(saturday_noon), None);
    c.enabled = true;
    c.window.timezone = "Mars/Olympus_Mons".into();
    assert!(!c.is_active_at(saturday_noon));
    assert_eq!(c.next_transition_after(saturday_noon), None);
}

/// Checks `next_transition_after` against a minute-by-minute scan of `is_active_at`.
fn assert_matches_brute_force(c: &CampaignSpec, from: DateTime<Utc>, days: i64) {
    let horizon = from + Duration::days(days);
    let mut at = from;
    while at < horizon {
        let active = c.is_active_at(at);
        let mut expected = None;
        let mut t = at + Duration::minutes(1);
        while t < horizon + Duration::days(10) {
            if c.is_active_at(t) != active {
                expected = Some(t);
                break;
            }
            t += Duration::minutes(1);
        }
        let got = c.next_transition_after(at);
        match expected {
            Some(e) => assert_eq!(got, Some(e), "after {at}"),
            None => assert!(
                got.is_none_or(|g| g >= horizon + Duration::days(10)),
                "after {at}"
            ),
        }
        at += Duration::minutes(97);
    }
}

#[test]
fn next_transition_matches_a_minute_by_minute_scan_around_both_paris_changes() {
    let c = campaign(serde_json::json!({
        "start": "2026-01-01T00:00:00Z",
        "end": "2027-01-01T00:00:00Z",
        "timezone": "Europe/Paris",
        "recurrence": { "daysOfWeek": ["Friday", "Sunday"], "startTime": "01:30", "endTime": "02:30" },
    }));
    assert_matches_brute_force(&c, utc(2026, 3, 20, 0, 0, 0), 14);
    assert_matches_brute_force(&c, utc(2026, 10, 18, 0, 0, 0), 14);
}

#[test]
fn next_transition_matches_a_scan_in_a_half_hour_daylight_saving_zone() {
    // Lord Howe Island moves its clocks by thirty minutes, on the first Sunday of April.
    let c = campaign(serde_json::json!({
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-05-01T00:00:00Z",
        "timezone": "Australia/Lord_Howe",
        "recurrence": { "daysOfWeek": ["Sunday"], "startTime": "01:00", "endTime": "02:15" },
    }));
    assert_matches_brute_force(&c, utc(2026, 3, 28, 0, 0, 0), 14);
}
