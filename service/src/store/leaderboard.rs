//! Leaderboards: members ranked by lifetime points within one residency group, shown under
//! proxy display names that reveal nothing about the member.
//!
//! Erased members (`balances.erased_at`) are left out of every ranking. One index,
//! `balances (residency_group, lifetime DESC, member_id)`, answers all three queries; their cost is in docs/leaderboard.md: top-N reads N index entries; a member's
//! rank counts the index entries above them (O(rank)); neighbours read k entries each way.

use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Db;
use super::members::member_on;
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Neighbourhood {
    pub residency_group: String,
    pub above: Vec<Standing>,
    pub you: Standing,
    pub below: Vec<Standing>,
}

const TOP: &str = "SELECT member_id, lifetime FROM balances WHERE residency_group = $1 AND erased_at IS NULL \
                   ORDER BY lifetime DESC, member_id LIMIT $2";
const RANK: &str = "SELECT (SELECT COUNT(*) FROM balances WHERE residency_group = $1 AND erased_at IS NULL AND lifetime > $2) \
                         + (SELECT COUNT(*) FROM balances WHERE residency_group = $1 AND erased_at IS NULL AND lifetime = $2 AND member_id < $3)";
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

    /// A member's rank with `k` members above and below.
    pub async fn leaderboard_around(
        &self,
        region: &str,
        member_id: Uuid,
        k: i64,
        key: &str,
    ) -> Result<Neighbourhood> {
        let client = self.conn().await?;
        let member = member_on(&client, region, member_id).await?.view;
        // An erased member has no place on the board, not even their own.
        if member.erased_at.is_some() {
            return Err(Refusal::MemberNotFound.into());
        }
        let group = member.residency_group;
        let lifetime: i64 = client
            .query_one(
                "SELECT lifetime FROM balances WHERE member_id = $1",
                &[&member_id],
            )
            .await?
            .get(0);
        let rank_stmt = client.prepare_cached(RANK).await?;
        let above_count: i64 = client
            .query_one(&rank_stmt, &[&group, &lifetime, &member_id])
            .await?
            .get(0);
        let rank = above_count + 1;
        let above_stmt = client.prepare_cached(ABOVE).await?;
        let mut above: Vec<Standing> = client
            .query(&above_stmt, &[&group, &lifetime, &member_id, &k])
            .await?
            .iter()
            .enumerate()
            .map(|(i, r)| Standing {
                rank: rank - 1 - i as i64,
                display_name: proxy_name(key, r.get(0)),
                lifetime: r.get(1),
                you: false,
            })
            .collect();
        above.reverse();
        let below_stmt = client.prepare_cached(BELOW).await?;
        let below = client
            .query(&below_stmt, &[&group, &lifetime, &member_id, &k])
            .await?
            .iter()
            .enumerate()
            .map(|(i, r)| Standing {
                rank: rank + 1 + i as i64,
                display_name: proxy_name(key, r.get(0)),
                lifetime: r.get(1),
                you: false,
            })
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
        })
    }
}
