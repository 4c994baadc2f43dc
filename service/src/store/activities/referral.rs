//! The checks of a referral, inside its transaction: the referred member exists, is someone
//! else of the same residency group, shares no identity hint with the referrer, was never
//! referred, did not (through others) refer the referrer, and has completed a booking.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::super::context::{MemberCtx, member_ctx};
use super::super::tx::Tx;
use crate::domain::Refusal;
use crate::error::Result;

/// How far up the referral chain a ring is looked for.
const MAX_RING_DEPTH: i32 = 32;

/// Whether the two members share an identity hint given at enrolment.
async fn share_identity(tx: &Tx<'_>, a: Uuid, b: Uuid) -> Result<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM member_identity_hints x JOIN member_identity_hints y ON y.hint_hash = x.hint_hash \
             WHERE x.member_id = $1 AND y.member_id = $2 LIMIT 1",
            &[&a, &b],
        )
        .await?
        .is_some())
}

/// Whether `referred` is among the members who referred `referrer`, directly or up the chain.
async fn refers_up_the_chain(tx: &Tx<'_>, referrer: Uuid, referred: Uuid) -> Result<bool> {
    Ok(tx
        .query_opt(
            "WITH RECURSIVE up (id, depth) AS ( \
                 SELECT member_id, 1 FROM referrals WHERE referred_id = $1 \
                 UNION ALL \
                 SELECT r.member_id, up.depth + 1 FROM referrals r JOIN up ON r.referred_id = up.id \
                 WHERE up.depth < $3) \
             SELECT 1 FROM up WHERE id = $2 LIMIT 1",
            &[&referrer, &referred, &MAX_RING_DEPTH],
        )
        .await?
        .is_some())
}

/// Whether the member has a vested earn not fully reversed: a completed booking.
async fn completed_a_booking(tx: &Tx<'_>, member: Uuid) -> Result<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM earns e JOIN lots l ON l.id = e.lot_id \
             WHERE e.member_id = $1 AND l.vests_at IS NULL AND e.reversed < e.points LIMIT 1",
            &[&member],
        )
        .await?
        .is_some())
}

/// Checks the referral of `referred` by `referrer`; answers the referred member's context.
pub(super) async fn check(
    tx: &Tx<'_>,
    region: &str,
    referrer: &MemberCtx,
    referred: Uuid,
) -> Result<MemberCtx> {
    if referred == referrer.member_id {
        return Err(Refusal::SelfReferral.into());
    }
    let group: String = tx
        .query_opt(
            "SELECT residency_group FROM members WHERE id = $1",
            &[&referred],
        )
        .await?
        .ok_or(Refusal::ReferredNotFound)?
        .get(0);
    if group != referrer.residency_group {
        return Err(Refusal::ReferralAcrossResidencyGroups.into());
    }
    let already = tx
        .query_opt(
            "SELECT 1 FROM referrals WHERE referred_id = $1",
            &[&referred],
        )
        .await?;
    if already.is_some() {
        return Err(Refusal::AlreadyReferred.into());
    }
    if share_identity(tx, referrer.member_id, referred).await? {
        return Err(Refusal::ReferralSameIdentity.into());
    }
    if refers_up_the_chain(tx, referrer.member_id, referred).await? {
        return Err(Refusal::ReferralRing.into());
    }
    if !completed_a_booking(tx, referred).await? {
        return Err(Refusal::ReferralNotCompleted.into());
    }
    member_ctx(tx, region, referred).await
}

/// Queues the referral's row: the referred member is referred once, by `referrer`.
pub(super) async fn record(
    tx: &Tx<'_>,
    referrer: Uuid,
    referred: &MemberCtx,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.write(
        "INSERT INTO referrals (referred_id, member_id, home_region, created_at) VALUES ($1, $2, $3, $4)",
        super::super::tx::params![referred.member_id, referrer, referred.home_region.clone(), now],
    )
    .await
}
