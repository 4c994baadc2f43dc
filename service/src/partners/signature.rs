//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): `webhook-signature`
//! is a space-separated list of `v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`,
//! keyed with the partner's secret (`whsec_<base64>`). Several signatures, and several
//! secrets on our side, let either party rotate keys without a gap.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a secret's text form.
const SECRET_PREFIX: &str = "whsec_";
/// Shortest and longest secret accepted, in bytes (the specification asks for 24 to 64).
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// Most signatures of one header that are tried; more are ignored (bounded work per request).
pub const MAX_SIGNATURES: usize = 8;

/// A partner's signing key. Its bytes never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

impl SigningSecret {
    /// Parses `whsec_<base64>` (the prefix is optional, as the specification allows).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| "a signing secret must be whsec_ followed by base64")?;
        if !SECRET_BYTES.contains(&bytes.len()) {
            return Err("a signing secret must be 24 to 64 bytes");
        }
        Ok(Self(bytes))
    }

    /// The text form, `whsec_<base64>`, e.g. for a demo partner's secret file.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// A fresh random secret of 32 bytes.
    pub fn generate() -> Self {
        Self(rand::random::<[u8; 32]>().to_vec())
    }

    fn mac(&self, id: &str, timestamp_s: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_s.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `v1,<base64>` signature of a message.
    pub fn sign(&self, id: &str, timestamp_s: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp_s, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }
}

/// Why a signed message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// `webhook-timestamp` is further from now than the tolerance (a replay, or a bad clock).
    OutOfTolerance,
    /// No `v1` signature verifies with any of the partner's secrets.
    Mismatch,
}

/// The three headers of a signed message, as sent.
#[derive(Debug, Clone, Copy)]
pub struct SignedMessage<'a> {
    pub id: &'a str,
    pub timestamp_s: i64,
    pub signatures: &'a str,
    pub body: &'a [u8],
}

/// Checks the timestamp against `now_s` within `tolerance_s`, then each `v1` signature
/// (at most [`MAX_SIGNATURES`]) against each secret. The comparison is constant-time
/// (`Mac::verify_slice`).
pub fn verify(
    secrets: &[SigningSecret],
    message: &SignedMessage<'_>,
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    if message.timestamp_s.abs_diff(now_s) > tolerance_s.unsigned_abs() {
        return Err(SignatureError::OutOfTolerance);
    }
    let candidates = message
        .signatures
        .split_ascii_whitespace()
        .take(MAX_SIGNATURES)
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok());
    for tag in candidates {
        let verified = secrets.iter().any(|secret| {
            secret
                .mac(message.id, message.timestamp_s, message.body)
                .verify_slice(&tag)
                .is_ok()
        });
        if verified {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification's reference libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn message(signatures: &str) -> SignedMessage<'_> {
        SignedMessage {
            id: SPEC_ID,
            timestamp_s: SPEC_TIMESTAMP,
            signatures,
            body: SPEC_BODY,
        }
    }

    #[test]
    fn the_specification_example_signs_and_verifies() {
        let secret = SigningSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            secret.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        assert_eq!(
            verify(&[secret], &message(SPEC_SIGNATURE), SPEC_TIMESTAMP, 300),
            Ok(())
        );
    }

    #[test]
    fn any_signature_may_verify_with_any_secret_during_a_rotation() {
        let old = SigningSecret::parse(SPEC_SECRET).unwrap();
        let new = SigningSecret::generate();
        let header = format!("v1a,ignored v1,bm90LWEtc2lnbmF0dXJl {SPEC_SIGNATURE}");
        let now = SPEC_TIMESTAMP + 10;
        assert_eq!(verify(&[new, old], &message(&header), now, 300), Ok(()));
    }

    #[test]
    fn a_wrong_secret_a_changed_body_or_a_stale_timestamp_is_refused() {
        let secret = SigningSecret::parse(SPEC_SECRET).unwrap();
        let other = SigningSecret::generate();
        let now = SPEC_TIMESTAMP;
        let signed = message(SPEC_SIGNATURE);
        assert_eq!(
            verify(std::slice::from_ref(&other), &signed, now, 300),
            Err(SignatureError::Mismatch)
        );
        let changed = SignedMessage {
            body: br#"{"test": 2432232315}"#,
            ..signed
        };
        assert_eq!(
            verify(std::slice::from_ref(&secret), &changed, now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(std::slice::from_ref(&secret), &signed, now + 301, 300),
            Err(SignatureError::OutOfTolerance)
        );
        assert_eq!(
            verify(&[secret], &signed, now - 301, 300),
            Err(SignatureError::OutOfTolerance)
        );
    }

    #[test]
    fn secrets_must_be_base64_of_24_to_64_bytes() {
        assert!(SigningSecret::parse("whsec_not base64").is_err());
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err());
        let secret = SigningSecret::generate();
        assert_eq!(SigningSecret::parse(&secret.to_text()), Ok(secret));
    }
}
