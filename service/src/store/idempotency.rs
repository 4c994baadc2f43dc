//! Idempotency records and [`Db::mutate`], the one way the service writes.
//!
//! Each mutating request carries a key: the client's `Idempotency-Key`, or one the service
//! makes up when the client sent none (so that an ambiguous commit can still be resolved).
//! The record, with a hash of the request and the response, is written in the same
//! transaction as the mutation. A replay gets the stored response; the same key with a
//! different request is refused with 409. Refusals (4xx) are not stored: nothing was
//! written, so the retried request is simply evaluated again.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ledger::canonical_json;
use super::tx::Tx;
use super::{Db, now_micros};
use crate::error::{ApiError, Error, Result};

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
pub struct Output {
    pub status: StatusCode,
    pub body: Value,
    /// Where the record lives (REGIONAL BY ROW on CockroachDB).
    pub home_region: String,
    /// The unit answered from an earlier write (e.g. a booking already earned).
    pub replayed: bool,
}

/// A response as the handler sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub status: StatusCode,
    pub body: Value,
    pub replayed: bool,
}

async fn lookup(tx: &Tx<'_>, idem: &IdemRequest) -> Result<Option<Stored>> {
    let Some(row) = tx
        .query_opt(
            "SELECT request_hash, status, response FROM idempotency_keys WHERE key = $1",
            &[&idem.key],
        )
        .await?
    else {
        return Ok(None);
    };
    let hash: Vec<u8> = row.get(0);
    if hash != idem.hash {
        return Err(ApiError::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )
        .into());
    }
    let status = u16::try_from(row.get::<_, i32>(1))
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    Ok(Some(Stored {
        status,
        body: row.get(2),
        replayed: true,
    }))
}

/// Queues the record; it goes out with the COMMIT.
async fn store(tx: &Tx<'_>, idem: &IdemRequest, out: &Output, now: DateTime<Utc>) -> Result<()> {
    tx.write(
        "INSERT INTO idempotency_keys (key, home_region, request_hash, status, response, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        super::tx::params![
            idem.key.clone(),
            out.home_region.clone(),
            idem.hash.clone(),
            i32::from(out.status.as_u16()),
            out.body.clone(),
            now,
        ],
    )
    .await
}

impl Db {
    /// Runs one mutating unit of work with its idempotency record (see the module docs).
    ///
    /// `unit` is called once per attempt and must return a future that borrows only the
    /// connection: everything else it needs is cloned in.
    pub async fn mutate<F>(
        &self,
        operation: &'static str,
        idem: &IdemRequest,
        unit: F,
    ) -> Result<Stored>
    where
        F: for<'c> Fn(&'c Tx<'c>) -> BoxFuture<'c, Result<Output>>,
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
                            Err(Error::Api(e)) if e.status == StatusCode::MISDIRECTED_REQUEST => {
                                return Err(e.into());
                            }
                            other => other,
                        };
                        if let Some(stored) = found? {
                            tx.discard();
                            return Ok(stored);
                        }
                        let out = out?;
                        store(tx, &idem, &out, now_micros()).await?;
                        Ok(Stored {
                            status: out.status,
                            body: out.body,
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
                    Box::pin(async move { lookup(tx, &idem).await })
                })
                .await?;
            if let Some(stored) = resolved.flatten() {
                return Ok(Stored {
                    replayed: false,
                    ..stored
                });
            }
            tracing::warn!(
                operation,
                "ambiguous commit did not happen; running the work again"
            );
        }
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "commit_unknown",
            "the outcome of the write is unknown; retry with the same Idempotency-Key",
        )
        .into())
    }
}
