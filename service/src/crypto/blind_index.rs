//! The blind index of an external id: HMAC-SHA256 under a key from configuration. The
//! uniqueness constraint and the enrolment lookup use it, so the external id is needed in
//! the clear only in the request that names it. Without the key, the index cannot be
//! recomputed from a guessed external id (unlike a plain hash of a low-entropy id).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The HMAC key of the blind index; the same on every instance sharing a database.
#[derive(Clone)]
pub struct BlindIndexKey([u8; 32]);

impl BlindIndexKey {
    pub fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    /// The index of `external_id`, domain-separated from any other use of the key.
    pub fn of(&self, external_id: &str) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"loyalty-external-id/v1:");
        mac.update(external_id.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_stable_per_key_and_differs_across_keys_and_ids() {
        let (a, b) = (BlindIndexKey::new([1; 32]), BlindIndexKey::new([2; 32]));
        assert_eq!(a.of("ext-1"), a.of("ext-1"));
        assert_ne!(a.of("ext-1"), a.of("ext-2"));
        assert_ne!(a.of("ext-1"), b.of("ext-1"));
        assert_eq!(a.of("ext-1").len(), 32);
    }
}
