//! The demo partner of `serve --demo` and the README: Air France (`AF`), with the example
//! Partner's bonus rules (`manifests/examples/partners/air-france.yaml`), published into the
//! database the way the operator would, and its signing secret written into
//! `partners.secrets_dir` the way the operator's mount would.

use std::path::Path;

use anyhow::Context as _;
use loyalty_crds::common::ProductType;
use loyalty_crds::partner::{BonusRule, RetryPolicy};
use sha2::{Digest, Sha256};

use super::signature::SigningSecret;
use crate::auth::dev::{DEMO_PARTNER_CODE, write_private};
use crate::store::partners::{PartnerRow, publish};

/// Air France as the example manifest declares it, with `credentials_sha256`.
pub fn air_france(credentials_sha256: String) -> PartnerRow {
    PartnerRow {
        code: DEMO_PARTNER_CODE.to_owned(),
        display_name: "Air France".to_owned(),
        enabled: true,
        bonus_rules: vec![
            BonusRule {
                product_types: vec![ProductType::Flight],
                points_per_booking: Some(250),
                multiplier_milli: None,
            },
            BonusRule {
                product_types: vec![ProductType::Hotel],
                points_per_booking: None,
                multiplier_milli: Some(1_500),
            },
        ],
        retry_policy: RetryPolicy::default(),
        credentials_sha256,
    }
}

/// Writes the demo partner's secret (once: an existing one is kept) and publishes the
/// partner with its fingerprint.
pub async fn seed(client: &tokio_postgres::Client, secrets_dir: &Path) -> anyhow::Result<()> {
    let file = secrets_dir.join(DEMO_PARTNER_CODE);
    if !file.exists() {
        std::fs::create_dir_all(secrets_dir)
            .with_context(|| format!("creating {}", secrets_dir.display()))?;
        write_private(&file, SigningSecret::generate().to_text().as_bytes())?;
    }
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let row = air_france(format!("{:x}", Sha256::digest(&bytes)));
    publish(client, &row, ("loyalty-partners", "air-france")).await?;
    Ok(())
}
