//! The scenarios: request generators against the service's v1 API (README.md).

use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use crate::dataset::member_id;
use crate::engine::Workload;
use crate::error::{Error, Result};
use crate::http::Conn;

/// Writes per 101 operations of the mixed scenario (100 reads per write).
pub const MIX_READS_PER_WRITE: u32 = 100;

/// Unique references: a per-scenario prefix plus a counter, so reruns never collide.
struct Refs {
    prefix: String,
    next: AtomicU64,
}

impl Refs {
    fn new(tag: &str) -> Self {
        Self {
            prefix: format!("{tag}-{}", &Uuid::new_v4().simple().to_string()[..12]),
            next: AtomicU64::new(0),
        }
    }

    /// A counter keeps references unique; the random part spreads them over the index like
    /// real booking references (sequential keys would all land on one btree page, whose
    /// predicate locks then make unrelated SERIALIZABLE transactions conflict).
    fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{}-{n}", rand::random::<u64>(), self.prefix)
    }
}

fn random_member(members: u64) -> Uuid {
    member_id(rand::rng().random_range(1..=members.max(1)))
}

async fn read_balance(conn: &mut Conn, member: Uuid) -> Result<u16> {
    let reply = conn.get(&format!("/v1/members/{member}/balance")).await?;
    Ok(reply.status.as_u16())
}

async fn earn(conn: &mut Conn, refs: &Refs, member: Uuid, amount_minor: i64) -> Result<u16> {
    let booking_ref = refs.next();
    let body = json!({"source": "hotel-bookings", "booking_ref": booking_ref, "product": "hotel",
                      "spend": {"amount_minor": amount_minor, "currency": "EUR"}});
    let reply = conn
        .post_json(
            &format!("/v1/members/{member}/earn"),
            &body,
            Some(&booking_ref),
        )
        .await?;
    Ok(reply.status.as_u16())
}

async fn redeem(conn: &mut Conn, refs: &Refs, member: Uuid, points: i64) -> Result<u16> {
    let reference = refs.next();
    let body = json!({"points": points, "reference": reference});
    let reply = conn
        .post_json(
            &format!("/v1/members/{member}/redeem"),
            &body,
            Some(&reference),
        )
        .await?;
    Ok(reply.status.as_u16())
}

/// `GET /healthz`: no database work, so it measures the generator and HTTP stack alone.
pub struct Healthz;

impl Workload for Healthz {
    fn op<'a>(&'a self, conn: &'a mut Conn) -> BoxFuture<'a, Result<u16>> {
        Box::pin(async move { Ok(conn.get("/healthz").await?.status.as_u16()) })
    }
}

/// `GET /v1/members/{id}/balance` of a random dataset member.
pub struct BalanceRead {
    pub members: u64,
}

impl Workload for BalanceRead {
    fn op<'a>(&'a self, conn: &'a mut Conn) -> BoxFuture<'a, Result<u16>> {
        let member = random_member(self.members);
        Box::pin(read_balance(conn, member))
    }
}

/// `POST .../earn` for a random member with a booking reference never used before.
pub struct Earn {
    members: u64,
    refs: Refs,
}

impl Earn {
    pub fn new(members: u64) -> Self {
        Self {
            members,
            refs: Refs::new("earn"),
        }
    }
}

impl Workload for Earn {
    fn op<'a>(&'a self, conn: &'a mut Conn) -> BoxFuture<'a, Result<u16>> {
        let member = random_member(self.members);
        let amount = rand::rng().random_range(1_000..100_000);
        Box::pin(earn(conn, &self.refs, member, amount))
    }
}

/// `POST .../redeem` of `points` from a random member (dataset members hold hundreds), or
/// from one member when `hot` is set.
pub struct Redeem {
    members: u64,
    hot: Option<Uuid>,
    points: i64,
    refs: Refs,
}

impl Redeem {
    pub fn random(members: u64) -> Self {
        Self {
            members,
            hot: None,
            points: 1,
            refs: Refs::new("redeem"),
        }
    }

    /// Every client redeems one point from `member`.
    pub fn hot(member: Uuid) -> Self {
        Self {
            members: 0,
            hot: Some(member),
            points: 1,
            refs: Refs::new("hot"),
        }
    }
}

impl Workload for Redeem {
    fn op<'a>(&'a self, conn: &'a mut Conn) -> BoxFuture<'a, Result<u16>> {
        let member = self.hot.unwrap_or_else(|| random_member(self.members));
        Box::pin(redeem(conn, &self.refs, member, self.points))
    }
}

/// Two-phase redemption: hold 2 points, then capture the whole hold.
pub struct HoldCapture {
    members: u64,
    refs: Refs,
}

impl HoldCapture {
    pub fn new(members: u64) -> Self {
        Self {
            members,
            refs: Refs::new("hold"),
        }
    }
}

impl Workload for HoldCapture {
    fn op<'a>(&'a self, conn: &'a mut Conn) -> BoxFuture<'a, Result<u16>> {
        let member = random_member(self.members);
        Box::pin(async move {
            let reference = self.refs.next();
            let body = json!({"points": 2, "reference": reference, "ttl_s": 900});
            let reply = conn
                .post_json(
                    &format!("/v1/members/{member}/holds"),
                    &body,
                    Some(&reference),
                )
                .await?;
            if !reply.status.is_success() {
                return Ok(reply.status.as_u16());
            }
            let hold_id = reply.json()?["hold_id"]
                .as_str()
                .ok_or_else(|| Error::Other("hold response without hold_id".into()))?
                .to_owned();
            let key = format!("{reference}-capture");
            let reply = conn
                .post_json(
                    &format!("/v1/members/{member}/holds/{hold_id}/capture"),
                    &json!({}),
                    Some(&key),
                )
                .await?;
            Ok(reply.status.as_u16())
        })
    }
}

/// 100 balance reads per earn, interleaved at random.
pub struct Mix {
    members: u64,
    refs: Refs,
}

impl Mix {
    pub fn new(members: u64) -> Self {
        Self {
            members,
            refs: Refs::new("mix"),
        }
    }
}

impl Workload for Mix {
    fn op<'a>(&'a self, conn: &'a mut Conn) -> BoxFuture<'a, Result<u16>> {
        let member = random_member(self.members);
        let mut rng = rand::rng();
        let write = rng.random_range(0..=MIX_READS_PER_WRITE) == 0;
        let amount = rng.random_range(1_000..100_000);
        if write {
            Box::pin(earn(conn, &self.refs, member, amount))
        } else {
            Box::pin(read_balance(conn, member))
        }
    }
}
