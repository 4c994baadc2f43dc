//! The proposed campaign set of `simulate` and `backtest`: the folder's campaigns, which must
//! lint clean (a campaign the operator would refuse is never published).

use std::path::PathBuf;

use anyhow::{Result, bail};
use kube::ResourceExt;
use loyalty_service::domain::rules::CampaignEntry;

use crate::lint::{self, report};
use crate::load;

/// The campaigns of `paths`, as the service holds them.
pub fn load(paths: &[PathBuf], namespace: &str) -> Result<Vec<CampaignEntry>> {
    let files = load::yaml_files(paths)?;
    let docs = load::all_documents(&files)?;
    let linted = lint::lint(&docs, namespace);
    if !linted.findings.is_empty() {
        bail!(
            "the campaigns do not lint clean:\n{}",
            report::render(&linted.findings, files.len(), report::Format::Human)
        );
    }
    Ok(linted
        .campaigns
        .into_iter()
        .map(|c| CampaignEntry {
            namespace: c.namespace().unwrap_or_default(),
            name: c.name_any(),
            spec: c.spec,
        })
        .collect())
}
