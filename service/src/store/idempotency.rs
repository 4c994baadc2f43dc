//! Idempotency records and [`Db::mutate`], the one way the service writes.
//!
//! Each mutating request carries a key: the client's `Idempotency-Key`, or one the service
//! makes up when the client sent none (so that an ambiguous commit can still be resolved).
//! The record, with a hash of the request and the response, is written in the same
//! transaction as the mutation. A replay gets the stored response, deserialized back into
//! the unit's typed outcome; the same key with a different request is refused. Refusals are
//! not stored: nothing was written, so the retried request is simply evaluated again.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ledger::canonical_json;
use super::tx::Tx;
use super::{Db, now_micros};
use crate::domain::Refusal;
use crate::error::{Error, Result};

/// How many times an ambiguous commit is resolved and the work re-run before giving up.
const MAX_AMBIGUITY_ROUNDS: u32 = 3;

/// The key and fingerprint of one mutating request.
#[derive(Debug, Clone)]
pub struct IdemRequest {
    key: String,
    hash: Vec<u8>,
}

impl IdemRequest {
    /// `client_key` is the validated header value, if the client sent one.
    pub fn new(client_key: Option<&str>, method: &str, path: &str, body: &Value) -> Self {
        let key = match client_key {
            Some(k) => format!("c:{k}"),
            None => format!("s:{}", Uuid::new_v4()),
        };
        let mut h = Sha256::new();
        for part in [method, path, &canonical_json(body)] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Self {
            key,
            hash: h.finalize().to_vec(),
        }
    }
}

/// What a unit of work answers, before it is stored.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub value: T,
    /// Where the record lives (REGIONAL BY ROW on CockroachDB).
    pub home_region: String,
    /// The unit answered from an earlier write (e.g. a booking already earned).
    pub replayed: bool,
}

impl<T> Outcome<T> {
    /// A fresh write's outcome, its record homed with the member in `home_region`.
    pub fn new(value: T, home_region: String) -> Self {
        Self {
            value,
            home_region,
            replayed: false,
        }
    }
}

/// A committed write's outcome, fresh or replayed from its idempotency record.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed<T> {
    pub value: T,
    pub replayed: bool,
}

/// Reads a stored response back into its type. One that does not read is the service's
/// fault (a record written by an incompatible version), never the caller's.
pub(super) fn stored_value<T: DeserializeOwned>(what: &str, json: Value) -> Result<T> {
    serde_json::from_value(json)
        .map_err(|e| Error::Invariant(format!("stored {what} response is unreadable: {e}")))
}

async fn lookup<T: DeserializeOwned>(
    tx: &Tx<'_>,
    idem: &IdemRequest,
) -> Result<Option<Committed<T>>> {
    let Some(row) = tx
        .query_opt(
            "SELECT request_hash, response FROM idempotency_keys WHERE key = $1",
            &[&idem.key],
        )
        .await?
    else {
        return Ok(None);
    };
    let hash: Vec<u8> = row.get(0);
    if hash != idem.hash {
        return Err(Refusal::IdempotencyKeyReused.into());
    }
    Ok(Some(Committed {
        value: stored_value("idempotent", row.get(1))?,
        replayed: true,
    }))
}

/// Queues the record; it goes out with the COMMIT.
async fn store(
    tx: &Tx<'_>,
    idem: &IdemRequest,
    home_region: &str,
    response: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.write(
        "INSERT INTO idempotency_keys (key, home_region, request_hash, response, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        super::tx::params![
            idem.key.clone(),
            home_region.to_owned(),
            idem.hash.clone(),
            response,
            now,
        ],
    )
    .await
}

/// A typed outcome as JSON, for the idempotency record (and the earn record).
pub(super) fn to_json<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::Invariant(format!("a response failed to serialize: {e}")))
}

impl Db {
    /// Runs one mutating unit of work with its idempotency record (see the module docs).
    ///
    /// `unit` is called once per attempt and must return a future that borrows only the
    /// connection: everything else it needs is cloned in.
    pub async fn mutate<T, F>(
        &self,
        operation: &'static str,
        idem: &IdemRequest,
        unit: F,
    ) -> Result<Committed<T>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: for<'c> Fn(&'c Tx<'c>) -> BoxFuture<'c, Result<Outcome<T>>>,
    {
        for _ in 0..MAX_AMBIGUITY_ROUNDS {
            let outcome = self
                .serializable(operation, |tx| {
                    let work = unit(tx);
                    let idem = idem.clone();
                    Box::pin(async move {
                        // The lookup and the unit's first reads share a round trip. The unit
                        // runs regardless, but its writes are only queued (or, if it read
                        // after writing, uncommitted): a replay discards them all.
                        let (found, out) = tokio::join!(biased; lookup(tx, &idem), work);
                        // Refusing to serve the member here (this region is fenced, or in
                        // another residency group) wins over a replay: a stored response is
                        // the member's data too, and the serving region replays it alike.
                        let out = match out {
                            Err(e) if e.is_wrong_region() => return Err(e),
                            other => other,
                        };
                        if let Some(stored) = found? {
                            tx.discard();
                            return Ok(stored);
                        }
                        let out = out?;
                        store(
                            tx,
                            &idem,
                            &out.home_region,
                            to_json(&out.value)?,
                            now_micros(),
                        )
                        .await?;
                        Ok(Committed {
                            value: out.value,
                            replayed: out.replayed,
                        })
                    })
                })
                .await?;
            if let Some(stored) = outcome {
                return Ok(stored);
            }
            // The commit may or may not have happened: the record says which.
            let resolved = self
                .serializable("resolve_ambiguous", |tx| {
                    let idem = idem.clone();
                    Box::pin(async move { lookup::<T>(tx, &idem).await })
                })
                .await?;
            if let Some(stored) = resolved.flatten() {
                return Ok(Committed {
                    replayed: false,
                    ..stored
                });
            }
            tracing::warn!(
                operation,
                "ambiguous commit did not happen; running the work again"
            );
        }
        Err(Error::CommitUnknown)
    }
}
