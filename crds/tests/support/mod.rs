//! Helpers for the crate's integration tests: reading YAML from the repository, and checking
//! an object against a CRD the way the API server would (OpenAPI schema, then CEL).

use std::path::{Path, PathBuf};

use loyalty_crds::admission;
pub use loyalty_crds::admission::is_platform_kind;
use serde::Deserialize;
use serde_json::Value;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crds/ lives in the workspace")
        .to_path_buf()
}

/// Every YAML document in `path`, as JSON, skipping empty documents.
pub fn read_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// Every `*.yaml` file below `dir`, sorted, skipping directories named in `skip`.
pub fn yaml_files(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("readable directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if !skip.contains(&name) {
                    stack.push(path);
                }
            } else if name.ends_with(".yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// What the platform says about an object, as lines of text.
#[derive(Debug, Default)]
pub struct Verdict {
    /// What the API server rejects: the OpenAPI schema and the CRD's CEL rules.
    pub admission: Vec<String>,
    /// What the operator rejects: deserialization, then `validate`.
    pub operator: Vec<String>,
}

impl Verdict {
    /// Whether neither the API server nor the operator objects.
    pub fn accepted(&self) -> bool {
        self.admission.is_empty() && self.operator.is_empty()
    }
}

/// Checks `object` the way the API server and then the operator would
/// ([`loyalty_crds::admission::verdict`]).
pub fn verdict(object: &Value) -> Verdict {
    let verdict = admission::verdict(object).expect("a platform kind");
    let lines = |issues: &[loyalty_crds::ValidationIssue]| -> Vec<String> {
        issues.iter().map(ToString::to_string).collect()
    };
    Verdict {
        admission: lines(&verdict.admission),
        operator: lines(&verdict.operator),
    }
}
