//! The key files named by `crypto.*` (mounted Secrets in production), and the set
//! `serve --demo` and the test harnesses generate: the KEK (`kek`), the blind-index key
//! (`index-key`) and the digest signing key (`digest-key`), each hex, each `0600`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use super::{BlindIndexKey, DigestKeys, DigestSigner, DigestVerifier, Keyring, LocalKeyFile};
use crate::config::CryptoConfig;

const KEK_FILE: &str = "kek";
const INDEX_KEY_FILE: &str = "index-key";
const DIGEST_KEY_FILE: &str = "digest-key";
/// The version name of a generated KEK.
const GENERATED_KEK_ID: &str = "generated-kek-1";

/// 32 bytes from 64 hex digits.
pub fn key_from_hex(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return Err("expected 64 hex digits".to_owned());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| "expected 64 hex digits".to_owned())?;
    }
    Ok(key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

fn required<'a>(path: &'a Option<PathBuf>, key: &str) -> anyhow::Result<&'a Path> {
    path.as_deref()
        .with_context(|| format!("crypto.{key} is not set (ADR 0021; `serve --demo` makes one)"))
}

/// The KEK and the blind-index key of `config`.
pub fn keyring(config: &CryptoConfig) -> anyhow::Result<Keyring> {
    let kek_file = required(&config.kek_file, "kek_file")?;
    let kek = LocalKeyFile::parse(&read(kek_file, "the key-encryption key")?)?;
    let index_file = required(&config.index_key_file, "index_key_file")?;
    let index = key_from_hex(&read(index_file, "the blind-index key")?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", index_file.display()))?;
    Ok(Keyring::new(Arc::new(kek), BlindIndexKey::new(index)))
}

/// The digest signing key of `config`.
pub fn signer(config: &CryptoConfig) -> anyhow::Result<DigestSigner> {
    let file = required(&config.digest_key_file, "digest_key_file")?;
    let seed = key_from_hex(&read(file, "the digest signing key")?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok(DigestSigner::from_seed(seed))
}

/// The key the audit verifies digests with: `crypto.digest_public_key`, else the public half
/// of the signing key; none when neither is configured (the audit then says so).
pub fn verifier(config: &CryptoConfig) -> anyhow::Result<Option<DigestVerifier>> {
    if let Some(public) = &config.digest_public_key {
        return DigestVerifier::from_hex(public)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("crypto.digest_public_key: {e}"));
    }
    match config.digest_key_file {
        Some(_) => Ok(Some(signer(config)?.verifier())),
        None => Ok(None),
    }
}

/// The keys a service instance runs with. Where `config` names no key files (tests and
/// in-process harnesses; `serve` refuses that outside `--demo`), they are generated once per
/// process under the temporary directory, so every instance of the process shares them.
pub fn service_keys(config: &CryptoConfig) -> anyhow::Result<(Keyring, DigestKeys)> {
    let generated;
    let config = if config.kek_file.is_none() {
        let dir = std::env::temp_dir().join(format!("loyalty-keys-{}", std::process::id()));
        tracing::warn!(dir = %dir.display(), "no crypto.* key files configured: using keys generated for this process");
        generated = with_generated_keys(config.clone(), &dir)?;
        &generated
    } else {
        config
    };
    let signer = signer(config)?;
    let digest = DigestKeys {
        verifier: Some(verifier(config)?.unwrap_or_else(|| signer.verifier())),
        signer: Some(Arc::new(signer)),
    };
    Ok((keyring(config)?, digest))
}

/// `config` with every unset key file pointing into `dir`, where missing ones are generated
/// (kept between runs, so data sealed by an earlier run still opens).
pub fn with_generated_keys(mut config: CryptoConfig, dir: &Path) -> anyhow::Result<CryptoConfig> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let generate = |name: &str, contents: String| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        if !path.exists() {
            crate::auth::dev::write_private(&path, contents.as_bytes())?;
        }
        Ok(path)
    };
    if config.kek_file.is_none() {
        let line = format!("{GENERATED_KEK_ID} {}\n", hex(&rand::random::<[u8; 32]>()));
        config.kek_file = Some(generate(KEK_FILE, line)?);
    }
    if config.index_key_file.is_none() {
        config.index_key_file = Some(generate(INDEX_KEY_FILE, hex(&rand::random::<[u8; 32]>()))?);
    }
    if config.digest_key_file.is_none() {
        config.digest_key_file = Some(generate(DIGEST_KEY_FILE, hex(&rand::random::<[u8; 32]>()))?);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys_parse_only_when_exactly_32_bytes() {
        assert_eq!(key_from_hex(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        for bad in [
            "",
            "ab",
            &"zz".repeat(32),
            &"ab".repeat(33),
            &"é".repeat(32),
        ] {
            assert!(key_from_hex(bad).is_err(), "{bad:?}");
        }
    }
}
