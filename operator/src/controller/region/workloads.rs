//! The workloads the operator runs for each region: Deployment `loyalty-<region>`, its
//! Service, and a PodDisruptionBudget when there is more than one replica. All are applied
//! with server-side apply and owned by the LoyaltyRegion.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use loyalty_crds::region::{LoyaltyRegion, ResourceAmounts};
use serde_json::{Value, json};

use super::super::{Context, MANAGER};
use crate::{Error, Result};

/// The node label every replica of a region is pinned to.
pub const REGION_NODE_LABEL: &str = "topology.kubernetes.io/region";
/// The port the service listens on inside the pod.
pub const SERVICE_PORT: i32 = 8080;

/// `loyalty-<region>`: the name of the region's Deployment, Service and PDB.
pub fn workload_name(region: &str) -> String {
    format!("loyalty-{region}")
}

fn selector(region: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "loyalty-service",
        "app.kubernetes.io/instance": workload_name(region),
    })
}

fn labels(region: &str) -> Value {
    let mut l = selector(region);
    l["app.kubernetes.io/managed-by"] = json!(MANAGER);
    l["loyalty.travel.example/region"] = json!(region);
    l
}

fn amounts(a: &ResourceAmounts) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(cpu) = &a.cpu {
        m.insert("cpu".into(), json!(cpu));
    }
    if let Some(memory) = &a.memory {
        m.insert("memory".into(), json!(memory));
    }
    Value::Object(m)
}

fn metadata(r: &LoyaltyRegion, namespace: &str) -> Result<Value> {
    let owner = r
        .controller_owner_ref(&())
        .ok_or(Error::Malformed("a LoyaltyRegion without a name or uid"))?;
    Ok(json!({
        "name": workload_name(r.spec.region.as_str()),
        "namespace": namespace,
        "labels": labels(r.spec.region.as_str()),
        "ownerReferences": [owner],
    }))
}

/// The region's Deployment, as applied.
pub fn deployment(r: &LoyaltyRegion, namespace: &str, database_secret: &str) -> Result<Value> {
    let region = r.spec.region.as_str();
    let mut node_selector = BTreeMap::from([(REGION_NODE_LABEL.to_owned(), region.to_owned())]);
    // The spec's labels win, so a cluster that labels its nodes differently can say so.
    node_selector.extend(r.spec.service.node_selector.clone());
    let resources = &r.spec.service.resources;
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(r, namespace)?,
        "spec": {
            "replicas": r.spec.service.replicas,
            "selector": { "matchLabels": selector(region) },
            "template": {
                "metadata": { "labels": labels(region) },
                "spec": {
                    "nodeSelector": node_selector,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": { "type": "RuntimeDefault" }
                    },
                    "containers": [{
                        "name": "service",
                        "image": r.spec.service.image,
                        "args": ["serve"],
                        "env": [
                            { "name": "LOYALTY_REGION", "value": region },
                            { "name": "LOYALTY_LISTEN", "value": format!("0.0.0.0:{SERVICE_PORT}") },
                            { "name": "LOYALTY_LOG_FORMAT", "value": "json" },
                            { "name": "LOYALTY_DATABASE__URL", "valueFrom": {
                                "secretKeyRef": { "name": database_secret, "key": "url" }
                            } }
                        ],
                        "ports": [{ "name": "http", "containerPort": SERVICE_PORT, "protocol": "TCP" }],
                        "readinessProbe": { "httpGet": { "path": "/readyz", "port": "http" }, "periodSeconds": 5 },
                        "livenessProbe": { "httpGet": { "path": "/healthz", "port": "http" }, "periodSeconds": 10 },
                        "resources": {
                            "requests": amounts(&resources.requests),
                            "limits": amounts(&resources.limits)
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": { "drop": ["ALL"] }
                        }
                    }]
                }
            }
        }
    }))
}

/// The region's ClusterIP Service.
pub fn service(r: &LoyaltyRegion, namespace: &str) -> Result<Value> {
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(r, namespace)?,
        "spec": {
            "selector": selector(r.spec.region.as_str()),
            "ports": [{ "name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP" }]
        }
    }))
}

/// The region's PodDisruptionBudget: one replica stays up through voluntary disruptions.
pub fn pod_disruption_budget(r: &LoyaltyRegion, namespace: &str) -> Result<Value> {
    Ok(json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(r, namespace)?,
        "spec": {
            "minAvailable": 1,
            "selector": { "matchLabels": selector(r.spec.region.as_str()) }
        }
    }))
}

/// What the region's Deployment reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub available: i32,
    pub desired: i32,
}

impl Readiness {
    pub fn is_ready(self) -> bool {
        self.available >= self.desired
    }
}

/// Applies the Deployment, Service and (with more than one replica) PDB; deletes a PDB that
/// is no longer wanted. Returns the Deployment's readiness.
pub async fn apply(r: &LoyaltyRegion, ctx: &Context) -> Result<Readiness> {
    let ns = &ctx.settings.service_namespace;
    let name = workload_name(r.spec.region.as_str());
    let pp = PatchParams::apply(MANAGER).force();
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), ns);
    let applied = deployments
        .patch(
            &name,
            &pp,
            &Patch::Apply(deployment(r, ns, &ctx.settings.service_database_secret)?),
        )
        .await?;
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    services
        .patch(&name, &pp, &Patch::Apply(service(r, ns)?))
        .await?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), ns);
    if r.spec.service.replicas > 1 {
        pdbs.patch(&name, &pp, &Patch::Apply(pod_disruption_budget(r, ns)?))
            .await?;
    } else {
        delete_ignoring_absent(&pdbs, &name).await?;
    }
    let generation = applied.meta().generation;
    let status = applied.status.unwrap_or_default();
    let current_generation = status.observed_generation >= generation;
    Ok(Readiness {
        available: if current_generation {
            status.available_replicas.unwrap_or(0)
        } else {
            0
        },
        desired: r.spec.service.replicas,
    })
}

/// Deletes the region's workloads. Owner references would let the garbage collector do it;
/// deleting explicitly stops the service before the finalizer goes, on any cluster.
pub async fn delete(r: &LoyaltyRegion, ctx: &Context) -> Result<()> {
    let ns = &ctx.settings.service_namespace;
    let name = workload_name(r.spec.region.as_str());
    delete_ignoring_absent(
        &Api::<Deployment>::namespaced(ctx.client.clone(), ns),
        &name,
    )
    .await?;
    delete_ignoring_absent(&Api::<Service>::namespaced(ctx.client.clone(), ns), &name).await?;
    delete_ignoring_absent(
        &Api::<PodDisruptionBudget>::namespaced(ctx.client.clone(), ns),
        &name,
    )
    .await?;
    Ok(())
}

async fn delete_ignoring_absent<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
