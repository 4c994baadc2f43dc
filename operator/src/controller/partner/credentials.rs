//! A Partner's secrets as one reconcile reads them: the inbound credential
//! (`credentialsSecretRef`) and each webhook's signing secret, from the Partner's own
//! namespace, each named Secret fetched once. The values are [`SecretValue`]s, whose `Debug`
//! shows no byte: they leave this module only as fingerprints (for the database) and as the
//! projected Secret's data (see `projection`), never in status, Events or logs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use loyalty_crds::partner::{Partner, SecretKeyRef, WebhookSubscription};
use sha2::{Digest, Sha256};

use crate::Result;
use crate::controller::Context;

/// Hex sha256 of a credential.
pub fn fingerprint(value: &[u8]) -> String {
    format!("{:x}", Sha256::digest(value))
}

/// A secret's bytes, copied out of a Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    /// Hex sha256 of the value: what the database holds.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// The bytes, for the projected Secret.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Why a Secret key does not resolve: the condition's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub reason: &'static str,
    pub message: String,
}

/// A Secret key's value, or why there is none.
pub type Resolution = std::result::Result<SecretValue, Unresolved>;

/// Everything a Partner's refs resolve to.
#[derive(Debug)]
pub struct Credentials<'p> {
    pub inbound: Resolution,
    /// Each webhook with its signing secret, in the spec's order.
    pub webhooks: Vec<(&'p WebhookSubscription, Resolution)>,
}

/// Reads the Secrets `p` names from `namespace`, each once.
pub async fn read<'p>(p: &'p Partner, ctx: &Context, namespace: &str) -> Result<Credentials<'p>> {
    let refs = std::iter::once(&p.spec.credentials_secret_ref)
        .chain(p.spec.webhooks.iter().map(|h| &h.signing_secret_ref));
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut fetched = BTreeMap::new();
    for r in refs {
        if !fetched.contains_key(&r.name) {
            fetched.insert(r.name.clone(), secrets.get_opt(&r.name).await?);
        }
    }
    let look_up =
        |r: &SecretKeyRef| resolve(r, fetched.get(&r.name).and_then(Option::as_ref), namespace);
    Ok(Credentials {
        inbound: look_up(&p.spec.credentials_secret_ref),
        webhooks: p
            .spec
            .webhooks
            .iter()
            .map(|h| (h, look_up(&h.signing_secret_ref)))
            .collect(),
    })
}

/// The value `r` names in `secret` (the Secret it names, if it exists).
fn resolve(r: &SecretKeyRef, secret: Option<&Secret>, namespace: &str) -> Resolution {
    let unresolved = |reason, message| Err(Unresolved { reason, message });
    let Some(secret) = secret else {
        return unresolved(
            "SecretNotFound",
            format!("Secret {namespace}/{} does not exist", r.name),
        );
    };
    match secret.data.as_ref().and_then(|d| d.get(&r.key)) {
        Some(value) if !value.0.is_empty() => Ok(SecretValue(value.0.clone())),
        Some(_) => unresolved(
            "KeyEmpty",
            format!("key {} of Secret {namespace}/{} is empty", r.key, r.name),
        ),
        None => unresolved(
            "KeyNotFound",
            format!("Secret {namespace}/{} has no key {}", r.name, r.key),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_value_never_shows_its_bytes_in_debug_output() {
        let value = SecretValue(b"whsec_do-not-print".to_vec());
        let shown = format!(
            "{value:?} {:?}",
            Credentials {
                inbound: Ok(value.clone()),
                webhooks: vec![]
            }
        );
        assert!(!shown.contains("do-not-print"), "{shown}");
        assert_eq!(value.fingerprint(), fingerprint(b"whsec_do-not-print"));
    }
}
