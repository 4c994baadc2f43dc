//! Enrolment and the member and balance reads.

use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::ClientWrapper;
use loyalty_crds::common::Tier;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;
use utoipa::ToSchema;
use uuid::Uuid;

use super::context::{RegionRow, SERVED_AT, check_serves, region_row, wrong_region};
use super::idempotency::Outcome;
use super::keys::{self, PROFILE_COLUMNS, Profile, SealedProfile, StoredProfile};
use super::ledger::genesis_hash;
use super::tx::{Tx, settle_pair};
use super::{Committed, Db, IdemRequest, now_micros};
use crate::crypto::Keyring;
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
    /// Absent once the member is erased.
    #[schema(value_type = Option<ExternalId>)]
    pub external_id: Option<String>,
    /// Absent once the member is erased.
    #[schema(value_type = Option<CountryCode>)]
    pub country: Option<String>,
    pub home_region: String,
    pub residency_group: String,
    #[schema(schema_with = schema::tier)]
    pub tier: Tier,
    pub created_at: DateTime<Utc>,
    /// When the member was erased (`POST /v1/members/{member_id}/erasure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<DateTime<Utc>>,
}

/// What an enrolment stores in its idempotency record: the member without the profile, so
/// the record never holds the external id in the clear. A replay takes the profile from the
/// request, which the record's hash shows to be the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Enrolled {
    member_id: Uuid,
    home_region: String,
    residency_group: String,
    tier: Tier,
    created_at: DateTime<Utc>,
}

impl Enrolled {
    fn view(self, req: &EnrolRequest) -> MemberView {
        MemberView {
            member_id: self.member_id,
            external_id: Some(req.external_id.as_str().to_owned()),
            country: Some(req.country.as_str().to_owned()),
            home_region: self.home_region,
            residency_group: self.residency_group,
            tier: self.tier,
            created_at: self.created_at,
            erased_at: None,
        }
    }
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

/// Queues the new member's data key, member row and balance row.
async fn insert_member(
    tx: &Tx<'_>,
    id: Uuid,
    sealed: SealedProfile,
    home_region: &str,
    group: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    keys::store_key(tx, id, home_region, &sealed.wrapped, now).await?;
    tx.write(
        "INSERT INTO members (id, external_id_index, profile_sealed, home_region, residency_group, tier, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        super::tx::params![
            id,
            sealed.index,
            sealed.sealed,
            home_region.to_owned(),
            group.to_owned(),
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
            home_region.to_owned(),
            group.to_owned(),
            genesis_hash(id),
            now
        ],
    )
    .await
}

async fn enrol_unit(
    tx: &Tx<'_>,
    keyring: &Keyring,
    region: &str,
    req: &EnrolRequest,
) -> Result<Outcome<Enrolled>> {
    let id = Uuid::new_v4();
    let profile = Profile {
        external_id: req.external_id.as_str().to_owned(),
        country: req.country.as_str().to_owned(),
    };
    let sealed = keys::seal(keyring, id, &profile)?;
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
            // The blind index finds sealed members; the plaintext column those not sealed yet.
            tx.query_opt(
                "SELECT id FROM members WHERE external_id_index = $1 OR external_id = $2",
                &[&sealed.index, &req.external_id.as_str()],
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
    insert_member(tx, id, sealed, &home_region, &group, now).await?;
    for hint in &req.identity_hints {
        tx.write(
            "INSERT INTO member_identity_hints (member_id, home_region, hint_hash) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            super::tx::params![id, home_region.clone(), hint_hash(hint)],
        )
        .await?;
    }
    let enrolled = Enrolled {
        member_id: id,
        home_region: home_region.clone(),
        residency_group: group,
        tier: Tier::Basic,
        created_at: now,
    };
    Ok(Outcome::new(enrolled, home_region))
}

/// A member as stored, its profile still sealed.
pub(super) struct StoredMember {
    /// The member without its profile (`external_id` and `country` are `None`).
    pub view: MemberView,
    profile: StoredProfile,
}

impl StoredMember {
    /// The member with its profile opened (absent once erased).
    pub fn open(self, keyring: &Keyring) -> Result<MemberView> {
        let profile = self.profile.open(keyring, self.view.member_id)?;
        let (external_id, country) = profile.map(|p| (p.external_id, p.country)).unzip();
        Ok(MemberView {
            external_id,
            country,
            ..self.view
        })
    }
}

/// Reads a member this instance may serve (404 if unknown, 421 if served elsewhere).
pub(super) async fn member_on(
    client: &ClientWrapper,
    region: &str,
    member_id: Uuid,
) -> Result<StoredMember> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT m.home_region, m.residency_group, m.tier, m.created_at, m.erased_at, \
                    home.served_by, srv.endpoint, \
                    (SELECT state FROM regions WHERE name = $2), \
                    (SELECT residency_group FROM regions WHERE name = $2), {PROFILE_COLUMNS} \
             FROM members m JOIN regions home ON home.name = m.home_region \
             JOIN regions srv ON srv.name = home.served_by \
             LEFT JOIN member_keys k ON k.member_id = m.id WHERE m.id = $1"
        ))
        .await?;
    let row = client
        .query_opt(&stmt, &[&member_id, &region])
        .await?
        .ok_or(Refusal::MemberNotFound)?;
    let me = RegionRow::from_columns(row.get(7), row.get(8), region, true)?;
    let group: String = row.get(1);
    check_serves(&me, &group, row.get(5), row.get(6))?;
    let view = MemberView {
        member_id,
        external_id: None,
        country: None,
        home_region: row.get(0),
        residency_group: group,
        tier: parse_tier(row.get::<_, &str>(2))?,
        created_at: row.get(3),
        erased_at: row.get(4),
    };
    Ok(StoredMember {
        view,
        profile: StoredProfile::from_row(&row, 9),
    })
}

impl Db {
    pub async fn enrol(
        &self,
        region: &str,
        idem: &IdemRequest,
        req: EnrolRequest,
    ) -> Result<Committed<MemberView>> {
        let keyring = self.keyring()?.clone();
        let committed = self
            .mutate("enrol", idem, |tx| {
                let (region, req, keyring) = (region.to_owned(), req.clone(), keyring.clone());
                Box::pin(async move { enrol_unit(tx, &keyring, &region, &req).await })
            })
            .await?;
        Ok(Committed {
            value: committed.value.view(&req),
            replayed: committed.replayed,
        })
    }

    pub async fn member(&self, region: &str, member_id: Uuid) -> Result<MemberView> {
        let client = self.conn().await?;
        member_on(&client, region, member_id)
            .await?
            .open(self.keyring()?)
    }

    /// One statement, one round trip: the balance read is the hottest path. It goes through
    /// the shared read connections when the pool has them (`store::readers`).
    pub async fn balance(&self, region: &str, member_id: Uuid) -> Result<BalanceView> {
        let soon = Utc::now() + Duration::days(EXPIRING_SOON_DAYS);
        let params: [&(dyn ToSql + Sync); 3] = [&member_id, &region, &soon];
        let row = self
            .read_opt(BALANCE_READ, &params)
            .await?
            .ok_or(Refusal::MemberNotFound)?;
        let me = RegionRow::from_columns(row.get(8), row.get(9), region, true)?;
        let (group, home_region): (String, String) = (row.get(0), row.get(10));
        if !me.serves(&group) {
            let served_at = self.read_opt(SERVED_AT, &[&home_region]).await?;
            return Err(wrong_region(&home_region, served_at));
        }
        Ok(BalanceView {
            member_id,
            tier: parse_tier(row.get::<_, &str>(1))?,
            available: row.get(2),
            pending: row.get(3),
            held: row.get(4),
            lifetime: row.get(5),
            qualifying: row.get(6),
            expiring_soon: row.get(7),
            expiring_soon_days: EXPIRING_SOON_DAYS,
        })
    }
}

/// The balance read's statement (see [`Db::balance`]).
const BALANCE_READ: &str = "SELECT m.residency_group, m.tier, \
        b.available, b.pending, b.held, b.lifetime, b.qualifying, \
        (SELECT COALESCE(SUM(l.remaining), 0)::BIGINT FROM lots l \
          WHERE l.member_id = m.id AND l.remaining > 0 AND l.expires_at < $3), \
        (SELECT state FROM regions WHERE name = $2), \
        (SELECT residency_group FROM regions WHERE name = $2), m.home_region \
 FROM members m JOIN balances b ON b.member_id = m.id WHERE m.id = $1";

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
