//! `LoyaltyRegion`: a cloud region that runs the loyalty service.
//!
//! Cluster-scoped, because a region is a fact about the whole platform rather than about a
//! team's namespace, and because the operator must see every region to pick failover targets.
//! Platform engineers declare one per region with `kubectl apply`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ValidationIssue;
use crate::common::{Condition, CountryCode, RegionName, ResidencyGroup, SecretKeyRef};

mod auth;
pub use auth::RegionAuth;

/// Condition types a `LoyaltyRegion` reports.
pub mod conditions {
    /// The database placement for the region is applied.
    pub const PLACED: &str = "Placed";
    /// The region's service Deployment has its replicas available.
    pub const SERVICE_READY: &str = "ServiceReady";
    /// The region's endpoint answers its health probe.
    pub const HEALTHY: &str = "Healthy";
    /// The region serves its members (placed, service ready, healthy, not failed over).
    pub const READY: &str = "Ready";
    /// The region's members are served from another region (True), or why they are not.
    pub const FAILED_OVER: &str = "FailedOver";
    /// Whether the region's data stays available when the whole region is lost: only with
    /// the CockroachDB survival goal `Region`. Failover moves serving, never data.
    pub const SURVIVES_REGION_LOSS: &str = "SurvivesRegionLoss";
}

/// Set to `"true"` on a LoyaltyRegion to fence it by hand (served by the best region of its
/// group, or by nobody when there is none); remove it to lift the fence.
pub const FENCE_ANNOTATION: &str = "loyalty.travel.example/fence";

/// Declares a region of the loyalty platform: where it runs, which members it serves, how its
/// data is placed and how it fails over.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "loyalty.travel.example",
    version = "v1alpha1",
    kind = "LoyaltyRegion",
    plural = "loyaltyregions",
    shortname = "lreg",
    category = "loyalty",
    status = "LoyaltyRegionStatus",
    derive = "PartialEq",
    // Names are unique among cluster-scoped objects, so this makes regions unique too.
    validation = Rule::new("self.metadata.name == self.spec.region")
        .message("metadata.name must equal spec.region"),
    doc = "A region of the loyalty platform: where the service runs, which countries' members it serves, how its data is placed and how it fails over.",
    printcolumn = r#"{"name": "Region", "type": "string", "jsonPath": ".spec.region"}"#,
    printcolumn = r#"{"name": "Group", "type": "string", "jsonPath": ".spec.residencyGroup"}"#,
    printcolumn = r#"{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}"#,
    printcolumn = r#"{"name": "Serving", "type": "string", "jsonPath": ".status.servingRegion"}"#,
    printcolumn = r#"{"name": "Epoch", "type": "integer", "jsonPath": ".status.epoch", "priority": 1}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyRegionSpec {
    /// The cloud region's name, e.g. `eu-west-1`. Unique across LoyaltyRegions; the service
    /// instances of this region are configured with the same name.
    #[x_kube(validation = ("self == oldSelf", "region is immutable"))]
    pub region: RegionName,
    /// The residency group, e.g. `eu`: members homed here never have their data moved to a
    /// region of another group, not even on failover.
    #[x_kube(validation = ("self == oldSelf", "residencyGroup is immutable"))]
    pub residency_group: ResidencyGroup,
    /// The ISO 3166-1 alpha-2 codes of the countries whose members are homed in this region
    /// at enrolment, e.g. `[FR, BE]`.
    #[schemars(length(min = 1, max = 250), extend("x-kubernetes-list-type" = "set"))]
    pub countries: Vec<CountryCode>,
    /// How the region's data is placed in the database.
    pub database: DatabasePlacement,
    /// The service Deployment the operator runs for this region.
    pub service: RegionService,
    /// The public https URL of this region's service; other regions answer 421 with it, and
    /// the operator probes its `/readyz`. Plain `http://` is accepted only to a loopback
    /// address with a port (`http://127.0.0.1:PORT`), for local multi-region topologies.
    #[schemars(length(min = 9, max = 2048))]
    // Only standard CEL here (no Kubernetes URL library), so that the e2e stand-in API server
    // evaluates the rule exactly like a real one; `validate` checks the host as well.
    #[x_kube(validation = (
        "(self.startsWith('https://') || self.startsWith('http://127.0.0.1:') || self.startsWith('http://localhost:') || self.startsWith('http://[::1]:')) && !self.contains(' ')",
        "endpoint must be an absolute https:// URL (plain http:// only to a loopback address with a port)"
    ))]
    pub endpoint: String,
    /// How and when the operator fails the region over to another region of its group.
    #[serde(default)]
    pub failover: FailoverPolicy,
    /// The identity provider whose bearer tokens the region's service accepts. Outside
    /// `--demo` the service refuses to start without one, so only local topologies, which do
    /// not run the operator's Deployment, leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RegionAuth>,
}

/// Where a region's rows live in the database.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DatabasePlacement {
    /// The CockroachDB region (locality) name, e.g. `aws-eu-west-1`. On PostgreSQL it is only
    /// recorded.
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub locality: String,
    /// Whether this region is the database's primary region. Exactly one region should be.
    #[serde(default)]
    pub primary: bool,
    /// What the data placement survives: `Zone` (default) or `Region`. `Region` needs at least
    /// three regions (and three per super region), which the operator checks.
    #[serde(default)]
    pub survival_goal: SurvivalGoal,
}

/// The failure the database placement survives.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SurvivalGoal {
    /// Survives the loss of one availability zone.
    #[default]
    Zone,
    /// Survives the loss of a whole region (needs three or more regions).
    Region,
}

/// The service Deployment of a region.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegionService {
    /// How many service replicas run in the region, 1 to 50.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = 50))]
    pub replicas: i32,
    /// The service's container image, e.g. `ghcr.io/example/loyalty-service:0.1.0`.
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    /// CPU and memory requests and limits of each replica.
    #[serde(default)]
    pub resources: ResourceRequirements,
    /// Node labels the replicas must be scheduled on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// The Secret key (in the operator's service namespace) holding the PEM bundle of the CA
    /// that signed the database's certificate. The operator mounts it read-only at
    /// `/etc/loyalty/database-ca/ca.crt`, and the database URL names that path:
    /// `?sslmode=verify-full&sslrootcert=/etc/loyalty/database-ca/ca.crt`. Absent: nothing is
    /// mounted (a database whose CA the URL does not need, or plaintext in development).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_ca_secret_ref: Option<SecretKeyRef>,
}

fn default_replicas() -> i32 {
    2
}

/// Requests and limits, as Kubernetes quantities.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// What the scheduler reserves for each replica.
    #[serde(default)]
    pub requests: ResourceAmounts,
    /// What each replica may use at most.
    #[serde(default)]
    pub limits: ResourceAmounts,
}

/// CPU and memory amounts.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAmounts {
    /// CPU as a Kubernetes quantity, e.g. `500m` or `2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(\.[0-9]+)?m?$"))]
    pub cpu: Option<String>,
    /// Memory as a Kubernetes quantity, e.g. `512Mi` or `2Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(\.[0-9]+)?(k|Ki|M|Mi|G|Gi|T|Ti)?$"))]
    pub memory: Option<String>,
}

/// When the operator moves a region's members to another region of the same residency group,
/// and when it moves them back.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = (
    "self.stabilizationWindowSeconds >= self.probeIntervalSeconds",
    "stabilizationWindowSeconds must be at least probeIntervalSeconds"
))]
pub struct FailoverPolicy {
    /// `Automatic` (default): the operator fails over after `failureThreshold` failed probes
    /// and fails back after the stabilization window. `Manual`: only `manualOverride` moves
    /// members.
    #[serde(default)]
    pub mode: FailoverMode,
    /// Seconds between two health probes of the region's endpoint.
    #[serde(default = "default_probe_interval_s")]
    #[schemars(range(min = 1, max = 3600))]
    pub probe_interval_seconds: i32,
    /// Consecutive failed probes before the region counts as failed.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: i32,
    /// Consecutive successful probes before a failed region counts as recovered.
    #[serde(default = "default_success_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub success_threshold: i32,
    /// Seconds a recovered region must stay healthy before its members are moved back.
    #[serde(default = "default_stabilization_window_s")]
    #[schemars(range(min = 0, max = 86400))]
    pub stabilization_window_seconds: i32,
    /// Forces where this region's members are served from, whatever the probes say. Absent:
    /// no override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_override: Option<ManualOverride>,
}

fn default_probe_interval_s() -> i32 {
    10
}
fn default_failure_threshold() -> i32 {
    3
}
fn default_success_threshold() -> i32 {
    3
}
fn default_stabilization_window_s() -> i32 {
    300
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        Self {
            mode: FailoverMode::default(),
            probe_interval_seconds: default_probe_interval_s(),
            failure_threshold: default_failure_threshold(),
            success_threshold: default_success_threshold(),
            stabilization_window_seconds: default_stabilization_window_s(),
            manual_override: None,
        }
    }
}

/// Who decides to fail over.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverMode {
    /// The operator, from health probes.
    #[default]
    Automatic,
    /// A person, through `manualOverride`.
    Manual,
}

/// A person's decision about where a region's members are served from.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ManualOverride {
    /// The region that serves this region's members: another region of the same residency
    /// group to fail over, or this region itself to pin it home. The operator refuses a region
    /// of another group.
    pub serve_from: RegionName,
    /// Why, for the audit trail and the Event the operator emits.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub reason: String,
}

/// Where a region is in its lifecycle.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionPhase {
    /// Accepted, nothing done yet.
    Pending,
    /// Database placement is being applied.
    Placing,
    /// Serving its own members.
    Active,
    /// Down past the failure threshold, but a sanity rule holds the failover back (every
    /// region looks down, or another region of the group is already failed over).
    FailingOver,
    /// Fenced; members are served from `servingRegion`.
    FailedOver,
    /// Failed over and healthy again, inside the stabilization window before fail-back.
    FailingBack,
    /// Down with no eligible region in its residency group: its members are not served until
    /// it returns (they never move to another group).
    FailedClosed,
    /// Fenced by hand with no region of its group to serve its members.
    Fenced,
    /// The operator cannot reconcile the region; see the conditions.
    Error,
}

/// What the operator observed and did for a region.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyRegionStatus {
    /// Where the region is in its lifecycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RegionPhase>,
    /// The region currently serving this region's members: itself, or its failover target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_region: Option<RegionName>,
    /// When probes started failing (RFC 3339). Kept in status so that failure thresholds and
    /// stabilization windows survive operator restarts; cleared when healthy again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// When the region last became healthy after failing; the stabilization window counts
    /// from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<DateTime<Utc>>,
    /// The fencing epoch: incremented on every failover and failback, and written to the
    /// region's database row in the same transaction as the move.
    #[serde(default)]
    pub epoch: i64,
    /// The database placement the operator wants and the one it last verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementStatus>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Placed, ServiceReady, Healthy and Ready.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Desired against applied database placement.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStatus {
    /// The placement the spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<DatabasePlacement>,
    /// The placement last read back from the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<DatabasePlacement>,
    /// When the applied placement was last verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
}

impl LoyaltyRegionSpec {
    /// Whether members of `country` are homed in this region.
    pub fn serves_country(&self, country: &CountryCode) -> bool {
        self.countries.contains(country)
    }

    /// Checks what the schema and CEL rules cannot, or what a hand-made object (in a test, or
    /// one that bypassed admission) may violate.
    pub fn validate(&self) -> Result<(), Vec<ValidationIssue>> {
        let mut issues = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for country in &self.countries {
            if !seen.insert(country) {
                issues.push(ValidationIssue::new(
                    "spec.countries",
                    format!("country {country} is listed twice"),
                ));
            }
        }
        if self.countries.is_empty() {
            issues.push(ValidationIssue::new(
                "spec.countries",
                "at least one country is required",
            ));
        }
        if !crate::common::is_region_endpoint(&self.endpoint) {
            issues.push(ValidationIssue::new(
                "spec.endpoint",
                "endpoint must be an absolute https:// URL (plain http:// only to a loopback address with a port)",
            ));
        }
        if !(1..=50).contains(&self.service.replicas) {
            issues.push(ValidationIssue::new(
                "spec.service.replicas",
                "replicas must be 1 to 50",
            ));
        }
        issues.extend(self.auth.iter().flat_map(RegionAuth::issues));
        let failover = &self.failover;
        if failover.stabilization_window_seconds < failover.probe_interval_seconds {
            issues.push(ValidationIssue::new(
                "spec.failover.stabilizationWindowSeconds",
                "stabilizationWindowSeconds must be at least probeIntervalSeconds",
            ));
        }
        if failover.failure_threshold < 1 || failover.success_threshold < 1 {
            issues.push(ValidationIssue::new(
                "spec.failover",
                "failureThreshold and successThreshold must be at least 1",
            ));
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LoyaltyRegionSpec {
        serde_json::from_value(serde_json::json!({
            "region": "eu-west-1",
            "residencyGroup": "eu",
            "countries": ["FR", "BE"],
            "database": { "locality": "aws-eu-west-1", "primary": true },
            "service": { "image": "ghcr.io/example/loyalty-service:0.1.0" },
            "endpoint": "https://eu-west-1.loyalty.example.com"
        }))
        .unwrap()
    }

    #[test]
    fn omitted_fields_take_their_documented_defaults() {
        let spec = spec();
        assert_eq!(spec.service.replicas, 2);
        assert_eq!(spec.database.survival_goal, SurvivalGoal::Zone);
        assert_eq!(spec.failover, FailoverPolicy::default());
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn a_duplicated_country_and_an_http_endpoint_are_both_reported() {
        let mut spec = spec();
        spec.countries.push("FR".parse().unwrap());
        spec.endpoint = "http://eu-west-1.loyalty.example.com".into();
        let issues = spec.validate().unwrap_err();
        assert_eq!(issues.len(), 2, "{issues:?}");
    }

    #[test]
    fn a_region_serves_only_its_listed_countries() {
        let spec = spec();
        assert!(spec.serves_country(&"FR".parse().unwrap()));
        assert!(!spec.serves_country(&"US".parse().unwrap()));
    }
}
