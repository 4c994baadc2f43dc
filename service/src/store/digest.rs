//! The signed chain-head digests (ADR 0021, docs/retention.md): writing one over the
//! members a region serves, and the audit's check of each region's latest digest.
//!
//! A digest is written page by page (each page of heads read and stored in its own short
//! transaction, so neither memory nor a transaction grows with the members), then signed and
//! stored. Heads only grow, so a head read at any moment stays a true claim: "this entry
//! existed with this hash". Heads of all but a region's two newest digests are pruned.

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;
use futures::{StreamExt, pin_mut};
use serde::Serialize;
use uuid::Uuid;

use super::audit::AuditReport;
use super::{Db, now_micros};
use crate::crypto::DigestVerifier;
use crate::crypto::digest::{Head, Root, Statement};
use crate::error::{Error, Result};

/// Heads read and stored per page.
const HEADS_PER_PAGE: i64 = 1_000;
/// Old heads deleted per statement while pruning.
const PRUNE_PER_STATEMENT: i64 = 5_000;

const PAGE: &str = "SELECT member_id, home_region, last_seq, last_hash FROM balances \
    WHERE last_seq > 0 AND member_id > $2 AND home_region IN (SELECT name FROM regions WHERE served_by = $1) \
    ORDER BY member_id LIMIT $3";

/// A digest as the audit saw it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DigestCheck {
    pub id: Uuid,
    pub region: String,
    pub created_at: DateTime<Utc>,
    pub members: i64,
    /// Whether the signature was checked: false when the audit has no public key.
    pub signature_checked: bool,
}

impl Db {
    /// Signs a digest over the chain heads of every member `region` serves; returns it.
    pub async fn sign_chain_digest(&self, region: &str) -> Result<Statement> {
        let signer = self.digest_keys().signer.clone().ok_or_else(|| {
            Error::Invariant("this pool was built without the digest signing key".into())
        })?;
        let id = Uuid::new_v4();
        let mut root = Root::default();
        let (mut members, mut after) = (0_i64, Uuid::nil());
        loop {
            let page = self.read_heads(region, after).await?;
            let Some((last, _)) = page.last() else { break };
            after = last.member_id;
            members += page.len() as i64;
            page.iter().for_each(|(head, _)| root.add(head));
            self.store_heads(id, &page).await?;
        }
        let statement = Statement {
            id,
            region: region.to_owned(),
            created_at: now_micros(),
            members,
            root: root.finish(),
        };
        let signature = signer.sign(&statement);
        self.serializable("chain_digest", |tx| {
            let (s, key_id, signature) = (statement.clone(), signer.key_id().to_owned(), signature.clone());
            Box::pin(async move {
                tx.write(
                    "INSERT INTO chain_digests (id, region, created_at, members, root, key_id, signature) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    super::tx::params![s.id, s.region, s.created_at, s.members, s.root, key_id, signature],
                )
                .await
            })
        })
        .await?;
        self.prune_heads(region).await?;
        Ok(statement)
    }

    async fn read_heads(&self, region: &str, after: Uuid) -> Result<Vec<(Head, String)>> {
        let client = self.conn().await?;
        let stmt = client.prepare_cached(PAGE).await?;
        let rows = client
            .query(&stmt, &[&region, &after, &HEADS_PER_PAGE])
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let head = Head {
                    member_id: r.get(0),
                    seq: r.get(2),
                    hash: r.get(3),
                };
                (head, r.get(1))
            })
            .collect())
    }

    async fn store_heads(&self, digest: Uuid, page: &[(Head, String)]) -> Result<()> {
        let members: Vec<Uuid> = page.iter().map(|(h, _)| h.member_id).collect();
        let homes: Vec<String> = page.iter().map(|(_, home)| home.clone()).collect();
        let seqs: Vec<i64> = page.iter().map(|(h, _)| h.seq).collect();
        let hashes: Vec<Vec<u8>> = page.iter().map(|(h, _)| h.hash.clone()).collect();
        self.serializable("chain_digest_heads", |tx| {
            let params = super::tx::params![digest, members.clone(), homes.clone(), seqs.clone(), hashes.clone()];
            Box::pin(async move {
                tx.write(
                    "INSERT INTO chain_digest_heads (digest_id, member_id, home_region, seq, entry_hash) \
                     SELECT $1, m, h, s, e FROM unnest($2::UUID[], $3::TEXT[], $4::BIGINT[], $5::BYTEA[]) AS t (m, h, s, e)",
                    params,
                )
                .await
            })
        })
        .await?;
        Ok(())
    }

    /// Deletes the heads of `region`'s digests older than its two newest.
    async fn prune_heads(&self, region: &str) -> Result<()> {
        let client = self.conn().await?;
        let old: Vec<Uuid> = client
            .query(
                "SELECT id FROM chain_digests WHERE region = $1 ORDER BY created_at DESC OFFSET 2",
                &[&region],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let delete = "DELETE FROM chain_digest_heads WHERE (digest_id, member_id) IN \
            (SELECT digest_id, member_id FROM chain_digest_heads WHERE digest_id = ANY($1) LIMIT $2)";
        while client
            .execute(delete, &[&old, &PRUNE_PER_STATEMENT])
            .await?
            > 0
        {}
        Ok(())
    }
}

/// The newest digest of every region that wrote one.
const LATEST_DIGESTS: &str = "
SELECT DISTINCT ON (region) id, region, created_at, members, root, key_id, signature
FROM chain_digests ORDER BY region, created_at DESC";

/// Each head of a digest next to the entry it names (NULL when that entry is gone).
const SIGNED_HEADS: &str = "
SELECT h.member_id, h.seq, h.entry_hash, e.entry_hash
FROM chain_digest_heads h
LEFT JOIN ledger_entries e ON e.member_id = h.member_id AND e.seq = h.seq
WHERE h.digest_id = $1 ORDER BY h.member_id";

/// The audit's digest check: each region's newest digest is signed by the configured key,
/// its stored heads add up to its signed root, and every head's entry is still in the ledger
/// with the signed hash (deleting a chain's newest entries fails here).
pub(super) async fn verify_latest(
    client: &ClientWrapper,
    verifier: Option<&DigestVerifier>,
    report: &mut AuditReport,
) -> Result<()> {
    for row in client.query(LATEST_DIGESTS, &[]).await? {
        let statement = Statement {
            id: row.get(0),
            region: row.get(1),
            created_at: row.get(2),
            members: row.get(3),
            root: row.get(4),
        };
        let (key_id, signature): (String, Vec<u8>) = (row.get(5), row.get(6));
        if let Some(v) = verifier
            && (v.key_id() != key_id || !v.verify(&statement, &signature))
        {
            let detail = format!(
                "digest {} of {} is not signed by key {}",
                statement.id,
                statement.region,
                v.key_id()
            );
            report.push(None, "chain_digest_signed", detail);
        }
        verify_heads(client, &statement, report).await?;
        report.digests.push(DigestCheck {
            id: statement.id,
            region: statement.region,
            created_at: statement.created_at,
            members: statement.members,
            signature_checked: verifier.is_some(),
        });
    }
    Ok(())
}

async fn verify_heads(
    client: &ClientWrapper,
    signed: &Statement,
    report: &mut AuditReport,
) -> Result<()> {
    let rows = client.query_raw(SIGNED_HEADS, [&signed.id]).await?;
    pin_mut!(rows);
    let (mut root, mut members) = (Root::default(), 0_i64);
    while let Some(row) = rows.next().await {
        let row = row?;
        let head = Head {
            member_id: row.get(0),
            seq: row.get(1),
            hash: row.get(2),
        };
        let stored: Option<Vec<u8>> = row.get(3);
        let problem = match stored {
            None => Some("is missing from the ledger"),
            Some(hash) if hash != head.hash => Some("differs from the signed hash"),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            let detail = format!(
                "entry {} signed in digest {} at {} {problem}",
                head.seq, signed.id, signed.created_at
            );
            report.push(Some(head.member_id), "chain_head_signed", detail);
        }
        root.add(&head);
        members += 1;
    }
    if members != signed.members || root.finish() != signed.root {
        let detail = format!(
            "the stored heads of digest {} do not add up to its signed root",
            signed.id
        );
        report.push(None, "chain_digest_signed", detail);
    }
    Ok(())
}
