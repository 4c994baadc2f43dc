//! The Kubernetes side of the topology: the API stand-in (in this process), the CRDs, the
//! operator's namespace, and one LoyaltyRegion per region.

use std::path::{Path, PathBuf};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResourceExt};
use kube_standin::StandIn;
use loyalty_crds::campaign::Campaign;
use loyalty_crds::partner::Partner;
use loyalty_crds::region::{LoyaltyRegion, LoyaltyRegionStatus};
use serde_json::json;

use super::{FailoverTimings, RegionSpec};
use crate::error::{Error, Result};

/// The operator's namespace: its Lease and the region workloads live there.
pub const OPERATOR_NAMESPACE: &str = "loyalty-system";
/// The operator's leader-election Lease (its default name).
pub const LEADER_LEASE: &str = "loyalty-operator";

/// The stand-in API server and a client of it.
pub struct Cluster {
    server: StandIn,
    client: Client,
    kubeconfig: PathBuf,
}

impl Cluster {
    /// Starts the stand-in, writes `dir/kubeconfig`, installs the CRDs and the namespace.
    pub async fn start(dir: &Path) -> Result<Cluster> {
        let server = StandIn::start()
            .await
            .map_err(Error::io("start the Kubernetes API stand-in"))?;
        let kubeconfig = dir.join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig)
            .map_err(Error::io(format!("write {}", kubeconfig.display())))?;
        let url = server
            .url()
            .parse()
            .map_err(|e| Error::Scenario(format!("stand-in URL: {e}")))?;
        let client = Client::try_from(kube::Config::new(url))?;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in [LoyaltyRegion::crd(), Campaign::crd(), Partner::crd()] {
            crds.create(&PostParams::default(), &crd).await?;
        }
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": OPERATOR_NAMESPACE}}))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok(Cluster {
            server,
            client,
            kubeconfig,
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Declares `spec` as a LoyaltyRegion whose endpoint is `endpoint`.
    pub async fn apply_region(
        &self,
        spec: &RegionSpec,
        endpoint: &str,
        timings: &FailoverTimings,
        primary: bool,
    ) -> Result<()> {
        let object: LoyaltyRegion = serde_json::from_value(json!({
            "apiVersion": "loyalty.travel.example/v1alpha1",
            "kind": "LoyaltyRegion",
            "metadata": {"name": spec.name},
            "spec": {
                "region": spec.name,
                "residencyGroup": spec.group,
                "countries": spec.countries,
                "database": {"locality": format!("local-{}", spec.name), "primary": primary},
                "service": {"image": "local/loyalty-service:dev", "replicas": 1},
                "endpoint": endpoint,
                "failover": {
                    "mode": "Automatic",
                    "probeIntervalSeconds": timings.probe_interval_s,
                    "failureThreshold": timings.failure_threshold,
                    "successThreshold": timings.success_threshold,
                    "stabilizationWindowSeconds": timings.stabilization_window_s,
                },
            },
        }))?;
        Api::<LoyaltyRegion>::all(self.client.clone())
            .create(&PostParams::default(), &object)
            .await?;
        Ok(())
    }

    /// The operator's view of a region.
    pub async fn region_status(&self, name: &str) -> Result<Option<LoyaltyRegionStatus>> {
        let region = Api::<LoyaltyRegion>::all(self.client.clone())
            .get(name)
            .await?;
        Ok(region.status)
    }

    /// The identity holding the operator's Lease, if anyone does.
    pub async fn leader(&self) -> Result<Option<String>> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), OPERATOR_NAMESPACE);
        let lease = leases.get_opt(LEADER_LEASE).await?;
        Ok(lease.and_then(|l| l.spec).and_then(|s| s.holder_identity))
    }
}
