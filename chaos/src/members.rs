//! Members of every region, enrolled through the HTTP API of their home region.

use std::time::Duration;

use loyalty_loadgen::http::Conn;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::topology::Topology;

/// Timeout of one enrolment request.
const ENROL_TIMEOUT_MS: u64 = 5_000;

/// An enrolled member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: Uuid,
    pub country: String,
    pub home: String,
    pub group: String,
}

/// Enrols `per_region` members in every region, cycling through each region's countries.
/// External ids carry `run` so that runs never collide.
pub async fn enrol(topology: &Topology, per_region: usize, run: &str) -> Result<Vec<Member>> {
    let mut members = Vec::new();
    for region in &topology.regions {
        let mut conn =
            Conn::new(region.service_addr).with_timeout(Duration::from_millis(ENROL_TIMEOUT_MS));
        for i in 0..per_region {
            let country = &region.spec.countries[i % region.spec.countries.len()];
            let external_id = format!("chaos-{run}-{}-{i}", region.name());
            let body = json!({"external_id": external_id, "country": country});
            let reply = conn
                .post_json("/v1/members", &body, Some(&external_id))
                .await
                .map_err(|e| Error::Http(format!("enrol in {}: {e}", region.name())))?;
            let view = reply
                .json()
                .map_err(|e| Error::Http(format!("enrol answer: {e}")))?;
            if !reply.status.is_success() {
                return Err(Error::Http(format!(
                    "enrol in {} answered {}: {view}",
                    region.name(),
                    reply.status
                )));
            }
            let id = view["member_id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::Http(format!("enrol answer without member_id: {view}")))?;
            members.push(Member {
                id,
                country: country.clone(),
                home: view["home_region"].as_str().unwrap_or_default().to_owned(),
                group: view["residency_group"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
    }
    Ok(members)
}
