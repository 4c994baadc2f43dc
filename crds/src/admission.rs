//! What the platform says about an object before anything stores it: the API server's checks
//! (the generated CRD's OpenAPI schema after defaulting, then its `x-kubernetes-validations`
//! CEL rules, evaluated by kube's client-side CEL) and the operator's (deserialization into
//! the Rust type, then its `validate`).
//!
//! The schema and the CEL rules are read from the CRDs [`crate::generate`] renders, so this
//! module holds no rule of its own: the crate's tests and `loyalty-campaigns lint` both call
//! [`verdict`].

mod schema;

use kube::CustomResourceExt;
use kube::core::cel::{Validator, apply_defaults};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ValidationIssue;
use crate::campaign::Campaign;
use crate::partner::Partner;
use crate::region::LoyaltyRegion;

/// Whether `kind` is one of the platform's kinds.
pub fn is_platform_kind(kind: &str) -> bool {
    matches!(kind, "LoyaltyRegion" | "Campaign" | "Partner")
}

fn crd_schema(kind: &str) -> Option<Value> {
    let crd = match kind {
        "LoyaltyRegion" => LoyaltyRegion::crd(),
        "Campaign" => Campaign::crd(),
        "Partner" => Partner::crd(),
        _ => return None,
    };
    let schema = crd.spec.versions.first()?.schema.as_ref()?;
    serde_json::to_value(schema.open_api_v3_schema.as_ref()?).ok()
}

/// What the API server and the operator say about an object.
#[derive(Debug, Default)]
pub struct Verdict {
    /// What the API server rejects: the OpenAPI schema and the CRD's CEL rules.
    pub admission: Vec<ValidationIssue>,
    /// What the operator rejects: deserialization into the Rust type, then its `validate`.
    pub operator: Vec<ValidationIssue>,
    /// The object after the schema's defaults, as the API server would store it.
    pub defaulted: Value,
}

impl Verdict {
    /// Whether neither the API server nor the operator objects.
    pub fn accepted(&self) -> bool {
        self.admission.is_empty() && self.operator.is_empty()
    }
}

fn operator_issues<T: DeserializeOwned>(
    object: &Value,
    validate: impl Fn(&T) -> Result<(), Vec<ValidationIssue>>,
) -> Vec<ValidationIssue> {
    match serde_json::from_value::<T>(object.clone()) {
        Err(e) => vec![ValidationIssue::new(
            "",
            format!("does not deserialize: {e}"),
        )],
        Ok(typed) => validate(&typed).err().unwrap_or_default(),
    }
}

/// Checks `object` the way the API server and then the operator would, or `None` when its
/// `kind` is not one of the platform's.
pub fn verdict(object: &Value) -> Option<Verdict> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let schema = crd_schema(kind)?;
    let defaulted = apply_defaults(&schema, object);
    let mut admission = schema::check(&schema, &defaulted);
    if let Err(cel) = Validator::new().validate(&schema, &defaulted, None) {
        admission.extend(
            cel.iter()
                .map(|e| ValidationIssue::new(e.field_path.clone(), e.message.clone())),
        );
    }
    let operator = match kind {
        "LoyaltyRegion" => operator_issues(&defaulted, |r: &LoyaltyRegion| r.spec.validate()),
        "Campaign" => operator_issues(&defaulted, |c: &Campaign| c.spec.validate()),
        _ => operator_issues(&defaulted, |p: &Partner| p.spec.validate()),
    };
    Some(Verdict {
        admission,
        operator,
        defaulted,
    })
}
