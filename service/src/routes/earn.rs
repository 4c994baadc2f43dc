//! `POST /v1/members/{member_id}/earn`, `POST /v1/members/{member_id}/reversals` and
//! `POST /v1/quote` (what a booking would earn, with its tier and campaign breakdown,
//! writing nothing).

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use chrono::{DateTime, Duration, Utc};
use loyalty_crds::common::{Channel, PartnerCode, Tier};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::openapi::{MemberWriteRefusals, QuoteRefusals};
use super::{ApiError, ApiJson, ApiPath, AppState, IdemKey, MemberPath, Written, at};
use crate::api::{Earned, Quote, Reversed, to_body};
use crate::auth::Caller;
use crate::domain::booking::plan_earn;
use crate::domain::valuation::{self, Checkout, Valuation};
use crate::domain::{
    Booking, Earner, Invalid, Points, Programme, Reference, Residency, Source, Spend,
    parse_product, schema,
};
use crate::store::ReverseRequest;

/// How far in the past a booking may be reported, and how far ahead points may vest.
const MAX_BOOKING_AGE_DAYS: i64 = 365;
const MAX_VESTING_DAYS: i64 = 730;
/// Clock skew tolerated on `booked_at`.
const MAX_CLOCK_SKEW_S: i64 = 300;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(earn))
        .routes(routes!(reverse))
        .routes(routes!(quote))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Money)]
pub struct MoneyBody {
    #[schema(schema_with = schema::amount_minor)]
    amount_minor: i64,
    #[schema(schema_with = schema::currency)]
    currency: String,
}

impl MoneyBody {
    /// The amount as a checked spend or price, with the error naming `field`.
    pub fn parse(&self, field: &'static str) -> Result<Spend, ApiError> {
        Spend::new(self.amount_minor, &self.currency).map_err(at(field))
    }
}

/// The booking fields shared by earn and quote.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Earn)]
struct BookingBody {
    #[schema(value_type = Source)]
    source: String,
    #[schema(value_type = Reference)]
    booking_ref: String,
    #[schema(schema_with = schema::product)]
    product: String,
    spend: MoneyBody,
    #[schema(schema_with = schema::optional_channel)]
    channel: Option<String>,
    #[schema(schema_with = schema::optional_partner)]
    partner: Option<String>,
    /// When booked (campaigns active then apply); default now; at most 365 days ago.
    booked_at: Option<DateTime<Utc>>,
    /// The points stay pending until then (at most 730 days ahead).
    vests_at: Option<DateTime<Utc>>,
}

impl BookingBody {
    fn parse(&self, now: DateTime<Utc>) -> Result<Booking, ApiError> {
        let channel = match &self.channel {
            None => Channel::Web,
            Some(raw) => serde_json::from_value(Value::String(raw.clone())).map_err(|_| {
                ApiError::unprocessable(
                    "unknown_channel",
                    "channel must be one of web, app, call-center, partner",
                )
                .with_field("channel")
            })?,
        };
        let partner = self
            .partner
            .as_deref()
            .map(PartnerCode::new)
            .transpose()
            .map_err(|_| {
                ApiError::unprocessable(
                    "invalid_partner",
                    "partner must be a partner code such as AF",
                )
                .with_field("partner")
            })?;
        let booked_at = self.booked_at.unwrap_or(now);
        if booked_at > now + Duration::seconds(MAX_CLOCK_SKEW_S)
            || booked_at < now - Duration::days(MAX_BOOKING_AGE_DAYS)
        {
            return Err(ApiError::unprocessable(
                "invalid_booked_at",
                format!("booked_at must be in the last {MAX_BOOKING_AGE_DAYS} days and not in the future"),
            )
            .with_field("booked_at"));
        }
        if self
            .vests_at
            .is_some_and(|v| v > now + Duration::days(MAX_VESTING_DAYS))
        {
            return Err(ApiError::unprocessable(
                "invalid_vests_at",
                format!("vests_at must be within {MAX_VESTING_DAYS} days"),
            )
            .with_field("vests_at"));
        }
        Ok(Booking {
            source: Source::parse(&self.source).map_err(at("source"))?,
            booking_ref: Reference::parse(&self.booking_ref).map_err(at("booking_ref"))?,
            product: parse_product(&self.product).map_err(at("product"))?,
            spend: self.spend.parse("spend")?,
            channel,
            partner,
            booked_at,
            vests_at: self.vests_at,
        })
    }
}

/// Earn points for a booking.
#[utoipa::path(post, path = "/v1/members/{member_id}/earn", tag = "ledger",
    params(MemberPath, IdemKey), request_body = BookingBody,
    responses((status = 201, description = "earned, or the booking's original earn replayed", body = Earned),
        MemberWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key, json))]
async fn earn(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<BookingBody>,
) -> Result<Written<Earned>, ApiError> {
    let req = json.body.parse(Utc::now())?;
    let idem = key.request("POST", uri.path(), &json.raw);
    let windows = app.earn_windows();
    let committed = app
        .db
        .acting_as(caller.actor())
        .earn(
            app.region(),
            member_id,
            &idem,
            req,
            app.programme.snapshot(),
            windows,
        )
        .await?;
    if !committed.replayed {
        let points = committed.value.points.unsigned_abs();
        app.db.metrics().points_earned.inc_by(points);
    }
    Ok(Written::created(committed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Reverse)]
struct ReverseBody {
    #[schema(value_type = Source)]
    source: String,
    #[schema(value_type = Reference)]
    booking_ref: String,
    /// Default: all the earn's points not yet reversed.
    #[schema(value_type = Option<Points>)]
    points: Option<i64>,
}

/// Reverse an earn (the booking was refunded).
#[utoipa::path(post, path = "/v1/members/{member_id}/reversals", tag = "ledger",
    params(MemberPath, IdemKey), request_body = ReverseBody,
    responses((status = 201, description = "reversed", body = Reversed), MemberWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key, json))]
async fn reverse(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<ReverseBody>,
) -> Result<Written<Reversed>, ApiError> {
    let b = &json.body;
    let req = ReverseRequest {
        source: Source::parse(&b.source).map_err(at("source"))?,
        booking_ref: Reference::parse(&b.booking_ref).map_err(at("booking_ref"))?,
        points: b
            .points
            .map(Points::new)
            .transpose()
            .map_err(at("points"))?,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let committed = app
        .db
        .acting_as(caller.actor())
        .reverse(app.region(), member_id, &idem, req)
        .await?;
    Ok(Written::created(committed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = QuoteRequest)]
struct QuoteBody {
    #[schema(schema_with = schema::product)]
    product: String,
    spend: MoneyBody,
    #[schema(schema_with = schema::optional_channel)]
    channel: Option<String>,
    #[schema(schema_with = schema::optional_partner)]
    partner: Option<String>,
    booked_at: Option<DateTime<Utc>>,
    /// Quote for this member's tier and residency; without it, a Basic member of this region.
    member_id: Option<Uuid>,
    /// Also value this many points as a discount on the booking (its spend is the price).
    #[schema(value_type = Option<Points>)]
    redeem_points: Option<i64>,
}

/// The tier and residency a quote prices for: the member's, or a Basic member's of this
/// region.
async fn quote_earner(
    app: &AppState,
    caller: &Caller,
    member_id: Option<Uuid>,
) -> Result<(Tier, Residency), ApiError> {
    let (tier, group, region) = match member_id {
        Some(id) => {
            caller.reaches(id)?;
            let m = app.db.member(app.region(), id).await?;
            (m.tier, m.residency_group, m.home_region)
        }
        None => (
            Tier::Basic,
            app.residency_group().await?,
            app.region().to_owned(),
        ),
    };
    Ok((tier, Residency::stored(&group, &region)?))
}

/// `points` valued as a discount on the quoted booking, its spend as the price.
fn quote_redemption(
    programme: &Programme,
    booking: &Booking,
    tier: Tier,
    points: i64,
) -> Result<Valuation, ApiError> {
    let checkout = Checkout {
        product: booking.product,
        price: booking.spend.clone(),
    };
    let points = Points::new(points).map_err(at("redeem_points"))?.get();
    let (rules, rates) = (&programme.redemption, &programme.rates);
    Ok(valuation::value_points(
        rules, rates, &checkout, tier, points,
    )?)
}

/// What a booking would earn, with the calculation; writes nothing.
#[utoipa::path(post, path = "/v1/quote", tag = "ledger", request_body = QuoteBody,
    responses((status = 200, description = "the quote", body = Quote), QuoteRefusals))]
#[tracing::instrument(skip_all)]
async fn quote(
    State(app): State<AppState>,
    caller: Caller,
    json: ApiJson<QuoteBody>,
) -> Result<Json<Value>, ApiError> {
    let q = &json.body;
    let booking = BookingBody {
        source: "quote".to_owned(),
        booking_ref: "quote".to_owned(),
        product: q.product.clone(),
        spend: MoneyBody {
            amount_minor: q.spend.amount_minor,
            currency: q.spend.currency.clone(),
        },
        channel: q.channel.clone(),
        partner: q.partner.clone(),
        booked_at: q.booked_at,
        vests_at: None,
    };
    let req = booking.parse(Utc::now())?;
    let (tier, residency) = quote_earner(&app, &caller, q.member_id).await?;
    let programme = app.programme.snapshot();
    let earner = Earner {
        tier,
        residency: &residency,
    };
    let (breakdown, plan) = plan_earn(&programme, &req, earner).map_err(ApiError::from)?;
    let campaign_points: i64 = plan.campaigns.iter().map(|c| c.points).sum();
    let total = plan
        .tier_points
        .checked_add(campaign_points)
        .ok_or_else(|| ApiError::from(Invalid::new("points_too_large", "too many points")))?;
    // Serialized through a `Value` so the keys stay sorted, as clients have always seen them.
    let redemption = q
        .redeem_points
        .map(|points| quote_redemption(&programme, &req, tier, points))
        .transpose()?;
    Ok(Json(to_body(&Quote {
        points: total,
        base_points: breakdown.base_points,
        calculation: breakdown,
        tier: plan.tier,
        tier_multiplier_milli: plan.tier_multiplier_milli,
        tier_points: plan.tier_points,
        campaigns: plan.campaigns,
        note: "campaign points are before per-member caps and budgets, which the earn applies",
        redemption,
    })))
}
