//! The platform's Kubernetes API, shared by the operator and the loyalty service.
//!
//! Three kinds live in the API group [`API_GROUP`] at version [`API_VERSION`]:
//!
//! - [`region::LoyaltyRegion`] (cluster-scoped): a cloud region that runs the service, its
//!   residency group, countries, database locality and failover policy;
//! - [`campaign::Campaign`] (namespaced): a marketing campaign. The operator validates it and
//!   writes the spec as JSON into the database; the service deserializes the same
//!   [`campaign::CampaignSpec`] and evaluates it at earn time, so the pure helpers
//!   ([`campaign::CampaignSpec::validate`], [`campaign::CampaignSpec::is_active_at`],
//!   [`campaign::CampaignSpec::next_transition_after`], [`campaign::Eligibility::matches`])
//!   live here and do no I/O;
//! - [`partner::Partner`] (namespaced): an external partner awarding bonus points.
//!
//! [`common`] holds what the kinds share: the status [`common::Condition`] and its helpers,
//! product types, tiers, channels, and newtypes for region names, residency groups, country
//! and currency codes. [`generate`] renders the CustomResourceDefinitions; the `crdgen`
//! binary writes them to `manifests/crds/`.
//!
//! The crate enables exactly one Kubernetes version feature of `k8s-openapi` (`v1_33`, the
//! oldest API server version the platform supports). Every crate of the workspace inherits
//! it through this crate and must not enable a different one: k8s-openapi refuses two.
//!
//! CRD specs are deliberately lenient where the API server cannot enforce a rule (an IANA
//! timezone name is a plain string): a value the Rust types could not deserialize would break
//! the operator's watch for every object of the kind. Such rules are checked by the
//! `validate` functions instead, and the operator reports the result in status.

pub mod admission;
pub mod campaign;
pub mod common;
pub mod generate;
pub mod partner;
pub mod region;

/// The API group of every kind of the platform. `.example` is a reserved top-level domain
/// (RFC 2606), so the group can never collide with a real organisation's.
pub const API_GROUP: &str = "loyalty.travel.example";

/// The only API version served so far. `v1alpha1`: fields may still change incompatibly.
pub const API_VERSION: &str = "v1alpha1";

/// The category every kind belongs to: `kubectl get loyalty` lists them all.
pub const CATEGORY: &str = "loyalty";

/// Errors of this crate: values that do not parse into the API's value types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A string does not have the shape a value type requires.
    #[error("invalid {what} {value:?}: expected {expected}")]
    InvalidValue {
        /// What kind of value was being parsed, e.g. "region name".
        what: &'static str,
        /// The rejected input.
        value: String,
        /// A human description of the accepted shape.
        expected: &'static str,
    },
}

impl Error {
    /// A stable, low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidValue { .. } => "invalid_value",
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem found by a `validate` function: where it is and what is wrong.
///
/// The operator copies these into a status condition's message, so they are written for the
/// person who committed the YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    /// The path of the offending field, e.g. `spec.window.timezone`.
    pub field: String,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl ValidationIssue {
    /// An issue about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Joins issues into one line, the form a condition message takes.
pub fn describe_issues(issues: &[ValidationIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
