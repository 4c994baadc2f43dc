//! Helpers for the crate's integration tests: reading YAML from the repository, and checking
//! an object against a CRD the way the API server would (OpenAPI schema, then CEL).

pub mod schema;

use std::path::{Path, PathBuf};

use kube::CustomResourceExt;
use kube::core::cel::{Validator, apply_defaults};
use loyalty_crds::campaign::Campaign;
use loyalty_crds::partner::Partner;
use loyalty_crds::region::LoyaltyRegion;
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

/// Whether `kind` is one of the platform's kinds.
pub fn is_platform_kind(kind: &str) -> bool {
    matches!(kind, "LoyaltyRegion" | "Campaign" | "Partner")
}

fn crd_schema(kind: &str) -> Value {
    let crd = match kind {
        "LoyaltyRegion" => LoyaltyRegion::crd(),
        "Campaign" => Campaign::crd(),
        "Partner" => Partner::crd(),
        other => panic!("not a platform kind: {other}"),
    };
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("derived CRDs carry a schema");
    serde_json::to_value(schema).expect("a schema serializes")
}

/// What the platform says about an object.
#[derive(Debug, Default)]
pub struct Verdict {
    /// What the API server rejects: the OpenAPI schema (after defaulting, as admission
    /// defaults) and the CRD's CEL rules.
    pub admission: Vec<String>,
    /// What the operator rejects: deserialization into the Rust type, then its `validate`.
    pub operator: Vec<String>,
}

impl Verdict {
    /// Whether neither the API server nor the operator objects.
    pub fn accepted(&self) -> bool {
        self.admission.is_empty() && self.operator.is_empty()
    }
}

/// Checks `object` the way the API server and then the operator would.
pub fn verdict(object: &Value) -> Verdict {
    let kind = object["kind"].as_str().unwrap_or_default();
    let schema = crd_schema(kind);
    let defaulted = apply_defaults(&schema, object);
    let mut admission = schema::check(&schema, &defaulted);
    if let Err(cel) = Validator::new().validate(&schema, &defaulted, None) {
        admission.extend(cel.iter().map(ToString::to_string));
    }
    let typed = match kind {
        "LoyaltyRegion" => {
            serde_json::from_value::<LoyaltyRegion>(defaulted).map(|r| r.spec.validate())
        }
        "Campaign" => serde_json::from_value::<Campaign>(defaulted).map(|c| c.spec.validate()),
        _ => serde_json::from_value::<Partner>(defaulted).map(|p| p.spec.validate()),
    };
    let operator = match typed {
        Err(e) => vec![format!("does not deserialize: {e}")],
        Ok(Err(issues)) => issues.iter().map(ToString::to_string).collect(),
        Ok(Ok(())) => Vec::new(),
    };
    Verdict {
        admission,
        operator,
    }
}
