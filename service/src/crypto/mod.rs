//! Keys that protect members' personal fields and the ledger's chain heads (ADR 0021).
//!
//! - [`aead`]: XChaCha20-Poly1305 sealing with random 24-byte nonces, bound to its context;
//! - [`kek`]: the key-encryption key behind [`KeyEncryptionKey`] (a local key file in
//!   development, a KMS adapter in production), which wraps each member's data key;
//! - [`blind_index`]: a keyed HMAC of the external id, so lookups never need the plaintext;
//! - [`digest`]: the Ed25519-signed digest over every member's chain head;
//! - [`files`]: the key files, and the ones `serve --demo` generates.

pub mod aead;
pub mod blind_index;
pub mod digest;
pub mod files;
pub mod kek;

use std::sync::Arc;

use uuid::Uuid;

pub use aead::{DataKey, OpenError};
pub use blind_index::BlindIndexKey;
pub use digest::{DigestSigner, DigestVerifier};
pub use kek::{KeyEncryptionKey, LocalKeyFile, WrappedKey};

/// The digest keys a pool was given: the service has both, an audit may have only the
/// verifier.
#[derive(Clone, Default)]
pub struct DigestKeys {
    pub signer: Option<Arc<DigestSigner>>,
    pub verifier: Option<DigestVerifier>,
}

/// What the service needs to seal and open personal fields: the key-encryption key and the
/// blind-index key. Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    kek: Arc<dyn KeyEncryptionKey>,
    index: BlindIndexKey,
}

impl Keyring {
    pub fn new(kek: Arc<dyn KeyEncryptionKey>, index: BlindIndexKey) -> Self {
        Self { kek, index }
    }

    /// A fresh data key for `member`, and that key wrapped by the current KEK.
    pub fn new_data_key(&self, member: Uuid) -> Result<(DataKey, WrappedKey), OpenError> {
        let key = DataKey::generate();
        let wrapped = self.kek.wrap(&data_key_context(member), key.as_bytes())?;
        Ok((key, wrapped))
    }

    /// `member`'s data key, unwrapped by the KEK version that wrapped it.
    pub fn unwrap(&self, member: Uuid, wrapped: &WrappedKey) -> Result<DataKey, OpenError> {
        let bytes = self.kek.unwrap(&data_key_context(member), wrapped)?;
        Ok(DataKey::from_bytes(bytes))
    }

    /// The id of the KEK version new data keys are wrapped with.
    pub fn current_kek_id(&self) -> &str {
        self.kek.current_id()
    }

    /// The blind index of an external id: what lookups and the uniqueness constraint use.
    pub fn index(&self, external_id: &str) -> Vec<u8> {
        self.index.of(external_id)
    }
}

/// What a wrapped data key is bound to: a wrapped key copied to another member's row does
/// not unwrap.
fn data_key_context(member: Uuid) -> Vec<u8> {
    let mut context = b"loyalty-data-key/v1:".to_vec();
    context.extend_from_slice(member.as_bytes());
    context
}
