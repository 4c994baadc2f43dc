//! Points a partner awards through its signed webhook (`POST /v1/partners/{code}/bonuses`):
//! an earn entry whose source is the partner, and a lot that expires like any other. Such
//! points count towards lifetime points but not towards the tier (`qualifying`): status
//! comes from the member's own bookings (docs/partners.md).

use chrono::Duration;
use loyalty_crds::common::PartnerCode;
use serde_json::json;
use uuid::Uuid;

use super::context::member_ctx;
use super::credit::{Credit, credit};
use super::earn::balance_after;
use super::idempotency::Outcome;
use super::tx::Tx;
use super::{Committed, Db, IdemRequest, now_micros};
use crate::api::PartnerBonusAwarded;
use crate::domain::events::PARTNER_BONUS_REASON;
use crate::domain::{Points, Reference};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct PartnerBonusRequest {
    pub partner: PartnerCode,
    /// The message's `webhook-id`, recorded on the entry.
    pub webhook_id: String,
    pub member_id: Uuid,
    pub points: Points,
    pub reference: Reference,
    pub lot_expiry: Duration,
}

async fn award_unit(
    tx: &Tx<'_>,
    region: &str,
    req: &PartnerBonusRequest,
) -> Result<Outcome<PartnerBonusAwarded>> {
    let mut ctx = member_ctx(tx, region, req.member_id).await?;
    let points = req.points.get();
    let now = now_micros();
    let bonus = Credit {
        points,
        reason: PARTNER_BONUS_REASON,
        source: req.partner.as_str(),
        reference: req.reference.as_str(),
        details: json!({ "partner": req.partner.as_str(), "webhook_id": req.webhook_id }),
        lot_expiry: req.lot_expiry,
    };
    let (entry, expires_at) = credit(tx, &mut ctx, bonus, now).await?;
    ctx.write_balance(tx, now).await?;
    let awarded = PartnerBonusAwarded {
        entry_id: entry.id,
        member_id: req.member_id,
        partner: req.partner.to_string(),
        points,
        reference: req.reference.as_str().to_owned(),
        expires_at,
        balance: balance_after(&ctx.balance),
    };
    Ok(Outcome::new(awarded, ctx.home_region))
}

impl Db {
    /// Awards a partner's bonus once per `webhook-id` (the idempotency key of `idem`).
    pub async fn award_partner_bonus(
        &self,
        region: &str,
        idem: &IdemRequest,
        req: PartnerBonusRequest,
    ) -> Result<Committed<PartnerBonusAwarded>> {
        let _queue = self.member_lock(req.member_id).await;
        self.mutate("partner_bonus", idem, |tx| {
            let (region, req) = (region.to_owned(), req.clone());
            Box::pin(async move { award_unit(tx, &region, &req).await })
        })
        .await
    }
}
