//! Visits and streaks: each visit marks its local day; a run of the rule's consecutive days
//! since the member's last streak award earns the streak.

use chrono::{Duration, NaiveDate};

use super::super::context::MemberCtx;
use super::super::tx::Tx;
use crate::domain::activity::run_ending;
use crate::error::Result;

/// Marks `day` visited and answers the length of the run of visit days ending on it since
/// the last streak award (0 when the day was already rewarded).
pub(super) async fn visit(
    tx: &Tx<'_>,
    ctx: &MemberCtx,
    day: NaiveDate,
    required: i64,
) -> Result<i64> {
    let last_award: Option<NaiveDate> = tx
        .query_one(
            "SELECT MAX(local_day) FROM activity_earns WHERE member_id = $1 AND kind = 'streak' AND points > 0",
            &[&ctx.member_id],
        )
        .await?
        .get(0);
    tx.write(
        "INSERT INTO activity_days (member_id, home_region, day) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        super::super::tx::params![ctx.member_id, ctx.home_region.clone(), day],
    )
    .await?;
    if last_award.is_some_and(|d| d >= day) {
        return Ok(0);
    }
    let earliest = day - Duration::days(required.max(1) - 1);
    let since = last_award.map_or(earliest, |d| earliest.max(d + Duration::days(1)));
    let mut days: Vec<NaiveDate> = tx
        .query(
            "SELECT day FROM activity_days WHERE member_id = $1 AND day >= $2 AND day <= $3",
            &[&ctx.member_id, &since, &day],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The day's own mark is queued, not yet readable.
    days.push(day);
    Ok(run_ending(day, &days))
}
