//! Members' data keys and sealed profiles (ADR 0021). A member's profile (external id and
//! country) is stored only sealed with the member's data key; the data key only wrapped by
//! the key-encryption key, in `member_keys`, homed with the member. Erasure deletes that row
//! (`store::erasure`), after which nothing can open the profile.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use uuid::Uuid;

use super::tx::Tx;
use super::{Db, now_micros};
use crate::crypto::{Keyring, WrappedKey};
use crate::error::{Error, Result};

/// The personal fields of a member, as sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub external_id: String,
    pub country: String,
}

/// A profile ready to store: its blind index, its ciphertext and the wrapped data key.
pub(super) struct SealedProfile {
    pub index: Vec<u8>,
    pub sealed: Vec<u8>,
    pub wrapped: WrappedKey,
}

/// What the profile's ciphertext is bound to.
fn context(member: Uuid) -> Vec<u8> {
    let mut context = b"loyalty-member-profile/v1:".to_vec();
    context.extend_from_slice(member.as_bytes());
    context
}

fn sealing_failed(e: crate::crypto::OpenError) -> Error {
    Error::Invariant(format!("member profile: {e}"))
}

/// Seals `profile` under a fresh data key of `member`.
pub(super) fn seal(keyring: &Keyring, member: Uuid, profile: &Profile) -> Result<SealedProfile> {
    let (key, wrapped) = keyring.new_data_key(member).map_err(sealing_failed)?;
    let plaintext = serde_json::to_vec(profile)
        .map_err(|e| Error::Invariant(format!("a profile failed to serialize: {e}")))?;
    Ok(SealedProfile {
        index: keyring.index(&profile.external_id),
        sealed: key
            .seal(&context(member), &plaintext)
            .map_err(sealing_failed)?,
        wrapped,
    })
}

/// Queues the member's wrapped data key.
pub(super) async fn store_key(
    tx: &Tx<'_>,
    member: Uuid,
    home_region: &str,
    wrapped: &WrappedKey,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.write(
        "INSERT INTO member_keys (member_id, home_region, kek_id, wrapped_key, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        super::tx::params![
            member,
            home_region.to_owned(),
            wrapped.kek_id.clone(),
            wrapped.bytes.clone(),
            now
        ],
    )
    .await
}

/// A member's profile columns as read: `profile_sealed`, `kek_id`, `wrapped_key` (from a
/// LEFT JOIN of `member_keys`), and the plaintext columns of a row not sealed yet.
pub(super) struct StoredProfile {
    pub sealed: Option<Vec<u8>>,
    pub wrapped: Option<WrappedKey>,
    pub plaintext: Option<Profile>,
}

/// The columns [`StoredProfile::from_row`] reads, `m` being `members` and `k` `member_keys`.
pub(super) const PROFILE_COLUMNS: &str =
    "m.profile_sealed, k.kek_id, k.wrapped_key, m.external_id, m.country";

impl StoredProfile {
    /// The [`PROFILE_COLUMNS`] starting at column `at`.
    pub fn from_row(row: &Row, at: usize) -> Self {
        let wrapped = match (row.get(at + 1), row.get(at + 2)) {
            (Some(kek_id), Some(bytes)) => Some(WrappedKey { kek_id, bytes }),
            _ => None,
        };
        let plaintext = match (row.get(at + 3), row.get(at + 4)) {
            (Some(external_id), Some(country)) => Some(Profile {
                external_id,
                country,
            }),
            _ => None,
        };
        Self {
            sealed: row.get(at),
            wrapped,
            plaintext,
        }
    }

    /// The profile, or `None` once the member is erased (no key, no ciphertext).
    pub fn open(self, keyring: &Keyring, member: Uuid) -> Result<Option<Profile>> {
        let (sealed, wrapped) = match (self.sealed, self.wrapped) {
            (Some(sealed), Some(wrapped)) => (sealed, wrapped),
            (None, None) => return Ok(self.plaintext),
            _ => {
                return Err(Error::Invariant(format!(
                    "member {member}'s profile and data key are not both present"
                )));
            }
        };
        let key = keyring.unwrap(member, &wrapped).map_err(sealing_failed)?;
        let plaintext = key
            .open(&context(member), &sealed)
            .map_err(sealing_failed)?;
        serde_json::from_slice(&plaintext)
            .map(Some)
            .map_err(|e| Error::Invariant(format!("member {member}'s profile is unreadable: {e}")))
    }
}

/// Seals one member whose profile is still in the plaintext columns.
async fn seal_one(tx: &Tx<'_>, keyring: &Keyring, member: Uuid) -> Result<bool> {
    let Some(row) = tx
        .query_opt(
            "SELECT home_region, external_id, country FROM members \
             WHERE id = $1 AND external_id IS NOT NULL AND country IS NOT NULL FOR UPDATE",
            &[&member],
        )
        .await?
    else {
        return Ok(false);
    };
    let home_region: String = row.get(0);
    let profile = Profile {
        external_id: row.get(1),
        country: row.get(2),
    };
    let sealed = seal(keyring, member, &profile)?;
    let now = now_micros();
    store_key(tx, member, &home_region, &sealed.wrapped, now).await?;
    tx.write(
        "UPDATE members SET external_id = NULL, country = NULL, external_id_index = $2, \
         profile_sealed = $3 WHERE id = $1",
        super::tx::params![member, sealed.index, sealed.sealed],
    )
    .await?;
    Ok(true)
}

impl Db {
    /// Seals up to `batch` members written before personal fields were sealed (or loaded in
    /// bulk, as the demo seed and the benchmark's data set are), each in its own
    /// transaction. Returns how many it sealed; 0 when none is left.
    pub async fn seal_plaintext_members(&self, batch: i64) -> Result<u64> {
        let keyring = self.keyring()?.clone();
        let candidates: Vec<Uuid> = {
            let client = self.conn().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id FROM members WHERE external_id IS NOT NULL AND erased_at IS NULL \
                     ORDER BY id LIMIT $1",
                )
                .await?;
            let rows = client.query(&stmt, &[&batch]).await?;
            rows.iter().map(|r| r.get(0)).collect()
        };
        let mut sealed = 0;
        for member in candidates {
            let keyring = keyring.clone();
            let done = self
                .serializable("seal_member", |tx| {
                    let keyring = keyring.clone();
                    Box::pin(async move { seal_one(tx, &keyring, member).await })
                })
                .await?;
            sealed += u64::from(done == Some(true));
        }
        Ok(sealed)
    }
}
