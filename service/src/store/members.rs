//! Enrolment and the member and balance reads.

use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::ClientWrapper;
use loyalty_crds::common::Tier;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::context::{RegionRow, check_serves, region_row};
use super::idempotency::Outcome;
use super::ledger::genesis_hash;
use super::tx::{Tx, settle_pair};
use super::{Committed, Db, IdemRequest, now_micros};
use crate::domain::{CountryCode, ExternalId, Reference, Refusal, parse_tier, schema};
use crate::error::Result;

/// The window of the balance's `expiring_soon` figure.
pub const EXPIRING_SOON_DAYS: i64 = 30;

#[derive(Debug, Clone)]
pub struct EnrolRequest {
    pub external_id: ExternalId,
    pub country: CountryCode,
    /// Opaque identity hints, stored only as hashes (see `activities::referral`).
    pub identity_hints: Vec<Reference>,
}

/// A hint as stored: SHA-256 under a fixed label, so the raw hint is never kept.
fn hint_hash(hint: &Reference) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"loyalty-identity-hint:");
    h.update(hint.as_str().as_bytes());
    h.finalize().to_vec()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberView {
    pub member_id: Uuid,
    #[schema(value_type = ExternalId)]
    pub external_id: String,
    #[schema(value_type = CountryCode)]
    pub country: String,
    pub home_region: String,
    pub residency_group: String,
    #[schema(schema_with = schema::tier)]
    pub tier: Tier,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Balance)]
pub struct BalanceView {
    pub member_id: Uuid,
    pub available: i64,
    pub pending: i64,
    pub held: i64,
    pub lifetime: i64,
    pub qualifying: i64,
    #[schema(schema_with = schema::tier)]
    pub tier: Tier,
    /// Points of lots expiring within the next 30 days.
    pub expiring_soon: i64,
    pub expiring_soon_days: i64,
}

fn region_from(state: Option<String>, group: Option<String>, region: &str) -> Result<RegionRow> {
    match (state, group) {
        (Some(state), Some(residency_group)) => Ok(RegionRow {
            state,
            residency_group,
            enforce_fence: true,
        }),
        _ => Err(Refusal::RegionUnknown {
            region: region.to_owned(),
        }
        .into()),
    }
}

async fn enrol_unit(tx: &Tx<'_>, region: &str, req: &EnrolRequest) -> Result<Outcome<MemberView>> {
    // The fence, the country's home and an existing member are read in one round trip.
    let (me, home, existing) = tokio::join!(
        region_row(tx, region),
        async {
            tx.query_opt(
                "SELECT home.name, home.residency_group, home.served_by, srv.endpoint \
             FROM country_homes c JOIN regions home ON home.name = c.region \
             JOIN regions srv ON srv.name = home.served_by WHERE c.country = $1",
                &[&req.country.as_str()],
            )
            .await
        },
        async {
            tx.query_opt(
                "SELECT id FROM members WHERE external_id = $1",
                &[&req.external_id.as_str()],
            )
            .await
        }
    );
    let (((me, _epoch), home), existing) = settle_pair(settle_pair(me, home), existing)?;
    let row = home.ok_or(Refusal::UnsupportedCountry)?;
    let (home_region, group): (String, String) = (row.get(0), row.get(1));
    check_serves(&me, &group, row.get(2), row.get(3))?;
    if let Some(row) = existing {
        return Err(Refusal::MemberExists {
            member_id: row.get(0),
        }
        .into());
    }
    let now = now_micros();
    let id = Uuid::new_v4();
    tx.write(
        "INSERT INTO members (id, external_id, country, home_region, residency_group, tier, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        super::tx::params![
            id,
            req.external_id.as_str().to_owned(),
            req.country.as_str().to_owned(),
            home_region.clone(),
            group.clone(),
            Tier::Basic.as_str(),
            now,
        ],
    )
    .await?;
    tx.write(
        "INSERT INTO balances (member_id, home_region, residency_group, last_hash, updated_at) \
         VALUES ($1, $2, $3, $4, $5)",
        super::tx::params![
            id,
            home_region.clone(),
            group.clone(),
            genesis_hash(id),
            now
        ],
    )
    .await?;
    for hint in &req.identity_hints {
        tx.write(
            "INSERT INTO member_identity_hints (member_id, home_region, hint_hash) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            super::tx::params![id, home_region.clone(), hint_hash(hint)],
        )
        .await?;
    }
    let view = MemberView {
        member_id: id,
        external_id: req.external_id.as_str().to_owned(),
        country: req.country.as_str().to_owned(),
        home_region: home_region.clone(),
        residency_group: group,
        tier: Tier::Basic,
        created_at: now,
    };
    Ok(Outcome::new(view, home_region))
}

/// Reads a member this instance may serve (404 if unknown, 421 if served elsewhere).
pub(super) async fn member_on(
    client: &ClientWrapper,
    region: &str,
    member_id: Uuid,
) -> Result<MemberView> {
    let stmt = client
        .prepare_cached(
            "SELECT m.external_id, m.country, m.home_region, m.residency_group, m.tier, m.created_at, \
                    home.served_by, srv.endpoint, \
                    (SELECT state FROM regions WHERE name = $2), \
                    (SELECT residency_group FROM regions WHERE name = $2) \
             FROM members m JOIN regions home ON home.name = m.home_region \
             JOIN regions srv ON srv.name = home.served_by WHERE m.id = $1",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&member_id, &region])
        .await?
        .ok_or(Refusal::MemberNotFound)?;
    let me = region_from(row.get(8), row.get(9), region)?;
    let group: String = row.get(3);
    check_serves(&me, &group, row.get(6), row.get(7))?;
    Ok(MemberView {
        member_id,
        external_id: row.get(0),
        country: row.get(1),
        home_region: row.get(2),
        residency_group: group,
        tier: parse_tier(row.get::<_, &str>(4))?,
        created_at: row.get(5),
    })
}

impl Db {
    pub async fn enrol(
        &self,
        region: &str,
        idem: &IdemRequest,
        req: EnrolRequest,
    ) -> Result<Committed<MemberView>> {
        self.mutate("enrol", idem, |tx| {
            let (region, req) = (region.to_owned(), req.clone());
            Box::pin(async move { enrol_unit(tx, &region, &req).await })
        })
        .await
    }

    pub async fn member(&self, region: &str, member_id: Uuid) -> Result<MemberView> {
        let client = self.conn().await?;
        member_on(&client, region, member_id).await
    }

    /// One statement, one round trip: the balance read is the hottest path.
    pub async fn balance(&self, region: &str, member_id: Uuid) -> Result<BalanceView> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT m.residency_group, home.served_by, srv.endpoint, m.tier, \
                        b.available, b.pending, b.held, b.lifetime, b.qualifying, \
                        (SELECT COALESCE(SUM(l.remaining), 0)::BIGINT FROM lots l \
                          WHERE l.member_id = m.id AND l.remaining > 0 AND l.expires_at < $3), \
                        (SELECT state FROM regions WHERE name = $2), \
                        (SELECT residency_group FROM regions WHERE name = $2) \
                 FROM members m JOIN balances b ON b.member_id = m.id \
                 JOIN regions home ON home.name = m.home_region \
                 JOIN regions srv ON srv.name = home.served_by WHERE m.id = $1",
            )
            .await?;
        let soon = Utc::now() + Duration::days(EXPIRING_SOON_DAYS);
        let row = client
            .query_opt(&stmt, &[&member_id, &region, &soon])
            .await?
            .ok_or(Refusal::MemberNotFound)?;
        let me = region_from(row.get(10), row.get(11), region)?;
        let group: String = row.get(0);
        check_serves(&me, &group, row.get(1), row.get(2))?;
        Ok(BalanceView {
            member_id,
            tier: parse_tier(row.get::<_, &str>(3))?,
            available: row.get(4),
            pending: row.get(5),
            held: row.get(6),
            lifetime: row.get(7),
            qualifying: row.get(8),
            expiring_soon: row.get(9),
            expiring_soon_days: EXPIRING_SOON_DAYS,
        })
    }
}

/// This region's row as readiness and the region-scoped reads see it.
#[derive(Debug, Clone)]
pub struct RegionInfo {
    /// `active` or `fenced`.
    pub state: String,
    pub residency_group: String,
    /// Bumped by the operator on every state change (ADR 0004).
    pub epoch: i64,
    /// The region that serves this region's members: itself, or its failover target.
    pub served_by: String,
}

impl Db {
    /// This region's row, or `None` when it is not declared.
    pub async fn region_info(&self, region: &str) -> Result<Option<RegionInfo>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT state, residency_group, epoch, served_by FROM regions WHERE name = $1",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&region])
            .await?
            .map(|r| RegionInfo {
                state: r.get(0),
                residency_group: r.get(1),
                epoch: r.get(2),
                served_by: r.get(3),
            }))
    }
}
