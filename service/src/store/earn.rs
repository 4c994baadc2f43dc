//! Earning points for a booking, and reversing an earn when the booking is refunded.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use loyalty_crds::campaign::EarnContext;
use loyalty_crds::common::{
    Channel, CurrencyCode, Money as ApiMoney, PartnerCode, RegionName, ResidencyGroup, Tier,
};
use serde_json::json;
use uuid::Uuid;

use super::context::{Balance, member_ctx};
use super::idempotency::Output;
use super::ledger::{Deltas, Draft, EntryKind};
use super::tx::{Tx, settle_pair};
use super::{Db, IdemRequest, Programme, Stored, caps, lots, now_micros, tiers};
use crate::api::{BalanceAfter, EarnExplanation, Earned, Reversed, to_body};
use crate::domain::partner_bonus::{self, PartnerTerms};
use crate::domain::rules::{self, EarnPlan};
use crate::domain::{
    Money, Points, PointsBreakdown, ProductType, Reference, Source, compute_base_points,
};
use crate::error::{ApiError, Error, Result};

#[derive(Debug, Clone)]
pub struct EarnRequest {
    pub source: Source,
    pub booking_ref: Reference,
    pub product: ProductType,
    pub spend: Money,
    pub channel: Channel,
    pub partner: Option<PartnerCode>,
    /// What the named partner awards (its bonus rules), as of the request.
    pub partner_terms: PartnerTerms,
    /// When the booking was made: campaigns active then apply.
    pub booked_at: DateTime<Utc>,
    /// Until then the points are pending (e.g. check-out plus the return window).
    pub vests_at: Option<DateTime<Utc>>,
}

/// How long an earn's points live, and how long they count towards the tier.
#[derive(Debug, Clone, Copy)]
pub struct EarnWindows {
    pub lot_expiry: Duration,
    pub qualifying: Duration,
}

#[derive(Debug, Clone)]
pub struct ReverseRequest {
    pub source: Source,
    pub booking_ref: Reference,
    /// Points to reverse; `None` reverses everything not yet reversed.
    pub points: Option<Points>,
}

/// The balance as it stands after a write, included in every mutating response.
pub fn balance_after(b: &Balance) -> BalanceAfter {
    BalanceAfter {
        available: b.available,
        pending: b.pending,
        held: b.held,
        lifetime: b.lifetime,
        qualifying: b.qualifying,
    }
}

/// The campaign-evaluation context of a booking for this member.
fn earn_context<'a>(
    req: &'a EarnRequest,
    tier: Tier,
    group: &'a ResidencyGroup,
    region: &'a RegionName,
    spend: &'a ApiMoney,
) -> EarnContext<'a> {
    EarnContext {
        product_type: req.product,
        tier,
        residency_group: group,
        region,
        partner: req.partner.as_ref(),
        channel: req.channel,
        spend,
    }
}

/// Plans a booking's earn for a member: base points, tier, campaigns (before caps).
pub fn plan_earn(
    programme: &Programme,
    req: &EarnRequest,
    tier: Tier,
    group: &str,
    home_region: &str,
) -> Result<(PointsBreakdown, EarnPlan)> {
    let breakdown = compute_base_points(&req.spend, req.product, &programme.rates)?;
    // Stored by enrolment from validated names: a bad one is the service's fault, not the
    // caller's.
    let group = ResidencyGroup::new(group)
        .map_err(|_| Error::Invariant(format!("stored residency group {group:?} is invalid")))?;
    let region = RegionName::new(home_region)
        .map_err(|_| Error::Invariant(format!("stored home region {home_region:?} is invalid")))?;
    let currency = CurrencyCode::new(req.spend.currency().as_str())
        .map_err(|_| ApiError::unprocessable("invalid_currency", "invalid currency"))?;
    let spend = ApiMoney {
        amount_minor: req.spend.amount_minor(),
        currency,
    };
    let ctx = earn_context(req, tier, &group, &region, &spend);
    let plan = rules::plan(
        &breakdown,
        &programme.tiers,
        &programme.campaigns,
        &ctx,
        req.booked_at,
    )?;
    Ok((breakdown, plan))
}

/// A stored tier name. An unknown one is an internal error (a row written by another version,
/// or by hand), never silently the lowest tier.
pub fn parse_tier(raw: &str) -> Result<Tier> {
    raw.parse()
        .map_err(|e: loyalty_crds::common::UnknownTier| Error::Invariant(e.to_string()))
}

async fn earn_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    req: &EarnRequest,
    programme: &Programme,
    windows: EarnWindows,
) -> Result<Output> {
    // The fence, the member and the booking are read in one round trip.
    let (ctx, earned) = tokio::join!(member_ctx(tx, region, member_id), async {
        tx.query_opt(
            "SELECT member_id, response FROM earns WHERE source = $1 AND booking_ref = $2",
            &[&req.source.as_str(), &req.booking_ref.as_str()],
        )
        .await
    });
    let (mut ctx, earned) = settle_pair(ctx, earned)?;
    if let Some(row) = earned {
        let owner: Uuid = row.get(0);
        if owner != member_id {
            return Err(ApiError::conflict(
                "booking_already_earned",
                "this booking has already earned points for another member",
            )
            .into());
        }
        return Ok(Output {
            status: StatusCode::CREATED,
            body: row.get(1),
            home_region: ctx.home_region,
            replayed: true,
        });
    }

    let tier = parse_tier(&ctx.tier)?;
    let (breakdown, plan) =
        plan_earn(programme, req, tier, &ctx.residency_group, &ctx.home_region)?;
    let granted = caps::apply(
        tx,
        member_id,
        &ctx.home_region,
        &plan.campaigns,
        &programme.campaigns,
        req.booked_at,
    )
    .await?;
    let partner = req
        .partner
        .as_ref()
        .map(|code| partner_bonus::plan(code, &req.partner_terms, &breakdown))
        .transpose()?;
    let campaign_points: i64 =
        granted.iter().map(|g| g.points).sum::<i64>() + partner.as_ref().map_or(0, |p| p.points);
    let points = Points::new(plan.tier_points.saturating_add(campaign_points))
        .map_err(|e| {
            if plan.tier_points + campaign_points <= 0 {
                ApiError::unprocessable("no_points", "the booking earns no points")
            } else {
                e.into()
            }
        })?
        .get();
    let now = now_micros();
    let pending = req.vests_at.filter(|v| *v > now);
    let deltas = match pending {
        Some(_) => Deltas {
            pending: points,
            ..Deltas::default()
        },
        None => Deltas {
            available: points,
            lifetime: points,
            qualifying: points,
            ..Deltas::default()
        },
    };
    let explanation = EarnExplanation {
        calculation: breakdown,
        tier: plan.tier,
        tier_multiplier_milli: plan.tier_multiplier_milli,
        tier_points: plan.tier_points,
        campaigns: granted,
        partner,
    };
    // Every write is queued: the entry, the lot, the earn record and the balance go out with
    // the idempotency record and COMMIT, in one round trip.
    let appended = ctx
        .append(
            tx,
            now,
            Draft {
                kind: EntryKind::Earn,
                deltas,
                reason: if pending.is_some() {
                    "booking (pending until vested)"
                } else {
                    "booking"
                },
                source: Some(req.source.as_str()),
                reference: Some(req.booking_ref.as_str()),
                hold_id: None,
                details: to_body(&explanation),
            },
        )
        .await?;
    // A campaign may lengthen its points' life; the longest applicable override wins.
    let override_days = plan
        .campaigns
        .iter()
        .filter_map(|a| {
            programme
                .campaigns
                .iter()
                .find(|c| c.namespace == a.namespace && c.name == a.name)
        })
        .filter_map(|c| c.spec.lot_expiry_days)
        .max();
    let expires_at =
        now + override_days.map_or(windows.lot_expiry, |d| Duration::days(i64::from(d)));
    let lot_id = Uuid::new_v4();
    let lot = lots::NewLot {
        id: lot_id,
        member_id,
        home_region: &ctx.home_region,
        earn_seq: appended.seq,
        points,
        expires_at,
        vests_at: pending,
        qualifying: points,
        // A pending lot starts to qualify when it vests.
        qualifying_until: pending.is_none().then(|| now + windows.qualifying),
    };
    let new_tier = if pending.is_none() {
        tiers::upgrade(tx, &ctx, &programme.tiers, now).await?
    } else {
        None
    };
    let body = to_body(&Earned {
        entry_id: appended.id,
        member_id,
        points,
        pending: pending.is_some(),
        vests_at: pending,
        source: req.source.as_str().to_owned(),
        booking_ref: req.booking_ref.as_str().to_owned(),
        expires_at,
        balance: balance_after(&ctx.balance),
        explanation,
        tier_upgraded_to: new_tier,
    });
    lots::create(tx, lot, now).await?;
    tx.write(
        "INSERT INTO earns (source, booking_ref, member_id, home_region, entry_seq, lot_id, points, response, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        super::tx::params![
            req.source.as_str().to_owned(),
            req.booking_ref.as_str().to_owned(),
            member_id,
            ctx.home_region.clone(),
            appended.seq,
            lot_id,
            points,
            body.clone(),
            now,
        ],
    )
    .await?;
    ctx.write_balance(tx, now).await?;
    Ok(Output {
        status: StatusCode::CREATED,
        body,
        home_region: ctx.home_region,
        replayed: false,
    })
}

/// Reversal policy (docs/adr/0005-reversals.md): the reversed points first come out of the
/// earn's own lot, then out of the member's other available points, earliest-expiring
/// first. Points already spent or held are not clawed back: the shortfall is recorded on
/// the entry and in the response, and the balance never goes negative. Lifetime and
/// qualifying points drop by the full reversed amount.
async fn reverse_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    req: &ReverseRequest,
) -> Result<Output> {
    let mut ctx = member_ctx(tx, region, member_id).await?;
    let row = tx
        .query_opt(
            "SELECT member_id, lot_id, points, reversed FROM earns WHERE source = $1 AND booking_ref = $2",
            &[&req.source.as_str(), &req.booking_ref.as_str()],
        )
        .await?
        .filter(|row| row.get::<_, Uuid>(0) == member_id)
        .ok_or_else(|| {
            ApiError::not_found("earn_not_found", "this member has no earn for this booking")
        })?;
    let (lot_id, earned, reversed): (Uuid, i64, i64) = (row.get(1), row.get(2), row.get(3));
    let reversible = earned - reversed;
    if reversible == 0 {
        return Err(
            ApiError::conflict("already_reversed", "this earn has been fully reversed").into(),
        );
    }
    let requested = req.points.map_or(reversible, Points::get);
    if requested > reversible {
        return Err(ApiError::unprocessable(
            "reversal_exceeds_earn",
            format!("at most {reversible} points of this earn can still be reversed"),
        )
        .with_field("points")
        .into());
    }
    // A booking cancelled before its points vested: they leave `pending` from their own lot,
    // never having counted towards lifetime or qualifying points.
    let pending = tx
        .query_opt(
            "SELECT remaining FROM lots WHERE id = $1 AND vests_at IS NOT NULL",
            &[&lot_id],
        )
        .await?
        .map(|r| r.get::<_, i64>(0));
    let (deltas, clawed_back, taken) = match pending {
        Some(remaining) => {
            let taken = vec![lots::Allocation {
                lot: lot_id,
                points: requested.min(remaining),
            }];
            lots::adjust(tx, &taken, -1).await?;
            (
                Deltas {
                    pending: -requested.min(remaining),
                    ..Deltas::default()
                },
                requested.min(remaining),
                taken,
            )
        }
        None => {
            let clawed_back = requested.min(ctx.balance.available);
            let taken = lots::consume(tx, member_id, clawed_back, Some(lot_id)).await?;
            // The reversed points stop qualifying now, so they must not age out again later.
            tx.write(
                "UPDATE lots SET qualifying = GREATEST(qualifying - $2, 0) WHERE id = $1",
                super::tx::params![lot_id, requested],
            )
            .await?;
            let qualifying = requested.min(ctx.balance.qualifying);
            let deltas = Deltas {
                available: -clawed_back,
                lifetime: -requested,
                qualifying: -qualifying,
                ..Deltas::default()
            };
            (deltas, clawed_back, taken)
        }
    };
    let shortfall = requested - clawed_back;
    let now = now_micros();
    let entry = ctx
        .append(
            tx,
            now,
            Draft {
                kind: EntryKind::Reverse,
                deltas,
                reason: if pending.is_some() { "booking cancelled before vesting" } else { "booking refunded" },
                source: Some(req.source.as_str()),
                reference: Some(req.booking_ref.as_str()),
                hold_id: None,
                details: json!({ "reversed": requested, "clawed_back": clawed_back, "shortfall": shortfall, "lots": taken }),
            },
        )
        .await?;
    tx.write(
        "UPDATE earns SET reversed = reversed + $3 WHERE source = $1 AND booking_ref = $2",
        super::tx::params![
            req.source.as_str().to_owned(),
            req.booking_ref.as_str().to_owned(),
            requested,
        ],
    )
    .await?;
    ctx.write_balance(tx, now).await?;
    let body = to_body(&Reversed {
        entry_id: entry.id,
        member_id,
        reversed: requested,
        clawed_back,
        shortfall,
        balance: balance_after(&ctx.balance),
    });
    Ok(Output {
        status: StatusCode::CREATED,
        body,
        home_region: ctx.home_region,
        replayed: false,
    })
}

impl Db {
    pub async fn earn(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: EarnRequest,
        programme: Arc<Programme>,
        windows: EarnWindows,
    ) -> Result<Stored> {
        let _queue = self.member_lock(member_id).await;
        // Earns that may draw on a campaign budget also queue per campaign: the budget row is
        // shared by every member, and queueing here spares SERIALIZABLE the retries.
        let budgeted: Vec<String> = programme
            .campaigns
            .iter()
            .filter(|c| c.spec.caps.budget_points.is_some() && c.spec.is_active_at(req.booked_at))
            .map(|c| format!("{}/{}", c.namespace, c.name))
            .collect();
        let _budgets = self
            .campaign_lock_keys(budgeted.iter().map(String::as_str))
            .await;
        self.mutate("earn", idem, |tx| {
            let (region, req, programme) = (region.to_owned(), req.clone(), programme.clone());
            Box::pin(
                async move { earn_unit(tx, &region, member_id, &req, &programme, windows).await },
            )
        })
        .await
    }

    pub async fn reverse(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: ReverseRequest,
    ) -> Result<Stored> {
        let _queue = self.member_lock(member_id).await;
        self.mutate("reverse", idem, |tx| {
            let (region, req) = (region.to_owned(), req.clone());
            Box::pin(async move { reverse_unit(tx, &region, member_id, &req).await })
        })
        .await
    }
}
