//! The workloads the operator runs for each region: Deployment `loyalty-<region>`, its
//! Service, and a PodDisruptionBudget when there is more than one replica. All are applied
//! with server-side apply and owned by the LoyaltyRegion, built from the k8s-openapi types so
//! that a misspelt field is a compile error rather than a field the API server drops.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, HTTPGetAction, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecurityContext, Service,
    ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use loyalty_crds::region::{LoyaltyRegion, ResourceAmounts};

use super::service_config;
use crate::controller::{Context, MANAGER, Settings};
use crate::{Error, Result};

/// The node label every replica of a region is pinned to.
pub const REGION_NODE_LABEL: &str = "topology.kubernetes.io/region";
/// The port the service listens on inside the pod.
pub const SERVICE_PORT: i32 = 8080;

/// `loyalty-<region>`: the name of the region's Deployment, Service and PDB.
pub fn workload_name(region: &str) -> String {
    format!("loyalty-{region}")
}

fn selector(region: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "loyalty-service".to_owned(),
        ),
        (
            "app.kubernetes.io/instance".to_owned(),
            workload_name(region),
        ),
    ])
}

fn labels(region: &str) -> BTreeMap<String, String> {
    let mut l = selector(region);
    l.insert("app.kubernetes.io/managed-by".into(), MANAGER.into());
    l.insert("loyalty.travel.example/region".into(), region.into());
    l
}

fn amounts(a: &ResourceAmounts) -> BTreeMap<String, Quantity> {
    [("cpu", &a.cpu), ("memory", &a.memory)]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), Quantity(v.clone()?))))
        .collect()
}

fn metadata(r: &LoyaltyRegion, namespace: &str) -> Result<ObjectMeta> {
    let owner = r
        .controller_owner_ref(&())
        .ok_or(Error::Malformed("a LoyaltyRegion without a name or uid"))?;
    Ok(ObjectMeta {
        name: Some(workload_name(r.spec.region.as_str())),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels(r.spec.region.as_str())),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}

fn http_probe(path: &str, period_s: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_s),
        ..Probe::default()
    }
}

/// The pod's secret volumes with their mounts: the database CA bundle when the spec names one,
/// the service's key files, and the Partners' projected secrets.
fn mounts(r: &LoyaltyRegion, settings: &Settings) -> impl Iterator<Item = (Volume, VolumeMount)> {
    service_config::database_ca(r).into_iter().chain([
        service_config::keys(settings),
        service_config::partner_secrets(),
    ])
}

/// The service container: its environment and mounts (see [`service_config`]), probes,
/// resources, and a locked-down security context.
fn container(r: &LoyaltyRegion, settings: &Settings) -> Container {
    let resources = &r.spec.service.resources;
    Container {
        name: "service".into(),
        image: Some(r.spec.service.image.clone()),
        args: Some(vec!["serve".into()]),
        env: Some(service_config::env(r, settings)),
        volume_mounts: Some(mounts(r, settings).map(|(_, mount)| mount).collect()),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: SERVICE_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(http_probe("/readyz", 5)),
        liveness_probe: Some(http_probe("/healthz", 10)),
        resources: Some(ResourceRequirements {
            requests: Some(amounts(&resources.requests)),
            limits: Some(amounts(&resources.limits)),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

/// The region's Deployment, as applied in `settings.service_namespace`.
pub fn deployment(r: &LoyaltyRegion, settings: &Settings) -> Result<Deployment> {
    let region = r.spec.region.as_str();
    let mut node_selector = BTreeMap::from([(REGION_NODE_LABEL.to_owned(), region.to_owned())]);
    // The spec's labels win, so a cluster that labels its nodes differently can say so.
    node_selector.extend(r.spec.service.node_selector.clone());
    let pod = PodSpec {
        node_selector: Some(node_selector),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            // Owns the mounted key files, which are not world-readable.
            fs_group: Some(65532),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container(r, settings)],
        volumes: Some(mounts(r, settings).map(|(volume, _)| volume).collect()),
        ..PodSpec::default()
    };
    Ok(Deployment {
        metadata: metadata(r, &settings.service_namespace)?,
        spec: Some(DeploymentSpec {
            replicas: Some(r.spec.service.replicas),
            selector: LabelSelector {
                match_labels: Some(selector(region)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(region)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    })
}

/// The region's ClusterIP Service.
pub fn service(r: &LoyaltyRegion, namespace: &str) -> Result<Service> {
    Ok(Service {
        metadata: metadata(r, namespace)?,
        spec: Some(ServiceSpec {
            selector: Some(selector(r.spec.region.as_str())),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: SERVICE_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The region's PodDisruptionBudget: one replica stays up through voluntary disruptions.
pub fn pod_disruption_budget(r: &LoyaltyRegion, namespace: &str) -> Result<PodDisruptionBudget> {
    Ok(PodDisruptionBudget {
        metadata: metadata(r, namespace)?,
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector(r.spec.region.as_str())),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
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
        .patch(&name, &pp, &Patch::Apply(&deployment(r, &ctx.settings)?))
        .await?;
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    services
        .patch(&name, &pp, &Patch::Apply(&service(r, ns)?))
        .await?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), ns);
    if r.spec.service.replicas > 1 {
        pdbs.patch(&name, &pp, &Patch::Apply(&pod_disruption_budget(r, ns)?))
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
