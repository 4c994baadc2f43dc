//! When a campaign is active: its window, its timezone and its weekly recurrence.
//!
//! Local days and times are read in the campaign's IANA timezone, so a weekend is Saturday
//! 00:00 to Monday 00:00 on the wall clock, 47 or 49 hours long across a daylight-saving
//! change. Everything here is pure: the caller passes the instant.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::{CampaignSpec, Recurrence};
use crate::Error;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// A local time of day with minute precision, `HH:MM`, from `00:00` to `24:00` inclusive
/// (`24:00` is the midnight that ends the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    /// The pattern of the string form, as the CRD schema checks it.
    pub const PATTERN: &'static str = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$";
    /// `00:00`.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { minutes: 0 };
    /// `24:00`.
    pub const END_OF_DAY: TimeOfDay = TimeOfDay {
        minutes: MINUTES_PER_DAY,
    };

    /// The time `hour:minute`, or `None` when it is not a time of day.
    pub fn new(hour: u16, minute: u16) -> Option<Self> {
        let minutes = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && minutes <= MINUTES_PER_DAY).then_some(Self { minutes })
    }

    /// Minutes since local midnight, 0 to 1440.
    pub fn minutes_since_midnight(self) -> u16 {
        self.minutes
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = Error;
    fn try_from(value: String) -> crate::Result<Self> {
        let parsed = match value.as_bytes() {
            [h1, h2, b':', m1, m2] if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) => {
                let digit = |b: &u8| u16::from(b - b'0');
                TimeOfDay::new(digit(h1) * 10 + digit(h2), digit(m1) * 10 + digit(m2))
            }
            _ => None,
        };
        parsed.ok_or(Error::InvalidValue {
            what: "time of day",
            value,
            expected: "HH:MM from 00:00 to 24:00",
        })
    }
}

impl From<TimeOfDay> for String {
    fn from(value: TimeOfDay) -> String {
        value.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl JsonSchema for TimeOfDay {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "TimeOfDay".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": TimeOfDay::PATTERN,
            "maxLength": 5,
        })
    }
}

impl Recurrence {
    fn start(&self) -> TimeOfDay {
        self.start_time.unwrap_or(TimeOfDay::MIDNIGHT)
    }

    fn end(&self) -> TimeOfDay {
        self.end_time.unwrap_or(TimeOfDay::END_OF_DAY)
    }

    /// Whether a local wall-clock time falls in the recurrence.
    fn contains_local(&self, local: NaiveDateTime) -> bool {
        let weekday = local.weekday();
        let day_matches = self.days_of_week.is_empty()
            || self
                .days_of_week
                .iter()
                .any(|d| chrono::Weekday::from(*d) == weekday);
        // Seconds never matter: every recurrence boundary is on a whole minute.
        let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(u16::MAX);
        day_matches
            && self.start().minutes_since_midnight() <= minute
            && minute < self.end().minutes_since_midnight()
    }

    /// Every instant near `anchor` at which the recurrence may start or stop applying: local
    /// start and end times and midnights (all their UTC instants when a daylight-saving change
    /// repeats them) and the daylight-saving changes themselves (where a skipped or repeated
    /// hour can move the wall clock across a boundary).
    fn boundaries_near(&self, tz: Tz, anchor: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        // A recurrence repeats weekly: a day before the anchor and eight after cover the next
        // start and stop of any non-empty recurrence.
        const DAYS_BEFORE: i64 = 1;
        const DAYS_AFTER: i64 = 8;
        let local_date = anchor.with_timezone(&tz).date_naive();
        let mut out = Vec::new();
        for offset in -DAYS_BEFORE..=DAYS_AFTER {
            let Some(midnight) = (local_date + Duration::days(offset)).and_hms_opt(0, 0, 0) else {
                continue;
            };
            for minutes in [
                0,
                self.start().minutes_since_midnight(),
                self.end().minutes_since_midnight(),
            ] {
                let local = midnight + Duration::minutes(i64::from(minutes));
                // A skipped local time maps to no instant; the offset change found below
                // stands in for it.
                out.extend(
                    tz.from_local_datetime(&local)
                        .earliest()
                        .map(|t| t.to_utc()),
                );
                out.extend(tz.from_local_datetime(&local).latest().map(|t| t.to_utc()));
            }
        }
        out.extend(offset_changes(
            tz,
            anchor - Duration::days(DAYS_BEFORE + 1),
            anchor + Duration::days(DAYS_AFTER + 1),
        ));
        out
    }
}

/// The instants in `[from, to)` at which `tz` changes its UTC offset, to the second.
fn offset_changes(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    // Offsets never change twice within six hours in the tz database's modern data.
    let step = Duration::hours(6);
    let offset_at = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let mut out = Vec::new();
    // Whole seconds, so that bisection lands on the exact second of the change.
    let mut lo = DateTime::from_timestamp(from.timestamp(), 0).unwrap_or(from);
    while lo < to {
        let hi = lo + step;
        if offset_at(lo) != offset_at(hi) {
            // Bisect on whole seconds: offsets change on a whole second.
            let (mut before, mut after) = (lo.timestamp(), hi.timestamp());
            let offset_before = offset_at(lo);
            while after - before > 1 {
                let mid = before + (after - before) / 2;
                let at_mid = DateTime::from_timestamp(mid, 0).unwrap_or(lo);
                if offset_at(at_mid) == offset_before {
                    before = mid;
                } else {
                    after = mid;
                }
            }
            out.extend(DateTime::from_timestamp(after, 0));
        }
        lo = hi;
    }
    out
}

impl CampaignSpec {
    /// The campaign's timezone, or `None` when `window.timezone` is not an IANA name.
    pub fn timezone(&self) -> Option<Tz> {
        self.window.timezone.parse().ok()
    }

    /// Whether the campaign applies to bookings made at `at`.
    ///
    /// True when the campaign is enabled, `window.start <= at < window.end`, and, with a
    /// recurrence, the wall clock in `window.timezone` at `at` is on a listed day and in
    /// `[startTime, endTime)`. A campaign whose timezone does not parse is never active: it
    /// fails closed rather than guessing.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        if !self.enabled || at < self.window.start || at >= self.window.end {
            return false;
        }
        let Some(tz) = self.timezone() else {
            return false;
        };
        match &self.window.recurrence {
            None => true,
            Some(recurrence) => recurrence.contains_local(at.with_timezone(&tz).naive_local()),
        }
    }

    /// The earliest instant after `at` at which [`Self::is_active_at`] returns something
    /// other than it returns at `at`, or `None` if it never changes again (the window is
    /// over, the campaign is disabled, or its timezone does not parse).
    ///
    /// The operator requeues a campaign at this instant to move its phase between Scheduled,
    /// Active and Ended.
    pub fn next_transition_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.enabled || at >= self.window.end {
            return None;
        }
        let tz = self.timezone()?;
        let active_now = self.is_active_at(at);
        let mut candidates = vec![self.window.start, self.window.end];
        if let Some(recurrence) = &self.window.recurrence {
            candidates.extend(recurrence.boundaries_near(tz, at.max(self.window.start)));
        }
        candidates.retain(|c| *c > at);
        candidates.sort_unstable();
        candidates.dedup();
        // Between two consecutive candidates nothing can change, so the first candidate with a
        // different answer is exactly the transition.
        candidates
            .into_iter()
            .find(|c| self.is_active_at(*c) != active_now)
    }
}

#[cfg(test)]
mod tests;
