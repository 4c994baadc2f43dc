//! Sealing with XChaCha20-Poly1305 (the `chacha20poly1305` crate, RustCrypto): a random
//! 24-byte nonce per message, stored in front of the ciphertext, and associated data that
//! binds the ciphertext to what it is (e.g. "the profile of member X"), so a sealed value
//! moved to another row fails to open instead of opening as someone else's.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// Bytes of a key (256 bits).
pub const KEY_BYTES: usize = 32;
/// Bytes of an XChaCha20 nonce: random nonces of this size never collide in practice, so
/// one key may seal any number of messages (ADR 0021).
pub const NONCE_BYTES: usize = 24;

/// A sealed value did not open: wrong key, wrong context, or altered bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a sealed value did not open ({0})")]
pub struct OpenError(pub &'static str);

/// One member's data key. Never stored in the clear; dropped after use.
pub struct DataKey([u8; KEY_BYTES]);

impl DataKey {
    pub fn generate() -> Self {
        Self(rand::random())
    }

    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, OpenError> {
        seal(&self.0, context, plaintext)
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        open(&self.0, context, sealed)
    }
}

/// `nonce || ciphertext+tag` of `plaintext` under `key`, authenticated with `context`.
pub fn seal(key: &[u8; KEY_BYTES], context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, OpenError> {
    let nonce: [u8; NONCE_BYTES] = rand::random();
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key));
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .map_err(|_| OpenError("encryption failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The plaintext of [`seal`]'s output, if `key` and `context` are the ones it was sealed with.
pub fn open(key: &[u8; KEY_BYTES], context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < NONCE_BYTES {
        return Err(OpenError("too short"));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: context,
            },
        )
        .map_err(|_| OpenError("authentication failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let key = DataKey::generate();
        let sealed = key.seal(b"profile:a", b"ext-42").unwrap();
        assert_eq!(key.open(b"profile:a", &sealed).unwrap(), b"ext-42");
        assert!(key.open(b"profile:b", &sealed).is_err(), "another context");
        assert!(
            DataKey::generate().open(b"profile:a", &sealed).is_err(),
            "another key"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open(b"profile:a", &altered).is_err(), "altered bytes");
        assert!(key.open(b"profile:a", &sealed[..10]).is_err(), "truncated");
    }

    #[test]
    fn sealing_twice_gives_different_bytes() {
        let key = DataKey::generate();
        let (a, b) = (
            key.seal(b"c", b"same").unwrap(),
            key.seal(b"c", b"same").unwrap(),
        );
        assert_ne!(a, b, "a fresh nonce every time");
        assert!(
            !a.windows(4).any(|w| w == b"same"),
            "the plaintext is not in the output"
        );
    }
}
