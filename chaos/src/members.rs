//! Members of every region, enrolled through the HTTP API of their home region.

use std::time::Duration;

use loyalty_loadgen::http::Conn;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use std::net::SocketAddr;

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

/// Where members of one region are enrolled.
#[derive(Debug, Clone)]
pub struct EnrolTarget {
    pub region: String,
    pub addr: SocketAddr,
    pub countries: Vec<String>,
}

/// The enrolment targets of a local topology.
pub fn targets(topology: &Topology) -> Vec<EnrolTarget> {
    topology
        .regions
        .iter()
        .map(|r| EnrolTarget {
            region: r.name().to_owned(),
            addr: r.service_addr,
            countries: r.spec.countries.clone(),
        })
        .collect()
}

/// Enrols `per_region` members in every target, cycling through each one's countries.
/// External ids carry `run` so that runs never collide.
pub async fn enrol(targets: &[EnrolTarget], per_region: usize, run: &str) -> Result<Vec<Member>> {
    let mut members = Vec::new();
    for target in targets {
        let mut conn = Conn::new(target.addr).with_timeout(Duration::from_millis(ENROL_TIMEOUT_MS));
        for i in 0..per_region {
            let country = &target.countries[i % target.countries.len().max(1)];
            let external_id = format!("chaos-{run}-{}-{i}", target.region);
            members.push(enrol_one(&mut conn, &target.region, &external_id, country).await?);
        }
    }
    Ok(members)
}

async fn enrol_one(
    conn: &mut Conn,
    region: &str,
    external_id: &str,
    country: &str,
) -> Result<Member> {
    let body = json!({"external_id": external_id, "country": country});
    let reply = conn
        .post_json("/v1/members", &body, Some(external_id))
        .await
        .map_err(|e| Error::Http(format!("enrol in {region}: {e}")))?;
    let view = reply
        .json()
        .map_err(|e| Error::Http(format!("enrol answer: {e}")))?;
    if !reply.status.is_success() {
        return Err(Error::Http(format!(
            "enrol in {region} answered {}: {view}",
            reply.status
        )));
    }
    let id = view["member_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Http(format!("enrol answer without member_id: {view}")))?;
    Ok(Member {
        id,
        country: country.to_owned(),
        home: view["home_region"].as_str().unwrap_or_default().to_owned(),
        group: view["residency_group"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}
