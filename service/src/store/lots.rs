//! Lots: each earn's points with their expiry. Redemptions and holds take from the
//! earliest-expiring lots first; voids and partial captures give back to the lots a hold
//! took from, latest-expiring first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tx::Tx;
use crate::error::{Error, Result};

/// Lots read per round trip while collecting points to consume.
const CONSUME_BATCH: i64 = 256;

/// A portion of one lot taken by a movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub lot: Uuid,
    pub points: i64,
}

/// The details of an entry that moved points out of or back into `lots`:
/// `{"lots": [{"lot", "points"}, ...]}`.
pub fn details(lots: &[Allocation]) -> serde_json::Value {
    serde_json::json!({ "lots": lots })
}

/// A lot about to be created by an earn.
pub struct NewLot<'a> {
    pub id: Uuid,
    pub member_id: Uuid,
    pub home_region: &'a str,
    pub earn_seq: i64,
    pub points: i64,
    pub expires_at: DateTime<Utc>,
    /// Pending until then; `None` when the points are spendable at once.
    pub vests_at: Option<DateTime<Utc>>,
    /// Qualifying points the lot's earn added, and until when they count (set at vesting for
    /// a pending lot). Zero for transferred points, which never qualify.
    pub qualifying: i64,
    pub qualifying_until: Option<DateTime<Utc>>,
}

pub async fn create(tx: &Tx<'_>, lot: NewLot<'_>, now: DateTime<Utc>) -> Result<()> {
    tx.write(
        "INSERT INTO lots (id, member_id, home_region, earn_seq, points, remaining, expires_at, vests_at, \
         qualifying, qualifying_until, created_at) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10)",
        super::tx::params![
            lot.id,
            lot.member_id,
            lot.home_region.to_owned(),
            lot.earn_seq,
            lot.points,
            lot.expires_at,
            lot.vests_at,
            lot.qualifying,
            lot.qualifying_until,
            now,
        ],
    )
    .await
}

/// Takes `points` from the member's lots, earliest expiry first, and writes the new
/// remainders. `first` (a lot to drain before all others, used by reversals) is optional.
pub async fn consume(
    tx: &Tx<'_>,
    member_id: Uuid,
    points: i64,
    first: Option<Uuid>,
) -> Result<Vec<Allocation>> {
    let mut taken = Vec::new();
    let mut needed = points;
    if let Some(lot) = first
        && let Some(row) = tx
            .query_opt(
                "SELECT remaining FROM lots WHERE id = $1 AND vests_at IS NULL",
                &[&lot],
            )
            .await?
    {
        let take = needed.min(row.get::<_, i64>(0));
        if take > 0 {
            taken.push(Allocation { lot, points: take });
            needed -= take;
        }
    }
    let mut after = (DateTime::<Utc>::UNIX_EPOCH, Uuid::nil());
    while needed > 0 {
        let rows = tx
            .query(
                "SELECT id, remaining, expires_at FROM lots \
                 WHERE member_id = $1 AND remaining > 0 AND vests_at IS NULL AND (expires_at, id) > ($2, $3) \
                 ORDER BY expires_at, id LIMIT $4",
                &[&member_id, &after.0, &after.1, &CONSUME_BATCH],
            )
            .await?;
        for row in &rows {
            let lot: Uuid = row.get(0);
            after = (row.get(2), lot);
            if Some(lot) == first {
                continue;
            }
            let take = needed.min(row.get::<_, i64>(1));
            taken.push(Allocation { lot, points: take });
            needed -= take;
            if needed == 0 {
                break;
            }
        }
        if rows.len() < CONSUME_BATCH as usize && needed > 0 {
            // The balance said the points were there but the lots disagree: the invariant
            // `lots = available` is broken. Refuse the write instead of papering over it.
            return Err(Error::Invariant(format!(
                "lots of member {member_id} do not cover the available balance ({needed} points short); run the audit"
            )));
        }
    }
    adjust(tx, &taken, -1).await?;
    Ok(taken)
}

/// Adds `sign × points` of each allocation to its lot's remainder in one statement.
pub async fn adjust(tx: &Tx<'_>, allocations: &[Allocation], sign: i64) -> Result<()> {
    if allocations.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = allocations.iter().map(|a| a.lot).collect();
    let deltas: Vec<i64> = allocations.iter().map(|a| sign * a.points).collect();
    tx.write(
        "UPDATE lots SET remaining = lots.remaining + d.delta \
         FROM unnest($1::UUID[], $2::BIGINT[]) AS d (id, delta) WHERE lots.id = d.id",
        super::tx::params![ids, deltas],
    )
    .await
}

/// Splits a hold's allocations into what stays consumed (`keep` points, earliest-expiring
/// first) and what goes back to the lots.
pub fn split_release(allocations: &[Allocation], keep: i64) -> (Vec<Allocation>, Vec<Allocation>) {
    let mut kept = Vec::new();
    let mut released = Vec::new();
    let mut left = keep;
    for a in allocations {
        let k = left.min(a.points);
        left -= k;
        if k > 0 {
            kept.push(Allocation {
                lot: a.lot,
                points: k,
            });
        }
        if a.points > k {
            released.push(Allocation {
                lot: a.lot,
                points: a.points - k,
            });
        }
    }
    (kept, released)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_capture_keeps_the_earliest_lots_and_releases_the_rest() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let allocations = [
            Allocation { lot: a, points: 30 },
            Allocation { lot: b, points: 50 },
        ];
        let (kept, released) = split_release(&allocations, 40);
        assert_eq!(
            kept,
            vec![
                Allocation { lot: a, points: 30 },
                Allocation { lot: b, points: 10 }
            ]
        );
        assert_eq!(released, vec![Allocation { lot: b, points: 40 }]);
        let (kept, released) = split_release(&allocations, 0);
        assert!(kept.is_empty());
        assert_eq!(released, allocations.to_vec());
    }
}
