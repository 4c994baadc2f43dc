//! Checks across campaigns: two documents for one campaign, and Exclusive campaigns of one
//! priority that apply at the same instant (the operator's rule, weekly recurrences and
//! timezones included).

use std::collections::BTreeMap;

use kube::ResourceExt;
use loyalty_crds::ValidationIssue;
use loyalty_crds::campaign::exclusive_conflict;

use super::{Checked, Finding};

fn key(c: &Checked<'_>) -> String {
    format!(
        "{}/{}",
        c.campaign.namespace().unwrap_or_default(),
        c.campaign.name_any()
    )
}

/// Every cross-campaign finding, on the document that the operator would refuse.
pub fn findings(campaigns: &[Checked<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, &Checked<'_>> = BTreeMap::new();
    for c in campaigns {
        if let Some(first) = seen.get(&key(c)) {
            let issue = ValidationIssue::new(
                "metadata.name",
                format!(
                    "{} is also defined in {}:{}",
                    key(c),
                    first.doc.path.display(),
                    first.doc.first_line
                ),
            );
            out.push(Finding::at(c.doc, "duplicate", &issue));
        } else {
            seen.insert(key(c), c);
        }
    }
    let all: Vec<_> = seen.values().map(|c| &c.campaign).collect();
    for c in seen.values() {
        if let Some(conflict) = exclusive_conflict(&c.campaign, all.iter().copied()) {
            let issue = ValidationIssue::new("spec.stacking.mode", conflict.to_string());
            out.push(Finding::at(c.doc, "exclusive-overlap", &issue));
        }
    }
    out
}
