//! Everything that speaks SQL. Handlers call the functions here with domain types; no SQL
//! lives outside this module.
//!
//! Every write runs through [`Db::mutate`]: one SERIALIZABLE transaction that checks the
//! region fence and the member's residency, replays or refuses a reused Idempotency-Key,
//! performs the unit of work and stores its typed outcome, retried as a whole on
//! serialization failures. Units answer typed outcomes and [`Refusal`](crate::domain::Refusal)s;
//! `routes/` alone turns them into HTTP.

pub mod activities;
pub mod audit;
mod caps;
mod context;
mod credit;
pub mod delivery;
mod digest;
mod earn;
mod erasure;
mod expiry_notices;
mod export;
mod fraud;
pub mod history;
mod holds;
mod idempotency;
mod keys;
pub mod leaderboard;
pub mod ledger;
mod lots;
mod members;
pub mod migrate;
mod outbox;
mod partner_bonus;
pub mod partners;
mod programme;
pub mod rank_bands;
mod readers;
mod redeem;
mod redemption;
pub mod seed;
pub mod statement;
pub mod sweeps;
mod tiers;
mod transfer;
mod tx;

pub use context::MemberCtx;
pub use digest::DigestCheck;
pub use earn::{EarnWindows, ReverseRequest};
pub use erasure::ErasureView;
pub use export::Chunk;
pub use fraud::{Decision, ReviewFilter};
pub use history::HistoryPage;
pub use holds::{CaptureRequest, HoldRequest};
pub use idempotency::{Committed, IdemRequest};
pub use members::{BalanceView, EnrolRequest, MemberView, RegionInfo};
pub use partner_bonus::PartnerBonusRequest;
pub use programme::ProgrammeCache;
pub use redeem::RedeemRequest;
pub use transfer::TransferRequest;
pub use tx::Db;

use chrono::{DateTime, Utc};

/// The current time truncated to microseconds, PostgreSQL's and CockroachDB's timestamp
/// precision, so that what the ledger hashes is exactly what it stores.
pub fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).expect("current time is in range")
}
