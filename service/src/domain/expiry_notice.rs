//! "Points expiring in 30, 7 and 1 days": which notice a lot is due, once per lot and
//! threshold (docs/events.md, `points.expiring`).

use chrono::{DateTime, Utc};

/// The thresholds, in days before expiry, from the widest.
pub const THRESHOLDS_DAYS: [i32; 3] = [30, 7, 1];

/// The threshold a lot expiring at `expires_at` is due a notice for at `now`, given the
/// thresholds already noticed: the tightest one it is within, unless that one was noticed.
/// A lot that enters a window late (earned with a short expiry, or a sweep that did not run)
/// gets only the tightest notice; the wider ones it skipped are recorded with it, so each
/// lot hears each threshold at most once and never a wider one after a tighter.
pub fn due(expires_at: DateTime<Utc>, now: DateTime<Utc>, noticed: &[i32]) -> Option<i32> {
    if expires_at <= now {
        return None;
    }
    let within = |days: &i32| expires_at <= now + chrono::Duration::days(i64::from(*days));
    let tightest = THRESHOLDS_DAYS.iter().rev().find(|d| within(d))?;
    (!noticed.contains(tightest)).then_some(*tightest)
}

/// The thresholds recorded with a notice for `days`: it and every wider one.
pub fn recorded_with(days: i32) -> impl Iterator<Item = i32> {
    THRESHOLDS_DAYS.into_iter().filter(move |d| *d >= days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::days(days)
    }

    #[test]
    fn each_threshold_is_due_once_in_turn() {
        let expires = at(40);
        assert_eq!(due(expires, at(0), &[]), None);
        assert_eq!(due(expires, at(10), &[]), Some(30));
        assert_eq!(due(expires, at(20), &[30]), None);
        assert_eq!(due(expires, at(33), &[30]), Some(7));
        assert_eq!(due(expires, at(39), &[30, 7]), Some(1));
        assert_eq!(due(expires, at(39), &[30, 7, 1]), None);
        assert_eq!(due(expires, at(40), &[]), None);
    }

    #[test]
    fn a_lot_entering_late_gets_only_the_tightest_notice_and_records_the_wider_ones() {
        assert_eq!(due(at(5), at(0), &[]), Some(7));
        assert_eq!(recorded_with(7).collect::<Vec<_>>(), [30, 7]);
        assert_eq!(recorded_with(1).collect::<Vec<_>>(), [30, 7, 1]);
    }
}
