//! The projection of Partners' secrets into the region namespace: one Secret,
//! [`PARTNER_SECRETS`], in the service namespace (where the region controller runs every
//! region's workloads), mounted by each region's service at `partners.secrets_dir`. Its keys
//! are `<CODE>` (the inbound credential) and `<CODE>.<webhook>` (each signing secret), with the
//! values copied from the Partner's Secrets; every region serves every partner (the `partners`
//! table is global), so every region's pods see every key.
//!
//! Each Partner rewrites only its own code's keys: a partner code has no `.`, so `<CODE>` and
//! `<CODE>.…` are exactly its keys, and writing the wanted set drops a removed webhook's key or
//! a key whose source no longer resolves. The Partner controller projects only for the Partner
//! the database names as the code's owner, so a Partner refused for a taken code never
//! overwrites (nor, when deleted, withdraws) the owner's keys. Writes are serialised in the
//! process and guarded by the resourceVersion, so two Partners never drop each other's keys.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use loyalty_crds::common::PartnerCode;

use super::credentials::{Credentials, Resolution};
use crate::Result;
use crate::controller::region::service_config::PARTNER_SECRETS;
use crate::controller::{Context, MANAGER};

/// The projected keys of one partner, with their values.
pub type Keys = BTreeMap<String, ByteString>;

/// The keys `creds` project to: the ones whose source resolves.
pub fn keys(code: &PartnerCode, creds: &Credentials<'_>) -> Keys {
    let hooks = creds
        .webhooks
        .iter()
        .map(|(hook, value)| (format!("{code}.{}", hook.name), value));
    std::iter::once((code.to_string(), &creds.inbound))
        .chain(hooks)
        .filter_map(|(key, value): (String, &Resolution)| {
            let bytes = value.as_ref().ok()?.bytes().to_vec();
            Some((key, ByteString(bytes)))
        })
        .collect()
}

/// Whether `key` is one of `code`'s: `<CODE>` or `<CODE>.<webhook>`.
fn belongs_to(key: &str, code: &str) -> bool {
    key.strip_prefix(code)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// `data` with `code`'s keys replaced by `wanted`.
fn with_keys(data: &Keys, code: &str, wanted: Keys) -> Keys {
    data.iter()
        .filter(|(key, _)| !belongs_to(key, code))
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(wanted)
        .collect()
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGER.to_owned(),
        ),
        ("app.kubernetes.io/part-of".to_owned(), "loyalty".to_owned()),
    ])
}

/// Makes `code`'s keys in the projected Secret exactly `wanted`, creating the Secret when a
/// first key arrives; writes nothing when they already are.
pub async fn project(code: &PartnerCode, wanted: Keys, ctx: &Context) -> Result<()> {
    let _one_writer = ctx.projection_lock.lock().await;
    let namespace = &ctx.settings.service_namespace;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let current = secrets.get_opt(PARTNER_SECRETS).await?;
    let data = current
        .as_ref()
        .and_then(|s| s.data.clone())
        .unwrap_or_default();
    let next = with_keys(&data, code.as_str(), wanted);
    let pp = PostParams::default();
    match current {
        Some(_) if next == data => return Ok(()),
        None if next.is_empty() => return Ok(()),
        None => secrets.create(&pp, &projected(None, next)).await?,
        Some(old) => {
            let secret = projected(Some(old.metadata), next);
            secrets.replace(PARTNER_SECRETS, &pp, &secret).await?
        }
    };
    tracing::info!(partner = %code, %namespace, "partner secrets projected");
    Ok(())
}

/// The projected Secret with `data`, keeping `metadata` (and so its resourceVersion: a
/// concurrent writer makes the replace fail with 409 rather than lose its keys).
fn projected(metadata: Option<ObjectMeta>, data: Keys) -> Secret {
    let mut metadata = metadata.unwrap_or_else(|| ObjectMeta {
        name: Some(PARTNER_SECRETS.to_owned()),
        ..ObjectMeta::default()
    });
    metadata.labels.get_or_insert_default().extend(labels());
    Secret {
        metadata,
        data: Some(data),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    }
}

/// Removes `code`'s keys from the projected Secret (its Partner is being deleted).
pub async fn withdraw(code: &PartnerCode, ctx: &Context) -> Result<()> {
    project(code, Keys::new(), ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> Keys {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn a_partners_keys_are_its_code_and_its_code_dot_webhook_and_no_longer_code() {
        assert!(belongs_to("AF", "AF"));
        assert!(belongs_to("AF.loyalty-events", "AF"));
        for other in ["AFX", "AFX.events", "XAF", "A", "KL.AF"] {
            assert!(!belongs_to(other, "AF"), "{other}");
        }
    }

    #[test]
    fn replacing_a_partners_keys_drops_its_stale_ones_and_keeps_every_other_partners() {
        let current = data(&[
            ("AF", "old"),
            ("AF.gone", "stale"),
            ("AF.kept", "k"),
            ("AFX", "other"),
            ("AFX.hooks", "other-hook"),
        ]);
        let wanted = data(&[("AF", "new"), ("AF.kept", "k")]);
        assert_eq!(
            with_keys(&current, "AF", wanted),
            data(&[
                ("AF", "new"),
                ("AF.kept", "k"),
                ("AFX", "other"),
                ("AFX.hooks", "other-hook"),
            ])
        );
        assert_eq!(
            with_keys(&current, "AFX", Keys::new()),
            data(&[("AF", "old"), ("AF.gone", "stale"), ("AF.kept", "k")])
        );
    }
}
