//! The delivery of outbox events to webhook subscriptions (docs/events.md, ADR 0020): the
//! subscriptions the operator publishes, the fan-out of events into one `deliveries` row per
//! (subscription, event), the leased claim of due deliveries, the record of each attempt, the
//! dead letters with their replay, and the pruning of what was delivered.
//!
//! Every unit is one SERIALIZABLE transaction through [`Db::serializable`](super::Db), like
//! the sweeps: two replicas claiming the same delivery conflict, one re-runs and finds the
//! lease taken. The lease (`lease_owner`, `lease_until`) is what keeps a second replica from
//! sending an event while the first is still waiting for the receiver; an expired lease is
//! taken over, so an instance that dies mid-delivery loses nothing (at least once).

mod claim;
mod dead_letters;
mod fanout;
mod prune;
mod subscriptions;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use claim::{Claimed, Recorded};
pub use dead_letters::{DeadLetter, DeadLetters, DeliveryGauges, MAX_DEAD_LETTERS_PAGE, Replayed};
pub use prune::{Pruned, Retention};
pub use subscriptions::{Subscription, load as load_subscriptions, publish_subscription};

/// A delivery's key: one event for one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub partner_code: String,
    pub subscription: String,
    pub event_id: Uuid,
}

/// What one fan-out or claim round may do.
#[derive(Debug, Clone, Copy)]
pub struct RoundLimits {
    /// Deliveries created or claimed per statement.
    pub batch: i64,
    /// How far before its cursor a fan-out re-reads the outbox (late commits, clock skew).
    pub fanout_margin: chrono::Duration,
    pub now: DateTime<Utc>,
}
