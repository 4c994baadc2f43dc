//! What each client does next, from a seeded random generator: earns with unique booking
//! references, redeems, holds followed by a capture or a void, transfers within the residency
//! group, and balance reads.

use hyper::Method;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use uuid::Uuid;

use super::client::Request;
use super::history::OpKind;
use crate::members::Member;

/// The earn source of every workload booking.
pub const EARN_SOURCE: &str = "chaos-bookings";
/// Spend of one earn, in EUR cents.
const EARN_SPEND_MINOR: std::ops::Range<i64> = 1_000..20_000;
/// Points of one redemption (some exceed the balance: definite refusals the checker verifies).
const REDEEM_POINTS: std::ops::Range<i64> = 10..400;
const HOLD_POINTS: std::ops::Range<i64> = 10..200;
const TRANSFER_POINTS: std::ops::Range<i64> = 5..100;
/// Hold lifetime: longer than any run, so no hold expires under the checker.
const HOLD_TTL_S: u64 = 3_600;
/// Percent of next operations that settle an open hold, when one is open.
const SETTLE_PERCENT: u32 = 40;
/// Cumulative percent weights of earn, redeem, hold, transfer; the rest are balance reads.
const WEIGHTS: [u32; 4] = [40, 55, 70, 80];

/// One planned operation.
pub struct Planned {
    pub member: Member,
    pub kind: OpKind,
    pub request: Request,
}

/// A client's generator.
pub struct Planner {
    rng: ChaCha8Rng,
    prefix: String,
    next: u64,
    /// Holds acknowledged and not yet settled: (member, hold).
    open_holds: Vec<(Member, Uuid)>,
    /// No balance reads (see [`super::WorkloadConfig::write_only`]).
    write_only: bool,
}

impl Planner {
    /// `prefix` makes references unique across clients and runs.
    pub fn new(seed: u64, client: u32, prefix: String, write_only: bool) -> Planner {
        Planner {
            rng: ChaCha8Rng::seed_from_u64(seed ^ (u64::from(client) << 32)),
            prefix,
            next: 0,
            open_holds: Vec::new(),
            write_only,
        }
    }

    /// Remembers an acknowledged hold so that a later operation settles it.
    pub fn hold_opened(&mut self, member: Member, hold: Uuid) {
        self.open_holds.push((member, hold));
    }

    /// The next operation on one of `own` (this client's members); transfers go to another
    /// member of `group` (same residency group).
    pub fn plan(&mut self, own: &[Member], group: &[Member]) -> Planned {
        self.next += 1;
        let key = format!("{}-{}", self.prefix, self.next);
        if !self.open_holds.is_empty() && self.rng.random_ratio(SETTLE_PERCENT, 100) {
            let (member, hold) = self.open_holds.remove(0);
            return self.settle(member, hold, key);
        }
        let member = own[self.rng.random_range(0..own.len())].clone();
        let roll = if self.write_only {
            self.rng.random_range(0..WEIGHTS[3])
        } else {
            self.rng.random_range(0..100)
        };
        let base = format!("/v1/members/{}", member.id);
        let (kind, path, body) = if roll < WEIGHTS[0] {
            let spend = self.rng.random_range(EARN_SPEND_MINOR);
            let body = json!({"source": EARN_SOURCE, "booking_ref": key, "product": "hotel",
                "spend": {"amount_minor": spend, "currency": "EUR"}});
            (
                OpKind::Earn {
                    booking_ref: key.clone(),
                },
                format!("{base}/earn"),
                Some(body),
            )
        } else if roll < WEIGHTS[1] {
            let points = self.rng.random_range(REDEEM_POINTS);
            let body = json!({"points": points, "reference": key});
            (
                OpKind::Redeem {
                    reference: key.clone(),
                },
                format!("{base}/redeem"),
                Some(body),
            )
        } else if roll < WEIGHTS[2] {
            let points = self.rng.random_range(HOLD_POINTS);
            let body = json!({"points": points, "reference": key, "ttl_s": HOLD_TTL_S});
            (
                OpKind::Hold {
                    reference: key.clone(),
                },
                format!("{base}/holds"),
                Some(body),
            )
        } else if roll < WEIGHTS[3] && group.len() > 1 {
            let to = loop {
                let candidate = &group[self.rng.random_range(0..group.len())];
                if candidate.id != member.id {
                    break candidate.id;
                }
            };
            let points = self.rng.random_range(TRANSFER_POINTS);
            let body = json!({"to_member_id": to, "points": points, "reference": key});
            let kind = OpKind::Transfer {
                to,
                reference: key.clone(),
            };
            (kind, format!("{base}/transfers"), Some(body))
        } else {
            (OpKind::Balance, format!("{base}/balance"), None)
        };
        let write = kind.is_write();
        // A transfer is its sender's own act: only the member's token may ask for it.
        let authorization = matches!(kind, OpKind::Transfer { .. })
            .then(|| crate::identity::member_bearer(member.id));
        Planned {
            member,
            kind,
            request: Request {
                method: if write { Method::POST } else { Method::GET },
                path,
                body,
                idempotency_key: write.then_some(key),
                authorization,
            },
        }
    }

    fn settle(&mut self, member: Member, hold: Uuid, key: String) -> Planned {
        let base = format!("/v1/members/{}/holds/{hold}", member.id);
        let (kind, path, body) = if self.rng.random_bool(0.5) {
            (
                OpKind::Capture { hold_id: hold },
                format!("{base}/capture"),
                Some(json!({})),
            )
        } else {
            (OpKind::Void { hold_id: hold }, format!("{base}/void"), None)
        };
        Planned {
            member,
            kind,
            request: Request {
                method: Method::POST,
                path,
                body,
                idempotency_key: Some(key),
                authorization: None,
            },
        }
    }
}
