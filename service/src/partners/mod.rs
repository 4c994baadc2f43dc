//! Partners as this instance knows them: the rows the operator publishes (bonus rules,
//! retry policy, enabled) joined with the signing secrets mounted from their Secrets.
//! Both are re-read on every configuration poll, so a Partner change or a rotated secret
//! takes effect without a restart (docs/partners.md).

pub mod demo;
pub mod secrets;
pub mod signature;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use deadpool_postgres::ClientWrapper;
use loyalty_crds::common::PartnerCode;

use crate::domain::partner_bonus::PartnerTerms;
use crate::error::Result;
use crate::store::delivery::Subscription;
use crate::store::partners::{PartnerRow, load};
use secrets::MountedSecret;
use signature::SigningSecret;

/// One partner: its published row and its mounted secrets.
#[derive(Debug, Clone)]
pub struct Partner {
    pub row: PartnerRow,
    pub secret: MountedSecret,
}

/// Every known partner, by code, with the webhook subscriptions and their mounted signing
/// secrets, as of one poll.
#[derive(Debug, Clone, Default)]
pub struct Partners {
    by_code: HashMap<String, Partner>,
    pub subscriptions: Vec<Subscription>,
    /// Mounted secrets of the subscriptions, by file name (`<CODE>.<subscription>`).
    hook_secrets: secrets::MountedSecrets,
}

impl Partners {
    pub fn get(&self, code: &str) -> Option<&Partner> {
        self.by_code.get(code)
    }

    /// The secrets `subscription`'s messages are signed with (empty when none is mounted).
    pub fn hook_secrets(&self, partner_code: &str, subscription: &str) -> &[SigningSecret] {
        self.hook_secrets
            .get(&format!("{partner_code}.{subscription}"))
            .map_or(&[], |m| m.secrets.as_slice())
    }

    /// What a booking naming `code` gets from that partner.
    pub fn terms(&self, code: &PartnerCode) -> PartnerTerms {
        match self.get(code.as_str()) {
            None => PartnerTerms::Unknown,
            Some(p) if !p.row.enabled => PartnerTerms::Disabled,
            Some(p) => PartnerTerms::Enabled(p.row.bonus_rules.clone()),
        }
    }

    fn join(
        rows: Vec<PartnerRow>,
        subscriptions: Vec<Subscription>,
        mut mounted: secrets::MountedSecrets,
    ) -> Self {
        let partners = rows.into_iter().map(|row| {
            let secret = mounted.remove(&row.code).unwrap_or_default();
            if secret.sha256 != row.credentials_sha256 {
                // The kubelet updates a mounted Secret a little after the operator saw it:
                // until then the previous secrets stay in use.
                tracing::debug!(
                    code = row.code,
                    "mounted partner secret differs from the published fingerprint"
                );
            }
            (row.code.clone(), Partner { row, secret })
        });
        let by_code = partners.collect();
        Self {
            by_code,
            subscriptions,
            hook_secrets: mounted,
        }
    }
}

/// The shared, polled snapshot.
#[derive(Clone, Default)]
pub struct PartnerDirectory(Arc<RwLock<Arc<Partners>>>);

impl PartnerDirectory {
    pub fn snapshot(&self) -> Arc<Partners> {
        self.0
            .read()
            .expect("partner lock is never poisoned")
            .clone()
    }

    /// Reloads the published partners and the secrets mounted in `secrets_dir`.
    pub async fn poll(&self, client: &ClientWrapper, secrets_dir: &Path) -> Result<()> {
        let rows = load(client).await?;
        let subscriptions = crate::store::delivery::load_subscriptions(client).await?;
        let dir = secrets_dir.to_owned();
        let mounted = tokio::task::spawn_blocking(move || secrets::read_dir(&dir))
            .await
            .unwrap_or_default();
        let next = Arc::new(Partners::join(rows, subscriptions, mounted));
        *self.0.write().expect("partner lock is never poisoned") = next;
        Ok(())
    }
}
