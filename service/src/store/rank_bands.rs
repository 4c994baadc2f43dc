//! Rank bands: a precomputed skeleton of each residency group's ranking, so that a member's
//! rank costs a live count of about one band instead of everyone above them (ADR 0023,
//! docs/leaderboard.md).
//!
//! Every B-th member in leaderboard order (lifetime DESC, member_id ASC, erased members left
//! out) is a boundary, stored with the number of members above it when the bands were built.
//! A boundary is a fixed *position* in the order, `(lifetime, member_id)`, not a member who
//! moves: a member's rank is the nearest boundary at or above their current position, plus an
//! exact live count of the members from that boundary down to them, plus one. Only the
//! boundary's count is old, by the age of the build: members who crossed that boundary since
//! are what the rank can be off by, and the response says which basis a rank has.
//!
//! The job reads the boundaries in one statement (one snapshot, an ordered pass over
//! `balances_leaderboard_live_idx`) outside any transaction, then replaces the group's set in a
//! short SERIALIZABLE transaction that reads this region's row like every write (a fenced
//! region writes nothing, ADR 0004) and the newest build's time: a build is never replaced by
//! an older one, so several replicas running the job at once only waste a pass.

use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;
use uuid::Uuid;

use super::context::region_row;
use super::tx::{Tx, params};
use super::{Db, now_micros};
use crate::error::Result;

/// The band sizes a configuration may choose: at 2 every other member is a boundary (tests);
/// beyond 100,000 a rank would count too many members live to be worth the bands.
pub const BAND_SIZE_RANGE: RangeInclusive<i64> = 2..=100_000;

/// What one run of the bands job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebuilt {
    /// The group's bands were replaced by `boundaries` rows read at `built_at`.
    Built {
        residency_group: String,
        boundaries: u64,
        built_at: DateTime<Utc>,
    },
    /// The newest build is recent enough (another replica's, usually), or newer than this
    /// one by the time it would have been written: nothing written.
    Fresh,
    /// This region is fenced or not declared: nothing written.
    NotHere,
}

const LATEST: &str = "SELECT max(built_at) FROM leaderboard_bands WHERE residency_group = $1";
/// Every `$2`-th member in ranking order; `members_above` is 0-based. Public for the
/// measurement's plans.
pub const BOUNDARIES: &str = "SELECT lifetime, member_id, home_region, n - 1 FROM (\
     SELECT lifetime, member_id, home_region, row_number() OVER (ORDER BY lifetime DESC, member_id) AS n \
     FROM balances WHERE residency_group = $1 AND erased_at IS NULL) AS ranked \
     WHERE n % $2 = 0";
const REPLACE_DELETE: &str = "DELETE FROM leaderboard_bands WHERE residency_group = $1";
const REPLACE_INSERT: &str = "INSERT INTO leaderboard_bands \
     (residency_group, members_above, lifetime, member_id, home_region, built_at) \
     SELECT $1, a, l, m, h, $6 FROM unnest($2::BIGINT[], $3::BIGINT[], $4::UUID[], $5::TEXT[]) AS t (a, l, m, h)";
/// The members above the member at (`$2`, `$3`) by the nearest boundary at or above them:
/// the boundary's `members_above`, plus the members from the boundary down to the member counted
/// live, and the boundary's `built_at`; no row without such a boundary. The boundary is a
/// one-row backward scan of `leaderboard_bands_order_idx` from the member's lifetime. The live
/// count is one index range when the boundary is tied with the member; otherwise three (the
/// boundary's ties from it on, everyone strictly between the two lifetimes, the member's ties
/// before them), each bounded on both ends, so long runs of ties are never scanned past.
/// Public for the measurement's plans.
pub const MEMBERS_ABOVE: &str = "WITH b AS (\
       SELECT lifetime, member_id, members_above, built_at FROM leaderboard_bands \
       WHERE residency_group = $1 AND lifetime >= $2 AND NOT (lifetime = $2 AND member_id > $3) \
       ORDER BY lifetime ASC, member_id DESC LIMIT 1) \
     SELECT b.members_above + CASE WHEN b.lifetime = $2 THEN \
         (SELECT COUNT(*) FROM balances WHERE residency_group = $1 AND erased_at IS NULL \
          AND lifetime = $2 AND member_id >= b.member_id AND member_id < $3) \
       ELSE \
         (SELECT COUNT(*) FROM balances WHERE residency_group = $1 AND erased_at IS NULL \
          AND lifetime = b.lifetime AND member_id >= b.member_id) \
       + (SELECT COUNT(*) FROM balances WHERE residency_group = $1 AND erased_at IS NULL \
          AND lifetime > $2 AND lifetime < b.lifetime) \
       + (SELECT COUNT(*) FROM balances WHERE residency_group = $1 AND erased_at IS NULL \
          AND lifetime = $2 AND member_id < $3) \
       END, b.built_at FROM b";

/// The boundaries read for one build, column by column as they are written.
#[derive(Debug, Clone, Default)]
struct Columns {
    members_above: Vec<i64>,
    lifetime: Vec<i64>,
    member_id: Vec<Uuid>,
    home_region: Vec<String>,
}

/// The members above the member at (`lifetime`, `member_id`) and when the bands that counted
/// them were built, if a band boundary is at or above the member ([`MEMBERS_ABOVE`]).
pub(super) async fn members_above(
    client: &ClientWrapper,
    group: &str,
    lifetime: i64,
    member_id: Uuid,
) -> Result<Option<(i64, DateTime<Utc>)>> {
    let stmt = client.prepare_cached(MEMBERS_ABOVE).await?;
    Ok(client
        .query_opt(&stmt, &[&group, &lifetime, &member_id])
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// Replaces `group`'s bands with `columns` read at `built_at`, unless this region may not
/// write or a build at least as new is already there.
async fn replace(
    tx: &Tx<'_>,
    region: &str,
    group: &str,
    built_at: DateTime<Utc>,
    columns: Columns,
) -> Result<Rebuilt> {
    let (me, _epoch) = region_row(tx, region).await?;
    if !me.may_commit() || me.residency_group != group {
        return Ok(Rebuilt::NotHere);
    }
    let latest: Option<DateTime<Utc>> = tx.query_one(LATEST, &[&group]).await?.get(0);
    if latest.is_some_and(|at| at >= built_at) {
        return Ok(Rebuilt::Fresh);
    }
    let boundaries = columns.members_above.len() as u64;
    tx.write(REPLACE_DELETE, params![group.to_owned()]).await?;
    tx.write(
        REPLACE_INSERT,
        params![
            group.to_owned(),
            columns.members_above,
            columns.lifetime,
            columns.member_id,
            columns.home_region,
            built_at
        ],
    )
    .await?;
    Ok(Rebuilt::Built {
        residency_group: group.to_owned(),
        boundaries,
        built_at,
    })
}

impl Db {
    /// Rebuilds the rank bands of `region`'s residency group with `band_size` members per
    /// band, unless the newest build is younger than `min_age`.
    #[tracing::instrument(skip(self))]
    pub async fn rebuild_rank_bands(
        &self,
        region: &str,
        band_size: i64,
        min_age: chrono::Duration,
    ) -> Result<Rebuilt> {
        assert!(
            BAND_SIZE_RANGE.contains(&band_size),
            "band size {band_size}"
        );
        let Some(info) = self.region_info(region).await? else {
            return Ok(Rebuilt::NotHere);
        };
        if info.state != "active" {
            return Ok(Rebuilt::NotHere);
        }
        let group = info.residency_group;
        // Taken before the pass, so the build claims to be no newer than its snapshot.
        let built_at = now_micros();
        let columns = {
            let client = self.conn().await?;
            let latest: Option<DateTime<Utc>> = client.query_one(LATEST, &[&group]).await?.get(0);
            if latest.is_some_and(|at| built_at - at < min_age) {
                return Ok(Rebuilt::Fresh);
            }
            let stmt = client.prepare_cached(BOUNDARIES).await?;
            let rows = client.query(&stmt, &[&group, &band_size]).await?;
            let mut c = Columns::default();
            for r in &rows {
                c.lifetime.push(r.get(0));
                c.member_id.push(r.get(1));
                c.home_region.push(r.get(2));
                c.members_above.push(r.get(3));
            }
            c
        };
        let outcome = self
            .serializable("rebuild_rank_bands", |tx| {
                let (region, group, columns) = (region.to_owned(), group.clone(), columns.clone());
                Box::pin(async move { replace(tx, &region, &group, built_at, columns).await })
            })
            .await?;
        // An ambiguous commit: the next run finds out which build is there.
        Ok(outcome.unwrap_or(Rebuilt::Fresh))
    }
}
