//! The run's clock: milliseconds since the run started, and the wall-clock time of that start
//! so that database timestamps (fences, entries) land on the same axis.

use std::time::Instant;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    start_wall: DateTime<Utc>,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
            start_wall: Utc::now(),
        }
    }

    /// Milliseconds since the start.
    pub fn ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Where a wall-clock time falls on the run's axis (negative: before the start).
    pub fn ms_of(&self, at: DateTime<Utc>) -> i64 {
        (at - self.start_wall).num_milliseconds()
    }

    pub fn start_wall(&self) -> DateTime<Utc> {
        self.start_wall
    }
}
