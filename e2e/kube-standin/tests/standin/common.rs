//! Shared fixtures: a running stand-in with the test CRD installed, a kube-rs client for it,
//! and the `Promotion` custom resource type matching `fixtures/promotions-crd.yaml`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{Client, CustomResource};
use kube_standin::StandIn;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The test CRD's kind, mirroring `fixtures/promotions-crd.yaml`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema, PartialEq)]
#[kube(
    group = "standin.example.com",
    version = "v1",
    kind = "Promotion",
    namespaced,
    status = "PromotionStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct PromotionSpec {
    pub kind: String,
    pub start: String,
    pub end: String,
    pub max_multiplier: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn client(server: &StandIn) -> Client {
    let mut config = kube::Config::new(server.url().parse().expect("the stand-in URL parses"));
    config.default_namespace = "default".into();
    Client::try_from(config).expect("a client for plain HTTP")
}

/// Installs the test CRD through the API, as `kubectl apply` would.
pub async fn install_crd(client: &Client) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(fixture("promotions-crd.yaml"))?;
    let crd: CustomResourceDefinition = serde_norway::from_str(&text)?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &crd)
        .await?;
    Ok(())
}

/// A stand-in with the test CRD installed, and a client for it.
pub async fn with_crd() -> anyhow::Result<(StandIn, Client)> {
    let server = StandIn::start().await?;
    let client = client(&server);
    install_crd(&client).await?;
    Ok((server, client))
}

pub fn promotion(name: &str, max_multiplier: i64) -> Promotion {
    Promotion::new(
        name,
        PromotionSpec {
            kind: "weekend".into(),
            start: "2030-06-01T00:00:00Z".into(),
            end: "2030-06-03T00:00:00Z".into(),
            max_multiplier,
            note: None,
        },
    )
}
