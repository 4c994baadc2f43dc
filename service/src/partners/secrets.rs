//! Partners' signing secrets, read from `partners.secrets_dir`: one file per partner code
//! (`AF`), holding that partner's `whsec_…` secrets separated by whitespace (two during a
//! rotation). The operator mounts the Secrets the Partners name there; Kubernetes swaps the
//! files atomically when a Secret changes, and the service re-reads the directory on every
//! configuration poll, so a rotated secret is in use within one poll without a restart.
//! The secrets never pass through the database: it holds only their sha256 fingerprint.

use std::collections::HashMap;
use std::path::Path;

use loyalty_crds::common::PartnerCode;
use sha2::{Digest, Sha256};

use super::signature::SigningSecret;

/// Largest secret file read; a few secrets are well under 1 KiB.
const MAX_FILE_BYTES: u64 = 4 * 1024;
/// Most files considered: far more partners than any programme has.
const MAX_FILES: usize = 1024;

/// One partner's mounted credential.
#[derive(Debug, Clone, Default)]
pub struct MountedSecret {
    pub secrets: Vec<SigningSecret>,
    /// Hex sha256 of the file, comparable with the fingerprint the operator publishes.
    pub sha256: String,
}

/// Every partner's mounted credential, by partner code.
pub type MountedSecrets = HashMap<String, MountedSecret>;

/// Reads `dir`. A missing directory is no partner at all; unreadable or malformed files are
/// skipped loudly (the partner then has no usable secret and its webhooks are refused).
pub fn read_dir(dir: &Path) -> MountedSecrets {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return MountedSecrets::new();
    };
    entries
        .flatten()
        .take(MAX_FILES)
        .filter_map(|entry| {
            // Kubernetes' own entries (`..data`, `..2026_…`) are no partner codes. A file
            // `<CODE>.<subscription>` holds the secrets outbound webhooks are signed with.
            let name = entry.file_name().into_string().ok()?;
            let (code, subscription) = name.split_once('.').unwrap_or((name.as_str(), "x"));
            PartnerCode::new(code).ok()?;
            is_subscription_name(subscription).then_some(())?;
            Some((name, read_file(&entry.path())?))
        })
        .collect()
}

fn is_subscription_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn read_file(path: &Path) -> Option<MountedSecret> {
    let too_large = std::fs::metadata(path).map_or(true, |m| m.len() > MAX_FILE_BYTES);
    let bytes = (!too_large).then(|| std::fs::read(path).ok()).flatten();
    let Some(bytes) = bytes else {
        tracing::warn!(path = %path.display(), "partner secret file unreadable or too large; ignored");
        return None;
    };
    let text = String::from_utf8_lossy(&bytes);
    let secrets = text
        .split_ascii_whitespace()
        .filter_map(|word| match SigningSecret::parse(word) {
            Ok(secret) => Some(secret),
            Err(why) => {
                tracing::warn!(path = %path.display(), why, "partner secret ignored");
                None
            }
        })
        .collect();
    Some(MountedSecret {
        secrets,
        sha256: format!("{:x}", Sha256::digest(&bytes)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partner_file_yields_its_secrets_and_other_entries_are_ignored() {
        let dir = std::env::temp_dir().join(format!("partner-secrets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("..data")).unwrap();
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        let text = format!("{}\n{}\n", a.to_text(), b.to_text());
        std::fs::write(dir.join("AF"), &text).unwrap();
        std::fs::write(dir.join("lowercase"), a.to_text()).unwrap();
        std::fs::write(dir.join("HI"), "not-a-secret").unwrap();
        std::fs::write(dir.join("AF.bookings"), b.to_text()).unwrap();
        std::fs::write(dir.join("AF.Bad"), b.to_text()).unwrap();
        let read = read_dir(&dir);
        assert_eq!(read["AF.bookings"].secrets, vec![b.clone()]);
        assert_eq!(read["AF"].secrets, vec![a, b]);
        assert_eq!(read["AF"].sha256, format!("{:x}", Sha256::digest(text)));
        assert!(read["HI"].secrets.is_empty());
        assert_eq!(read.len(), 3);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
