//! Points for activities: a referral, a review, a visit towards a streak. Each report is
//! idempotent on its (source, reference); the activity's rule and its daily, monthly and
//! lifetime caps are applied inside the member's SERIALIZABLE transaction, so concurrent
//! reports cannot exceed a cap. Campaigns that list the activity then add to the points the
//! caps left, under their own caps and budgets (store::caps). Activity points are spendable
//! and count towards lifetime points, not towards the tier (docs/rules.md).

mod referral;
pub mod rules;
mod streak;

use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::json;
use uuid::Uuid;

use super::context::{MemberCtx, member_ctx};
use super::credit::Credit;
use super::earn::{EarnWindows, balance_after};
use super::idempotency::{Outcome, stored_value, to_json};
use super::ledger::Appended;
use super::tx::{Tx, settle_pair};
use super::{Committed, Db, IdemRequest, caps, now_micros};
use crate::api::{ActivityEarned, ReferredCredit, StreakProgress};
use crate::domain::activity::{self, ActivityCap, ActivityKind, ActivityRule, ActivityUsage};
use crate::domain::booking::{lot_lifetime, total_points};
use crate::domain::caps::Granted;
use crate::domain::rules::plan_activity;
use crate::domain::{Programme, Reference, Refusal, Residency, Source};
use crate::error::Result;
use loyalty_crds::campaign::ActivityContext;

#[derive(Debug, Clone)]
pub struct ActivityRequest {
    pub kind: ActivityKind,
    pub source: Source,
    pub reference: Reference,
    pub occurred_at: DateTime<Utc>,
    /// The member's time zone: a visit's day, and the days and months the caps count in.
    pub timezone: Tz,
    /// Referrals: the member who was referred.
    pub referred: Option<Uuid>,
}

impl ActivityRequest {
    fn local_day(&self) -> NaiveDate {
        self.occurred_at.with_timezone(&self.timezone).date_naive()
    }
}

/// The member, and the report's earlier answer if this (source, reference) was reported.
async fn read(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    req: &ActivityRequest,
) -> Result<(MemberCtx, Option<ActivityEarned>)> {
    let (ctx, earlier) = tokio::join!(member_ctx(tx, region, member_id), async {
        tx.query_opt(
            "SELECT member_id, response FROM activity_earns WHERE source = $1 AND reference = $2",
            &[&req.source.as_str(), &req.reference.as_str()],
        )
        .await
    });
    let (ctx, earlier) = settle_pair(ctx, earlier)?;
    let Some(row) = earlier else {
        return Ok((ctx, None));
    };
    if row.get::<_, Uuid>(0) != member_id {
        return Err(Refusal::ActivityAlreadyReported.into());
    }
    Ok((ctx, Some(stored_value("activity", row.get(1))?)))
}

/// What the member already earned under `kind` on `day`, in its month, and ever.
async fn usage(
    tx: &Tx<'_>,
    member: Uuid,
    kind: ActivityKind,
    day: NaiveDate,
) -> Result<ActivityUsage> {
    let month = day.with_day(1).expect("day 1 exists");
    let next_month = month + Months::new(1);
    let row = tx
        .query_one(
            "SELECT COALESCE(SUM(points) FILTER (WHERE local_day = $3), 0)::BIGINT, \
                    COALESCE(SUM(points) FILTER (WHERE local_day >= $4 AND local_day < $5), 0)::BIGINT, \
                    COALESCE(SUM(points), 0)::BIGINT \
             FROM activity_earns WHERE member_id = $1 AND kind = $2",
            &[&member, &kind.as_str(), &day, &month, &next_month],
        )
        .await?;
    Ok(ActivityUsage {
        today: row.get(0),
        this_month: row.get(1),
        lifetime: row.get(2),
    })
}

/// An activity earn's entry: what it is, and the reference it is recorded under.
struct ActivityCredit<'a> {
    points: i64,
    reason: &'a str,
    /// Prefixed (`referral:RF-1`, `referral-welcome:RF-1`), so that an activity's
    /// reference never reads as a booking's, nor the referred member's as the referrer's.
    reference: String,
    details: serde_json::Value,
}

/// Credits an activity earn to `ctx` under the report's source; not qualifying.
async fn credit(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    c: ActivityCredit<'_>,
    req: &ActivityRequest,
    windows: EarnWindows,
) -> Result<Appended> {
    let shared = Credit {
        points: c.points,
        reason: c.reason,
        source: req.source.as_str(),
        reference: &c.reference,
        details: c.details,
        lot_expiry: windows.lot_expiry,
    };
    let (appended, _) = super::credit::credit(tx, ctx, shared, now_micros()).await?;
    Ok(appended)
}

/// Whether the activity earns its rule's points at all, before caps: a referral that passes
/// its checks (answering the referred member), a review, a visit completing a streak.
enum Eligibility {
    Earns,
    Referral(MemberCtx),
    Visit(StreakProgress),
}

async fn eligibility(
    tx: &Tx<'_>,
    region: &str,
    ctx: &MemberCtx,
    req: &ActivityRequest,
    rule: &ActivityRule,
) -> Result<Eligibility> {
    Ok(match (req.kind, req.referred) {
        (ActivityKind::Referral, Some(referred)) => {
            Eligibility::Referral(referral::check(tx, region, ctx, referred).await?)
        }
        (ActivityKind::Streak, _) => {
            let days = streak::visit(tx, ctx, req.local_day(), rule.streak_days).await?;
            Eligibility::Visit(StreakProgress {
                days,
                required: rule.streak_days,
            })
        }
        _ => Eligibility::Earns,
    })
}

/// Credits the referred member their share of a referral, if the rule gives one.
async fn credit_referred(
    tx: &Tx<'_>,
    referred: &mut MemberCtx,
    referrer: Uuid,
    rule: &ActivityRule,
    req: &ActivityRequest,
    windows: EarnWindows,
) -> Result<Option<ReferredCredit>> {
    if rule.referred_points == 0 {
        return Ok(None);
    }
    let welcome = ActivityCredit {
        points: rule.referred_points,
        reason: "welcome bonus for joining through a referral",
        reference: format!("referral-welcome:{}", req.reference.as_str()),
        details: json!({ "activity": req.kind, "referred_by": referrer }),
    };
    let entry = credit(tx, referred, welcome, req, windows).await?;
    referred.write_balance(tx, now_micros()).await?;
    Ok(Some(ReferredCredit {
        member_id: referred.member_id,
        points: rule.referred_points,
        entry_id: entry.id,
    }))
}

/// What the campaigns for this activity add to its `points`, each cut by its caps (their
/// counters written), and the lifetime of the points.
struct Boosted {
    campaigns: Vec<Granted>,
    total: i64,
    windows: EarnWindows,
}

async fn boost(
    tx: &Tx<'_>,
    ctx: &MemberCtx,
    req: &ActivityRequest,
    points: i64,
    programme: &Programme,
    windows: EarnWindows,
) -> Result<Boosted> {
    let residency = Residency::stored(&ctx.residency_group, &ctx.home_region)?;
    let earn = ActivityContext {
        activity: req.kind,
        tier: ctx.tier,
        residency_group: &residency.group,
        region: &residency.home_region,
    };
    let all = &programme.campaigns;
    let planned = plan_activity(points, all, &earn, req.occurred_at)?;
    let campaigns = caps::apply(
        tx,
        ctx.member_id,
        &ctx.home_region,
        &planned,
        all,
        req.occurred_at,
    )
    .await?;
    Ok(Boosted {
        total: total_points(points, &campaigns, 0)?,
        windows: EarnWindows {
            lot_expiry: lot_lifetime(&planned, all, windows.lot_expiry),
            ..windows
        },
        campaigns,
    })
}

async fn activity_unit(
    tx: &Tx<'_>,
    region: &str,
    member_id: Uuid,
    req: &ActivityRequest,
    programme: &Programme,
    windows: EarnWindows,
) -> Result<Outcome<ActivityEarned>> {
    let (mut ctx, earlier) = read(tx, region, member_id, req).await?;
    if let Some(answer) = earlier {
        return Ok(Outcome {
            value: answer,
            home_region: ctx.home_region,
            replayed: true,
        });
    }
    let rule =
        *programme
            .activities
            .get(&req.kind)
            .ok_or_else(|| Refusal::ActivityNotRewarded {
                kind: req.kind.as_str().to_owned(),
            })?;
    let day = req.local_day();
    let eligible = eligibility(tx, region, &ctx, req, &rule).await?;
    let earns = match &eligible {
        Eligibility::Visit(progress) => progress.days >= progress.required,
        _ => true,
    };
    let (points, capped_by) = if earns {
        activity::grant(&rule, usage(tx, member_id, req.kind, day).await?)
    } else {
        (0, None)
    };
    let (entry_id, boosted) = if points > 0 {
        let granted = (points, capped_by);
        credit_activity(tx, &mut ctx, req, &rule, granted, programme, windows).await?
    } else {
        let unboosted = Boosted {
            campaigns: Vec::new(),
            total: points,
            windows,
        };
        (None, unboosted)
    };
    let (referred, streak) = match eligible {
        Eligibility::Referral(mut referred) => {
            referral::record(tx, member_id, &referred, now_micros()).await?;
            let credit = credit_referred(tx, &mut referred, member_id, &rule, req, windows).await?;
            (credit, None)
        }
        Eligibility::Visit(progress) => (None, Some(progress)),
        Eligibility::Earns => (None, None),
    };
    ctx.write_balance(tx, now_micros()).await?;
    let answer = ActivityEarned {
        member_id,
        kind: req.kind,
        source: req.source.as_str().to_owned(),
        reference: req.reference.as_str().to_owned(),
        local_day: day,
        points: boosted.total,
        activity_points: points,
        entry_id,
        capped_by,
        campaigns: boosted.campaigns,
        streak,
        referred,
        balance: balance_after(&ctx.balance),
    };
    record(tx, req, &answer, &ctx.home_region).await?;
    Ok(Outcome::new(answer, ctx.home_region))
}

/// Credits the activity's points, boosted by the campaigns that apply; the entry's details
/// say how they were reached.
async fn credit_activity(
    tx: &Tx<'_>,
    ctx: &mut MemberCtx,
    req: &ActivityRequest,
    rule: &ActivityRule,
    (points, capped_by): (i64, Option<ActivityCap>),
    programme: &Programme,
    windows: EarnWindows,
) -> Result<(Option<Uuid>, Boosted)> {
    let boosted = boost(tx, ctx, req, points, programme, windows).await?;
    let reason = format!("{} activity", req.kind.as_str());
    let earned = ActivityCredit {
        points: boosted.total,
        reason: &reason,
        reference: format!("{}:{}", req.kind.as_str(), req.reference.as_str()),
        details: json!({ "activity": req.kind, "rule_points": rule.points, "activity_points": points,
                         "capped_by": capped_by, "campaigns": boosted.campaigns,
                         "referred_member_id": req.referred, "local_day": req.local_day() }),
    };
    let appended = credit(tx, ctx, earned, req, boosted.windows).await?;
    Ok((Some(appended.id), boosted))
}

/// Queues the report's row: it answers the same report again and feeds the caps.
async fn record(
    tx: &Tx<'_>,
    req: &ActivityRequest,
    answer: &ActivityEarned,
    home_region: &str,
) -> Result<()> {
    tx.write(
        "INSERT INTO activity_earns (source, reference, member_id, home_region, kind, points, local_day, response, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        super::tx::params![
            req.source.as_str().to_owned(),
            req.reference.as_str().to_owned(),
            answer.member_id,
            home_region.to_owned(),
            req.kind.as_str(),
            answer.activity_points,
            answer.local_day,
            to_json(answer)?,
            now_micros(),
        ],
    )
    .await
}

impl Db {
    pub async fn activity(
        &self,
        region: &str,
        member_id: Uuid,
        idem: &IdemRequest,
        req: ActivityRequest,
        programme: Arc<Programme>,
        windows: EarnWindows,
    ) -> Result<Committed<ActivityEarned>> {
        // A referral touches both members: both queue, in a fixed order.
        let _queue = self
            .member_locks(member_id, req.referred.unwrap_or(member_id))
            .await;
        self.mutate("activity", idem, |tx| {
            let (region, req, programme) = (region.to_owned(), req.clone(), programme.clone());
            Box::pin(async move {
                activity_unit(tx, &region, member_id, &req, &programme, windows).await
            })
        })
        .await
    }
}
