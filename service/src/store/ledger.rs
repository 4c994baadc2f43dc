//! Appending ledger entries and writing the balance row back.
//!
//! Every entry carries explicit deltas for each balance column, so each column of
//! `balances` is exactly the sum of its delta column (the audit's first check), and a
//! sha256 chain over the member's entries, so that any later edit of a stored entry is
//! detectable (the audit's last check).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::context::{Balance, MemberCtx};
use super::tx::Tx;
use crate::error::{Error, Result};

/// The kinds of movement, as stored in `ledger_entries.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Earn,
    Redeem,
    Hold,
    Capture,
    Void,
    Expire,
    Reverse,
    Transfer,
    Adjust,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earn => "earn",
            Self::Redeem => "redeem",
            Self::Hold => "hold",
            Self::Capture => "capture",
            Self::Void => "void",
            Self::Expire => "expire",
            Self::Reverse => "reverse",
            Self::Transfer => "transfer",
            Self::Adjust => "adjust",
        }
    }
}

/// Signed changes to each balance column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deltas {
    pub available: i64,
    pub pending: i64,
    pub held: i64,
    pub lifetime: i64,
    pub qualifying: i64,
}

/// An entry before it has a sequence number and hash.
pub struct Draft<'a> {
    pub kind: EntryKind,
    pub deltas: Deltas,
    pub reason: &'a str,
    pub source: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub hold_id: Option<Uuid>,
    pub details: Value,
}

impl<'a> Draft<'a> {
    /// An entry no booking, reference or hold names (expiry, vesting, ageing); callers that
    /// do name one set it with struct update syntax.
    pub fn new(kind: EntryKind, deltas: Deltas, reason: &'a str, details: Value) -> Self {
        Self {
            kind,
            deltas,
            reason,
            source: None,
            reference: None,
            hold_id: None,
            details,
        }
    }
}

/// An entry whose sequence number and hash are fixed, ready to insert.
pub struct Staged<'a> {
    member_id: Uuid,
    home_region: String,
    region: String,
    epoch: i64,
    id: Uuid,
    seq: i64,
    hash: Vec<u8>,
    now: DateTime<Utc>,
    draft: Draft<'a>,
}

impl Staged<'_> {
    fn appended(&self) -> Appended {
        Appended {
            id: self.id,
            seq: self.seq,
        }
    }

    /// Queues the insert; it goes out with the transaction's next statement.
    async fn insert(&self, tx: &Tx<'_>) -> Result<()> {
        let (d, draft) = (self.draft.deltas, &self.draft);
        tx.write(
            "INSERT INTO ledger_entries (member_id, seq, id, home_region, kind, available_delta, \
             pending_delta, held_delta, lifetime_delta, qualifying_delta, reason, source, reference, \
             hold_id, details, written_in, created_at, entry_hash, written_epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            super::tx::params![
                self.member_id,
                self.seq,
                self.id,
                self.home_region.clone(),
                draft.kind.as_str(),
                d.available,
                d.pending,
                d.held,
                d.lifetime,
                d.qualifying,
                draft.reason.to_owned(),
                draft.source.map(str::to_owned),
                draft.reference.map(str::to_owned),
                draft.hold_id,
                draft.details.clone(),
                self.region.clone(),
                self.now,
                self.hash.clone(),
                self.epoch,
            ],
        )
        .await
    }
}

/// What an appended entry is known by.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub id: Uuid,
    pub seq: i64,
}

/// The hash every member's chain starts from.
pub fn genesis_hash(member_id: Uuid) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"loyalty-ledger-genesis");
    h.update(member_id.as_bytes());
    h.finalize().to_vec()
}

/// The fields an entry's hash covers, in one place for the writer and the auditor.
///
/// `written_epoch` is deliberately not one of them: it was added after entries were
/// already chained, and leaving it out keeps every existing chain verifiable unchanged.
pub struct HashInput<'a> {
    pub member_id: Uuid,
    pub seq: i64,
    pub kind: &'a str,
    pub deltas: Deltas,
    pub reason: &'a str,
    pub source: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub hold_id: Option<Uuid>,
    pub details: &'a Value,
    pub written_in: &'a str,
    pub created_at: DateTime<Utc>,
}

impl HashInput<'_> {
    /// sha256(prev || fields), each field length-prefixed so no two entries encode alike.
    pub fn chain(&self, prev: &[u8]) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(prev);
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(self.member_id.as_bytes());
        field(&self.seq.to_be_bytes());
        field(self.kind.as_bytes());
        let d = self.deltas;
        for delta in [d.available, d.pending, d.held, d.lifetime, d.qualifying] {
            field(&delta.to_be_bytes());
        }
        field(self.reason.as_bytes());
        field(self.source.unwrap_or("").as_bytes());
        field(self.reference.unwrap_or("").as_bytes());
        field(
            self.hold_id
                .map(|u| *u.as_bytes())
                .unwrap_or_default()
                .as_slice(),
        );
        field(canonical_json(self.details).as_bytes());
        field(self.written_in.as_bytes());
        field(&self.created_at.timestamp_micros().to_be_bytes());
        h.finalize().to_vec()
    }
}

/// JSON with object keys sorted at every level: what JSONB gives back may be ordered
/// differently from what was written, so the hash must not depend on key order.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

fn apply(balance: &mut Balance, d: Deltas) -> Result<()> {
    let add = |current: i64, delta: i64, column: &str| -> Result<i64> {
        let next = current
            .checked_add(delta)
            .ok_or_else(|| Error::Invariant(format!("{column} would overflow")))?;
        // Every caller checks its own preconditions first; reaching this is a bug that must
        // not be written, so refuse loudly rather than let the CHECK constraint decide.
        if next < 0 {
            return Err(Error::Invariant(format!(
                "refusing a movement of {delta} that would take {column} ({current}) negative"
            )));
        }
        Ok(next)
    };
    balance.available = add(balance.available, d.available, "available")?;
    balance.pending = add(balance.pending, d.pending, "pending")?;
    balance.held = add(balance.held, d.held, "held")?;
    balance.lifetime = add(balance.lifetime, d.lifetime, "lifetime")?;
    balance.qualifying = add(balance.qualifying, d.qualifying, "qualifying")?;
    Ok(())
}

impl MemberCtx {
    /// Inserts one entry, applying its deltas to the in-memory balance (checked: nothing may
    /// overflow or go negative) and extending the hash chain.
    pub async fn append(
        &mut self,
        tx: &Tx<'_>,
        now: DateTime<Utc>,
        mut draft: Draft<'_>,
    ) -> Result<Appended> {
        if let (Some(actor), Value::Object(details)) = (tx.actor(), &mut draft.details) {
            details.insert("actor".to_owned(), json!(actor));
        }
        let staged = self.stage(now, draft)?;
        staged.insert(tx).await?;
        Ok(staged.appended())
    }

    /// The in-memory half of [`MemberCtx::append`]: checks and applies the deltas, extends the
    /// chain, and returns the row to insert.
    fn stage<'a>(&mut self, now: DateTime<Utc>, draft: Draft<'a>) -> Result<Staged<'a>> {
        apply(&mut self.balance, draft.deltas)?;
        let seq = self.balance.last_seq + 1;
        let input = HashInput {
            member_id: self.member_id,
            seq,
            kind: draft.kind.as_str(),
            deltas: draft.deltas,
            reason: draft.reason,
            source: draft.source,
            reference: draft.reference,
            hold_id: draft.hold_id,
            details: &draft.details,
            written_in: &self.region,
            created_at: now,
        };
        let hash = input.chain(&self.balance.last_hash);
        self.balance.last_seq = seq;
        self.balance.last_hash = hash.clone();
        Ok(Staged {
            member_id: self.member_id,
            home_region: self.home_region.clone(),
            region: self.region.clone(),
            epoch: self.epoch,
            id: Uuid::new_v4(),
            seq,
            hash,
            now,
            draft,
        })
    }

    /// Writes the in-memory balance back; called once, after the last append.
    pub async fn write_balance(&self, tx: &Tx<'_>, now: DateTime<Utc>) -> Result<()> {
        let b = &self.balance;
        tx.write(
            "UPDATE balances SET available = $2, pending = $3, held = $4, lifetime = $5, \
             qualifying = $6, last_seq = $7, last_hash = $8, updated_at = $9 WHERE member_id = $1",
            super::tx::params![
                self.member_id,
                b.available,
                b.pending,
                b.held,
                b.lifetime,
                b.qualifying,
                b.last_seq,
                b.last_hash.clone(),
                now,
            ],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": [1, {"k": 2, "j": 3}], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, {"j": 3, "k": 2}]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn chain_hash_changes_when_any_field_changes() {
        let details = json!({"base_points": 10});
        let input = |reason| HashInput {
            member_id: Uuid::nil(),
            seq: 1,
            kind: "earn",
            deltas: Deltas {
                available: 10,
                ..Deltas::default()
            },
            reason,
            source: Some("s"),
            reference: Some("r"),
            hold_id: None,
            details: &details,
            written_in: "eu-west-1",
            created_at: DateTime::from_timestamp_micros(1).unwrap(),
        };
        let prev = genesis_hash(Uuid::nil());
        assert_eq!(input("a").chain(&prev), input("a").chain(&prev));
        assert_ne!(input("a").chain(&prev), input("b").chain(&prev));
        assert_ne!(input("a").chain(&prev), input("a").chain(&[0u8; 32]));
    }
}
