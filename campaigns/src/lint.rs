//! `lint`: each document checked as the API server and the operator check it
//! ([`loyalty_crds::admission::verdict`]), then the campaigns checked against each other as
//! the operator does (duplicate names, [`loyalty_crds::campaign::exclusive_conflict`]).

mod across;
mod locate;
pub mod report;

use std::path::PathBuf;

use loyalty_crds::ValidationIssue;
use loyalty_crds::admission::verdict;
use loyalty_crds::campaign::Campaign;

use crate::load::Document;

/// One problem, where it is and which check found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    /// `admission` (schema and CEL), `operator`, `duplicate` or `exclusive-overlap`.
    pub check: &'static str,
    pub field: String,
    pub message: String,
}

impl Finding {
    fn at(doc: &Document, check: &'static str, issue: &ValidationIssue) -> Self {
        Finding {
            path: doc.path.clone(),
            line: doc.first_line + locate::line_of(&doc.text, &issue.field),
            check,
            field: issue.field.clone(),
            message: issue.message.clone(),
        }
    }
}

/// A Campaign that passed every per-document check, with the document it came from.
pub struct Checked<'a> {
    pub doc: &'a Document,
    pub campaign: Campaign,
}

/// What linting found, and the campaigns that passed the per-document checks.
pub struct Linted {
    pub findings: Vec<Finding>,
    pub campaigns: Vec<Campaign>,
}

/// Every finding of `docs`, per document then across campaigns; `namespace` is the one a
/// campaign without `metadata.namespace` is applied to.
pub fn lint(docs: &[Document], namespace: &str) -> Linted {
    let mut findings = Vec::new();
    let mut campaigns = Vec::new();
    for doc in docs {
        let Some(verdict) = verdict(&doc.value) else {
            continue;
        };
        findings.extend(
            verdict
                .admission
                .iter()
                .map(|i| Finding::at(doc, "admission", i)),
        );
        findings.extend(
            verdict
                .operator
                .iter()
                .map(|i| Finding::at(doc, "operator", i)),
        );
        if verdict.accepted()
            && let Ok(mut campaign) = serde_json::from_value::<Campaign>(verdict.defaulted)
        {
            campaign
                .metadata
                .namespace
                .get_or_insert_with(|| namespace.to_owned());
            campaigns.push(Checked { doc, campaign });
        }
    }
    findings.extend(across::findings(&campaigns));
    Linted {
        findings,
        campaigns: campaigns.into_iter().map(|c| c.campaign).collect(),
    }
}
