//! The first read of every member transaction: this region's fence row, the member's
//! residency, and the member's balance row.

use loyalty_crds::common::Tier;
use uuid::Uuid;

use super::tx::{Tx, settle_pair};
use crate::domain::{Refusal, parse_tier};
use crate::error::Result;

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

/// Refuses with 421 (and the endpoint that does serve the member) when this instance may not
/// serve a member of `member_group` homed in a region served by `serving` at `endpoint`.
pub(super) fn check_serves(
    me: &RegionRow,
    member_group: &str,
    serving: &str,
    endpoint: &str,
) -> Result<()> {
    if me.may_commit() && me.residency_group == member_group {
        return Ok(());
    }
    Err(Refusal::WrongRegion {
        serving: serving.to_owned(),
        endpoint: endpoint.to_owned(),
    }
    .into())
}

/// Reads and checks the fence and residency, then locks and reads the member's balance.
/// An erased member is not found: nothing more is written for them (ADR 0021).
///
/// The region row is read inside the caller's SERIALIZABLE transaction on purpose: if the
/// operator fences this region concurrently, this transaction and the fence conflict and
/// cannot both be ordered as if this write came after the fence (ADR 0004).
pub async fn member_ctx(tx: &Tx<'_>, region: &str, member_id: Uuid) -> Result<MemberCtx> {
    // FOR UPDATE only reduces contention between instances; SERIALIZABLE gives correctness.
    // Both reads go out together: one round trip.
    let (me, row) = tokio::join!(region_row(tx, region), async {
        tx.query_opt(
            "SELECT m.home_region, m.residency_group, m.tier, home.served_by, srv.endpoint, \
                    b.available, b.pending, b.held, b.lifetime, b.qualifying, b.last_seq, b.last_hash \
             FROM members m \
             JOIN regions home ON home.name = m.home_region \
             JOIN regions srv ON srv.name = home.served_by \
             JOIN balances b ON b.member_id = m.id \
             WHERE m.id = $1 AND m.erased_at IS NULL \
             FOR UPDATE OF b",
            &[&member_id],
        ).await
    });
    let ((me, epoch), row) = settle_pair(me, row)?;
    let row = row.ok_or(Refusal::MemberNotFound)?;
    let group: String = row.get(1);
    let serving: String = row.get(3);
    let endpoint: String = row.get(4);
    check_serves(&me, &group, &serving, &endpoint)?;
    Ok(MemberCtx {
        member_id,
        home_region: row.get(0),
        residency_group: group,
        tier: parse_tier(row.get::<_, &str>(2))?,
        region: region.to_owned(),
        epoch,
        balance: Balance {
            available: row.get(5),
            pending: row.get(6),
            held: row.get(7),
            lifetime: row.get(8),
            qualifying: row.get(9),
            last_seq: row.get(10),
            last_hash: row.get(11),
        },
    })
}
