//! Leaderboards: members ranked by lifetime points within one residency group, shown under
//! proxy display names that reveal nothing about the member.
//!
//! Erased members (`balances.erased_at`) are left out of every ranking. One index,
//! `balances (residency_group, lifetime DESC, member_id)`, answers all three queries; their
//! cost is in docs/leaderboard.md: top-N reads N index entries; neighbours read k entries each
//! way; a member's rank is the nearest rank band boundary above them plus a live count of
//! about one band ([`super::rank_bands`]), or, with no boundary above them, a live count of
//! everyone above (O(rank), exact).

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Db;
use super::members::member_on;
use super::rank_bands;
use crate::domain::Refusal;
use crate::error::Result;

const ADJECTIVES: [&str; 16] = [
    "Amber",
    "Brisk",
    "Calm",
    "Daring",
    "Eager",
    "Fleet",
    "Golden",
    "Hardy",
    "Indigo",
    "Jolly",
    "Keen",
    "Lucky",
    "Merry",
    "Nimble",
    "Swift",
    "Wandering",
];
const ANIMALS: [&str; 16] = [
    "Albatross",
    "Bison",
    "Crane",
    "Dolphin",
    "Egret",
    "Falcon",
    "Gazelle",
    "Heron",
    "Ibis",
    "Jaguar",
    "Kestrel",
    "Lynx",
    "Marlin",
    "Narwhal",
    "Osprey",
    "Puffin",
];

/// A stable pseudonym: a keyed hash of the member id, so it cannot be reversed to the member
/// without the key, and the same member is always shown under the same name.
pub fn proxy_name(key: &str, member_id: Uuid) -> String {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(member_id.as_bytes());
    let d = h.finalize();
    let number = u16::from_be_bytes([d[2], d[3]]) % 10_000;
    format!(
        "{} {} {number:04}",
        ADJECTIVES[usize::from(d[0] % 16)],
        ANIMALS[usize::from(d[1] % 16)]
    )
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Standing {
    pub rank: i64,
    pub display_name: String,
    pub lifetime: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub you: bool,
}

/// How a rank was counted.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBasis {
    /// Every member above was counted live: exact when answered.
    Exact,
    /// The members above the nearest rank band boundary as counted at `rank_as_of`, plus the
    /// members from that boundary down to this one counted live. Off only by the members who
    /// crossed that boundary since `rank_as_of` (docs/leaderboard.md).
    Bands,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Neighbourhood {
    pub residency_group: String,
    pub above: Vec<Standing>,
    /// The member; the neighbours' ranks are counted from theirs.
    pub you: Standing,
    pub below: Vec<Standing>,
    pub rank_basis: RankBasis,
    /// With `rank_basis` `bands`: when the bands were built (at most about
    /// `leaderboard.bands_interval_s` ago while the job runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank_as_of: Option<DateTime<Utc>>,
}

const TOP: &str = "SELECT member_id, lifetime FROM balances WHERE residency_group = $1 AND erased_at IS NULL \
                   ORDER BY lifetime DESC, member_id LIMIT $2";
const RANK: &str = "SELECT (SELECT COUNT(*) FROM balances WHERE residency_group = $1 AND erased_at IS NULL AND lifetime > $2) \
                         + (SELECT COUNT(*) FROM balances WHERE residency_group = $1 AND erased_at IS NULL AND lifetime = $2 AND member_id < $3)";
const LIFETIME: &str = "SELECT lifetime FROM balances WHERE member_id = $1";
const ABOVE: &str = "SELECT member_id, lifetime FROM balances WHERE residency_group = $1 AND erased_at IS NULL AND lifetime >= $2 \
                     AND NOT (lifetime = $2 AND member_id >= $3) ORDER BY lifetime ASC, member_id DESC LIMIT $4";
const BELOW: &str = "SELECT member_id, lifetime FROM balances WHERE residency_group = $1 AND erased_at IS NULL AND lifetime <= $2 \
                     AND NOT (lifetime = $2 AND member_id <= $3) ORDER BY lifetime DESC, member_id LIMIT $4";

impl Db {
    /// The top `n` of this region's residency group.
    pub async fn leaderboard_top(&self, group: &str, n: i64, key: &str) -> Result<Vec<Standing>> {
        let client = self.conn().await?;
        let stmt = client.prepare_cached(TOP).await?;
        let rows = client.query(&stmt, &[&group, &n]).await?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, r)| Standing {
                rank: i as i64 + 1,
                display_name: proxy_name(key, r.get(0)),
                lifetime: r.get(1),
                you: false,
            })
            .collect())
    }

    /// A member's rank with `k` members above and below, in two round trips (three for a
    /// rank counted from the top): the member and their lifetime points, then their rank and
    /// both neighbourhoods at once, pipelined on one connection.
    pub async fn leaderboard_around(
        &self,
        region: &str,
        member_id: Uuid,
        k: i64,
        key: &str,
    ) -> Result<Neighbourhood> {
        let client = self.conn().await?;
        let (member, lifetime) = tokio::join!(member_on(&client, region, member_id), async {
            let stmt = client.prepare_cached(LIFETIME).await?;
            client.query_opt(&stmt, &[&member_id]).await
        });
        let member = member?.view;
        // An erased member has no place on the board, not even their own.
        if member.erased_at.is_some() {
            return Err(Refusal::MemberNotFound.into());
        }
        let lifetime: i64 = lifetime?.ok_or(Refusal::MemberNotFound)?.get(0);
        let group = member.residency_group;
        let neighbours = |sql: &'static str| {
            let (client, group) = (&client, &group);
            async move {
                let stmt = client.prepare_cached(sql).await?;
                client
                    .query(&stmt, &[group, &lifetime, &member_id, &k])
                    .await
            }
        };
        let (counted, above, below) = tokio::join!(
            members_above(&client, &group, lifetime, member_id),
            neighbours(ABOVE),
            neighbours(BELOW)
        );
        let (above_count, rank_basis, rank_as_of) = counted?;
        let rank = above_count + 1;
        let standing = |r: &tokio_postgres::Row, rank: i64| Standing {
            rank,
            display_name: proxy_name(key, r.get(0)),
            lifetime: r.get(1),
            you: false,
        };
        let mut above: Vec<Standing> = above?
            .iter()
            .enumerate()
            .map(|(i, r)| standing(r, rank - 1 - i as i64))
            .collect();
        above.reverse();
        let below = below?
            .iter()
            .enumerate()
            .map(|(i, r)| standing(r, rank + 1 + i as i64))
            .collect();
        let you = Standing {
            rank,
            display_name: proxy_name(key, member_id),
            lifetime,
            you: true,
        };
        Ok(Neighbourhood {
            residency_group: group,
            above,
            you,
            below,
            rank_basis,
            rank_as_of,
        })
    }
}

/// The members ranked above the member at (`lifetime`, `member_id`): from the nearest band
/// boundary above them when there is one, else counted from the top.
async fn members_above(
    client: &ClientWrapper,
    group: &str,
    lifetime: i64,
    member_id: Uuid,
) -> Result<(i64, RankBasis, Option<DateTime<Utc>>)> {
    if let Some((above, built_at)) =
        rank_bands::members_above(client, group, lifetime, member_id).await?
    {
        return Ok((above, RankBasis::Bands, Some(built_at)));
    }
    let stmt = client.prepare_cached(RANK).await?;
    let above: i64 = client
        .query_one(&stmt, &[&group, &lifetime, &member_id])
        .await?
        .get(0);
    Ok((above, RankBasis::Exact, None))
}
