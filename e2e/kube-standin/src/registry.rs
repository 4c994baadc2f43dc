//! The kinds the stand-in serves: a fixed table of built-in resources, and the custom resources
//! registered by CustomResourceDefinitions.

use serde_json::Value;
use std::sync::Arc;

/// One printer column of a CRD version (`additionalPrinterColumns`).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// What differs between the versions of one resource.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub name: String,
    /// The CRD's `openAPIV3Schema`; `None` for built-ins, which are not validated.
    pub schema: Option<Value>,
    pub columns: Vec<PrinterColumn>,
    pub status_subresource: bool,
}

/// A resource (a plural name in a group), with the versions it is served at.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub versions: Vec<VersionInfo>,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// True for custom resources, which PUT requires a resourceVersion for.
    pub custom: bool,
}

impl ResourceType {
    pub fn version(&self, name: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// `plural.group`, or `plural` for the core group: the name used in error messages.
    pub fn qualified_plural(&self) -> String {
        qualify(&self.plural, &self.group)
    }

    /// `Kind.group`, as used in 422 Invalid messages.
    pub fn qualified_kind(&self) -> String {
        qualify(&self.kind, &self.group)
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// The key under which the store keeps this resource's objects.
    pub fn key(&self) -> ResKey {
        ResKey {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }

    pub fn has_status(&self, version: &str) -> bool {
        self.version(version).is_some_and(|v| v.status_subresource)
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{group}")
    }
}

/// Identifies a resource independently of its version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResKey {
    pub group: String,
    pub plural: String,
}

/// A built-in kind: (group, version, kind, plural, short names, namespaced, status subresource).
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    bool,
);

const BUILTINS: &[Builtin] = &[
    ("", "v1", "Namespace", "namespaces", &["ns"], false, true),
    ("", "v1", "Event", "events", &["ev"], true, false),
    ("", "v1", "Secret", "secrets", &[], true, false),
    ("", "v1", "ConfigMap", "configmaps", &["cm"], true, false),
    ("", "v1", "Service", "services", &["svc"], true, true),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        &["sa"],
        true,
        false,
    ),
    ("", "v1", "Pod", "pods", &["po"], true, true),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        &["deploy"],
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        &["sts"],
        true,
        true,
    ),
    ("batch", "v1", "Job", "jobs", &[], true, true),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        &["pdb"],
        true,
        true,
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        &[],
        true,
        false,
    ),
    (
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        &["ev"],
        true,
        false,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        &["netpol"],
        true,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        &[],
        true,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        &[],
        true,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        &[],
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        false,
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        &[],
        false,
        true,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        &[],
        false,
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        false,
        true,
    ),
];

pub fn builtins() -> Vec<Arc<ResourceType>> {
    BUILTINS
        .iter()
        .map(
            |&(group, version, kind, plural, short, namespaced, status)| {
                Arc::new(ResourceType {
                    group: group.to_owned(),
                    versions: vec![VersionInfo {
                        name: version.to_owned(),
                        schema: None,
                        columns: Vec::new(),
                        status_subresource: status,
                    }],
                    kind: kind.to_owned(),
                    plural: plural.to_owned(),
                    singular: kind.to_lowercase(),
                    short_names: short.iter().map(|s| (*s).to_owned()).collect(),
                    categories: Vec::new(),
                    namespaced,
                    custom: false,
                })
            },
        )
        .collect()
}

/// Reads the resource a CustomResourceDefinition declares. Returns a message on a malformed CRD.
pub fn from_crd(crd: &Value) -> Result<ResourceType, String> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let group = text(&spec["group"]).ok_or("spec.group: Required value")?;
    let kind = text(&names["kind"]).ok_or("spec.names.kind: Required value")?;
    let plural = text(&names["plural"]).ok_or("spec.names.plural: Required value")?;
    let singular = text(&names["singular"]).unwrap_or_else(|| kind.to_lowercase());
    let namespaced = match spec["scope"].as_str() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => {
            return Err(
                "spec.scope: Unsupported value: supported values: \"Cluster\", \"Namespaced\""
                    .into(),
            );
        }
    };
    let mut versions = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let name = text(&v["name"]).ok_or("spec.versions[].name: Required value")?;
        let columns = v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| PrinterColumn {
                name: text(&c["name"]).unwrap_or_default(),
                type_: text(&c["type"]).unwrap_or_else(|| "string".into()),
                format: text(&c["format"]).unwrap_or_default(),
                description: text(&c["description"]).unwrap_or_default(),
                priority: c["priority"].as_i64().unwrap_or(0),
                json_path: text(&c["jsonPath"]).unwrap_or_default(),
            })
            .collect();
        versions.push(VersionInfo {
            name,
            schema: v["schema"].get("openAPIV3Schema").cloned(),
            columns,
            status_subresource: v["subresources"].get("status").is_some(),
        });
    }
    if versions.is_empty() {
        return Err("spec.versions: Invalid value: must have at least one served version".into());
    }
    // The storage version is listed first so that it is the preferred version in discovery.
    let storage = spec["versions"]
        .as_array()
        .and_then(|all| all.iter().find(|v| v["storage"].as_bool() == Some(true)))
        .and_then(|v| v["name"].as_str());
    if let Some(pos) = versions
        .iter()
        .position(|v| Some(v.name.as_str()) == storage)
    {
        let preferred = versions.remove(pos);
        versions.insert(0, preferred);
    }
    Ok(ResourceType {
        group,
        versions,
        kind,
        plural,
        singular,
        short_names: strings(&names["shortNames"]),
        categories: strings(&names["categories"]),
        namespaced,
        custom: true,
    })
}
