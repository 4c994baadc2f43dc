//! The chain-head digest: a SHA-256 root over every member's newest (seq, entry hash),
//! signed with Ed25519 (`ed25519-dalek`) by a key the database never holds. A member's hash
//! chain shows any edit of a stored entry, but not the deletion of its newest entries (the
//! balance row can be rewound to match); a signed head can: the entry it names must still be
//! there, with the same hash. Pure: the store reads and writes the rows.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One member's chain head as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub member_id: Uuid,
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// The root over heads fed in ascending member order (the order both sides read them in).
pub struct Root(Sha256);

impl Default for Root {
    fn default() -> Self {
        Self(Sha256::new_with_prefix(b"loyalty-chain-heads/v1"))
    }
}

impl Root {
    pub fn add(&mut self, head: &Head) {
        self.0.update(head.member_id.as_bytes());
        self.0.update(head.seq.to_be_bytes());
        self.0.update((head.hash.len() as u64).to_be_bytes());
        self.0.update(&head.hash);
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

/// What a digest's signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub id: Uuid,
    /// The region that made it, over the members of the regions it serves.
    pub region: String,
    pub created_at: DateTime<Utc>,
    pub members: i64,
    pub root: Vec<u8>,
}

impl Statement {
    fn message(&self) -> Vec<u8> {
        let mut m = b"loyalty-chain-digest/v1".to_vec();
        m.extend_from_slice(self.id.as_bytes());
        m.extend_from_slice(&(self.region.len() as u64).to_be_bytes());
        m.extend_from_slice(self.region.as_bytes());
        m.extend_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        m.extend_from_slice(&self.members.to_be_bytes());
        m.extend_from_slice(&self.root);
        m
    }
}

/// A short, public name of a verifying key, stored with each signature.
fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Signs digests; held by the service only (from configuration, or the demo's key file).
pub struct DigestSigner {
    key: SigningKey,
    id: String,
}

impl DigestSigner {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(&key.verifying_key());
        Self { key, id }
    }

    pub fn key_id(&self) -> &str {
        &self.id
    }

    pub fn verifier(&self) -> DigestVerifier {
        DigestVerifier::new(self.key.verifying_key())
    }

    pub fn sign(&self, statement: &Statement) -> Vec<u8> {
        self.key.sign(&statement.message()).to_bytes().to_vec()
    }
}

/// Checks digests; needs only the public key (the audit command can run with just that).
#[derive(Clone)]
pub struct DigestVerifier {
    key: VerifyingKey,
    id: String,
}

impl DigestVerifier {
    pub fn new(key: VerifyingKey) -> Self {
        let id = key_id(&key);
        Self { key, id }
    }

    /// A verifier from the 32-byte public key in hex.
    pub fn from_hex(hex: &str) -> Result<Self, String> {
        let bytes = super::files::key_from_hex(hex)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self::new)
            .map_err(|_| "not an Ed25519 public key".to_owned())
    }

    pub fn key_id(&self) -> &str {
        &self.id
    }

    pub fn public_hex(&self) -> String {
        self.key
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` is this key's over `statement`.
    pub fn verify(&self, statement: &Statement, signature: &[u8]) -> bool {
        Signature::from_slice(signature)
            .is_ok_and(|s| self.key.verify(&statement.message(), &s).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(root: Vec<u8>) -> Statement {
        Statement {
            id: Uuid::from_u128(9),
            region: "eu-west-1".into(),
            created_at: DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap(),
            members: 2,
            root,
        }
    }

    fn root(heads: &[Head]) -> Vec<u8> {
        let mut root = Root::default();
        heads.iter().for_each(|h| root.add(h));
        root.finish()
    }

    #[test]
    fn a_signature_verifies_only_for_its_statement_and_key() {
        let signer = DigestSigner::from_seed([3; 32]);
        let heads = [
            Head {
                member_id: Uuid::from_u128(1),
                seq: 4,
                hash: vec![1; 32],
            },
            Head {
                member_id: Uuid::from_u128(2),
                seq: 1,
                hash: vec![2; 32],
            },
        ];
        let signed = statement(root(&heads));
        let signature = signer.sign(&signed);
        assert!(signer.verifier().verify(&signed, &signature));
        let mut rewound = heads.clone();
        rewound[0].seq = 3;
        assert!(
            !signer
                .verifier()
                .verify(&statement(root(&rewound)), &signature)
        );
        let other = DigestSigner::from_seed([4; 32]).verifier();
        assert!(!other.verify(&signed, &signature));
        assert!(!signer.verifier().verify(&signed, &signature[..10]));
        let again = DigestVerifier::from_hex(&signer.verifier().public_hex()).unwrap();
        assert_eq!(again.key_id(), signer.key_id());
    }
}
