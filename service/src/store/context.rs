//! The first read of every member transaction: this region's fence row, the member's
//! residency, and the member's balance row.

use loyalty_crds::common::Tier;
use tokio_postgres::Row;
use uuid::Uuid;

use super::tx::{Tx, settle_pair};
use crate::domain::{Refusal, parse_tier};
use crate::error::{Error, Result};

/// A member's balance as read at the start of a transaction and updated in memory as
/// entries are appended; written back once by [`MemberCtx::write_balance`](super::ledger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub available: i64,
    pub pending: i64,
    pub held: i64,
    pub lifetime: i64,
    pub qualifying: i64,
    pub last_seq: i64,
    pub last_hash: Vec<u8>,
}

/// Everything a member transaction needs to know before it writes.
#[derive(Debug, Clone)]
pub struct MemberCtx {
    pub member_id: Uuid,
    pub home_region: String,
    pub residency_group: String,
    pub tier: Tier,
    /// The region this instance runs in (written on every ledger entry).
    pub region: String,
    /// The epoch of this region's row as this transaction read it (written on every ledger
    /// entry as `written_epoch`, so the chaos checker and the audit can tell which side of a
    /// fence each entry was ordered on).
    pub epoch: i64,
    pub balance: Balance,
}

/// Where this instance stands: must it refuse, and where should the caller go instead?
pub(super) struct RegionRow {
    pub state: String,
    pub residency_group: String,
    /// False only in a `chaos-hooks` build told to skip the fence check; reads always
    /// enforce it.
    pub enforce_fence: bool,
}

impl RegionRow {
    /// Whether a transaction that read this row may commit anything: the region is active
    /// (or, in a chaos test build, the fence check is off).
    pub fn may_commit(&self) -> bool {
        self.state == "active" || !self.enforce_fence
    }
}

/// This region's row, and the epoch this transaction read it at.
pub(super) async fn region_row(tx: &Tx<'_>, region: &str) -> Result<(RegionRow, i64)> {
    let row = tx
        .query_opt(
            "SELECT state, residency_group, epoch FROM regions WHERE name = $1",
            &[&region],
        )
        .await?
        .ok_or_else(|| Refusal::RegionUnknown {
            region: region.to_owned(),
        })?;
    let me = RegionRow {
        state: row.get(0),
        residency_group: row.get(1),
        enforce_fence: tx.enforces_fence(),
    };
    Ok((me, row.get(2)))
}

/// What `read` reads, read in the same round trip as this region's row; `None` when this
/// region may commit nothing (it is fenced), so a job's unit returns without writing.
pub(super) async fn unless_fenced<T>(
    tx: &Tx<'_>,
    region: &str,
    read: impl Future<Output = Result<T>>,
) -> Result<Option<T>> {
    let (me, value) = tokio::join!(region_row(tx, region), read);
    let ((me, _epoch), value) = settle_pair(me, value)?;
    Ok(me.may_commit().then_some(value))
}

impl RegionRow {
    /// This region's row from columns read beside other data (`NULL` when the region is not
    /// declared).
    pub fn from_columns(
        state: Option<String>,
        residency_group: Option<String>,
        region: &str,
        enforce_fence: bool,
    ) -> Result<Self> {
        match (state, residency_group) {
            (Some(state), Some(residency_group)) => Ok(RegionRow {
                state,
                residency_group,
                enforce_fence,
            }),
            _ => Err(Refusal::RegionUnknown {
                region: region.to_owned(),
            }
            .into()),
        }
    }

    /// Whether this instance may serve a member of `member_group` now.
    pub fn serves(&self, member_group: &str) -> bool {
        self.may_commit() && self.residency_group == member_group
    }
}

/// Where the members homed in a region (`$1`) are served: the serving region and its
/// endpoint. Read only when refusing, so the hot reads need not join `regions` twice.
pub(super) const SERVED_AT: &str = "SELECT srv.name, srv.endpoint FROM regions home \
     JOIN regions srv ON srv.name = home.served_by WHERE home.name = $1";

/// The 421 refusal for a member homed in `home_region`, from what [`SERVED_AT`] read.
pub(super) fn wrong_region(home_region: &str, served_at: Option<Row>) -> Error {
    match served_at {
        Some(row) => Refusal::WrongRegion {
            serving: row.get(0),
            endpoint: row.get(1),
        }
        .into(),
        None => Error::Invariant(format!("home region {home_region} is not declared")),
    }
}

/// Refuses with 421 (and the endpoint that does serve the member) when this instance may not
/// serve a member of `member_group` homed in a region served by `serving` at `endpoint`.
pub(super) fn check_serves(
    me: &RegionRow,
    member_group: &str,
    serving: &str,
    endpoint: &str,
) -> Result<()> {
    if me.serves(member_group) {
        return Ok(());
    }
    Err(Refusal::WrongRegion {
        serving: serving.to_owned(),
        endpoint: endpoint.to_owned(),
    }
    .into())
}

/// The member, their balance row (locked) and this region's fence row, in one statement.
/// `FOR UPDATE` only reduces contention between instances; SERIALIZABLE gives correctness.
const MEMBER_CTX: &str = "SELECT m.home_region, m.residency_group, m.tier, \
        b.available, b.pending, b.held, b.lifetime, b.qualifying, b.last_seq, b.last_hash, \
        r.state AS region_state, r.residency_group AS region_group, r.epoch AS region_epoch \
 FROM members m JOIN balances b ON b.member_id = m.id LEFT JOIN regions r ON r.name = $2 \
 WHERE m.id = $1 AND m.erased_at IS NULL FOR UPDATE OF b";

/// Reads and checks the fence and residency, then locks and reads the member's balance.
/// An erased member is not found: nothing more is written for them (ADR 0021).
///
/// The region row is read inside the caller's SERIALIZABLE transaction on purpose: if the
/// operator fences this region concurrently, this transaction and the fence conflict and
/// cannot both be ordered as if this write came after the fence (ADR 0004).
pub async fn member_ctx(tx: &Tx<'_>, region: &str, member_id: Uuid) -> Result<MemberCtx> {
    let row = tx
        .query_opt(MEMBER_CTX, &[&member_id, &region])
        .await?
        .ok_or(Refusal::MemberNotFound)?;
    let me = RegionRow::from_columns(row.get(10), row.get(11), region, tx.enforces_fence())?;
    let home_region: String = row.get(0);
    let group: String = row.get(1);
    if !me.serves(&group) {
        let served_at = tx.query_opt(SERVED_AT, &[&home_region]).await?;
        return Err(wrong_region(&home_region, served_at));
    }
    Ok(MemberCtx {
        member_id,
        home_region,
        residency_group: group,
        tier: parse_tier(row.get::<_, &str>(2))?,
        region: region.to_owned(),
        epoch: row.get(12),
        balance: Balance {
            available: row.get(3),
            pending: row.get(4),
            held: row.get(5),
            lifetime: row.get(6),
            qualifying: row.get(7),
            last_seq: row.get(8),
            last_hash: row.get(9),
        },
    })
}
