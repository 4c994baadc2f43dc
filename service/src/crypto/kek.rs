//! The key-encryption key (KEK): it wraps every member's data key, and lives outside the
//! database (a KMS in production, a key file in development), so neither the database nor
//! its backups hold what opens a data key.
//!
//! [`KeyEncryptionKey`] is the interface a KMS adapter implements (wrap with the current
//! version, unwrap with the version a wrapped key names). [`LocalKeyFile`] is the development
//! implementation: one or more versions in a file, the first being current, so a rotation
//! is "add a new first line"; keys wrapped by older versions keep opening until rewrapped.

use std::collections::HashMap;

use super::aead::{self, KEY_BYTES, OpenError};

/// A data key wrapped by one KEK version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The KEK version that wrapped it.
    pub kek_id: String,
    pub bytes: Vec<u8>,
}

/// Wraps and unwraps data keys. `context` binds a wrapped key to its owner (the member).
///
/// Synchronous on purpose: a KMS adapter unwraps its working key once at start-up (an
/// envelope under the KMS's root key, e.g. a KMS `Decrypt` of an encrypted key file) rather
/// than calling the KMS on every member read.
pub trait KeyEncryptionKey: Send + Sync {
    /// The version new data keys are wrapped with.
    fn current_id(&self) -> &str;
    fn wrap(&self, context: &[u8], key: &[u8; KEY_BYTES]) -> Result<WrappedKey, OpenError>;
    fn unwrap(&self, context: &[u8], wrapped: &WrappedKey) -> Result<[u8; KEY_BYTES], OpenError>;
}

/// KEK versions read from a key file: lines of `<id> <64 hex digits>`, the first current.
pub struct LocalKeyFile {
    current: String,
    versions: HashMap<String, [u8; KEY_BYTES]>,
}

/// What is wrong with a key file (never its contents).
#[derive(Debug, thiserror::Error)]
#[error("key file: {0}")]
pub struct KeyFileError(pub String);

impl LocalKeyFile {
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut current = None;
        let mut versions = HashMap::new();
        for (n, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, hex) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| KeyFileError(format!("line {}: expected `<id> <hex>`", n + 1)))?;
            let key = super::files::key_from_hex(hex.trim())
                .map_err(|e| KeyFileError(format!("line {}: {e}", n + 1)))?;
            if versions.insert(id.to_owned(), key).is_some() {
                return Err(KeyFileError(format!("line {}: version {id} twice", n + 1)));
            }
            current.get_or_insert_with(|| id.to_owned());
        }
        let current = current.ok_or_else(|| KeyFileError("no key in it".into()))?;
        Ok(Self { current, versions })
    }
}

impl KeyEncryptionKey for LocalKeyFile {
    fn current_id(&self) -> &str {
        &self.current
    }

    fn wrap(&self, context: &[u8], key: &[u8; KEY_BYTES]) -> Result<WrappedKey, OpenError> {
        Ok(WrappedKey {
            kek_id: self.current.clone(),
            bytes: aead::seal(&self.versions[&self.current], context, key)?,
        })
    }

    fn unwrap(&self, context: &[u8], wrapped: &WrappedKey) -> Result<[u8; KEY_BYTES], OpenError> {
        let kek = self
            .versions
            .get(&wrapped.kek_id)
            .ok_or(OpenError("unknown key-encryption key version"))?;
        aead::open(kek, context, &wrapped.bytes)?
            .try_into()
            .map_err(|_| OpenError("a data key is 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "kek-1 0101010101010101010101010101010101010101010101010101010101010101";
    const V2: &str = "kek-2 0202020202020202020202020202020202020202020202020202020202020202";

    #[test]
    fn a_rotated_file_wraps_with_the_new_version_and_still_unwraps_the_old() {
        let old = LocalKeyFile::parse(V1).unwrap();
        let wrapped = old.wrap(b"member-a", &[7; KEY_BYTES]).unwrap();
        assert_eq!(wrapped.kek_id, "kek-1");
        let rotated = LocalKeyFile::parse(&format!("{V2}\n{V1}\n")).unwrap();
        assert_eq!(rotated.current_id(), "kek-2");
        assert_eq!(
            rotated.unwrap(b"member-a", &wrapped).unwrap(),
            [7; KEY_BYTES]
        );
        assert_eq!(
            rotated.wrap(b"member-a", &[7; KEY_BYTES]).unwrap().kek_id,
            "kek-2"
        );
        assert!(
            rotated.unwrap(b"member-b", &wrapped).is_err(),
            "bound to its member"
        );
        let retired = LocalKeyFile::parse(V2).unwrap();
        assert!(
            retired.unwrap(b"member-a", &wrapped).is_err(),
            "version gone"
        );
    }

    #[test]
    fn malformed_key_files_are_refused() {
        for text in [
            "",
            "# only a comment",
            "kek-1",
            "kek-1 abcd",
            &format!("{V1}\n{V1}"),
        ] {
            assert!(LocalKeyFile::parse(text).is_err(), "{text:?}");
        }
    }
}
