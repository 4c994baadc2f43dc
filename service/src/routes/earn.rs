//! `POST /v1/members/{member_id}/earn`, `POST /v1/members/{member_id}/reversals` and
//! `POST /v1/quote` (what a booking would earn, writing nothing).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Duration;
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiJson, ApiPath, AppState, IdemKey, at};
use crate::domain::{
    Money, Points, PointsBreakdown, ProductType, Reference, Source, compute_base_points,
};
use crate::error::ApiError;
use crate::store::{EarnRequest, ReverseRequest, Stored};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/members/{member_id}/earn", post(earn))
        .route("/v1/members/{member_id}/reversals", post(reverse))
        .route("/v1/quote", post(quote))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    amount_minor: i64,
    currency: String,
}

impl MoneyBody {
    fn parse(&self) -> Result<Money, ApiError> {
        Money::new(self.amount_minor, &self.currency).map_err(at("spend"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EarnBody {
    source: String,
    booking_ref: String,
    product: String,
    spend: MoneyBody,
}

#[tracing::instrument(skip(app, uri, key, json))]
async fn earn(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<EarnBody>,
) -> Result<Stored, ApiError> {
    let b = &json.body;
    let req = EarnRequest {
        source: Source::parse(&b.source).map_err(at("source"))?,
        booking_ref: Reference::parse(&b.booking_ref).map_err(at("booking_ref"))?,
        product: ProductType::parse(&b.product).map_err(at("product"))?,
        spend: b.spend.parse()?,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let lot_expiry = Duration::days(i64::from(app.config.ledger.lot_expiry_days));
    let stored = app
        .db
        .earn(
            app.region(),
            member_id,
            &idem,
            req,
            app.rates.snapshot(),
            lot_expiry,
        )
        .await?;
    if stored.status == StatusCode::CREATED && !stored.replayed {
        let points = stored.body["points"].as_u64().unwrap_or(0);
        app.db.metrics().points_earned.inc_by(points);
    }
    Ok(stored)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReverseBody {
    source: String,
    booking_ref: String,
    points: Option<i64>,
}

#[tracing::instrument(skip(app, uri, key, json))]
async fn reverse(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<ReverseBody>,
) -> Result<Stored, ApiError> {
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
    Ok(app.db.reverse(app.region(), member_id, &idem, req).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuoteBody {
    product: String,
    spend: MoneyBody,
}

#[tracing::instrument(skip_all)]
async fn quote(
    State(app): State<AppState>,
    json: ApiJson<QuoteBody>,
) -> Result<Json<PointsBreakdown>, ApiError> {
    let product = ProductType::parse(&json.body.product).map_err(at("product"))?;
    let spend = json.body.spend.parse()?;
    let breakdown =
        compute_base_points(&spend, product, &app.rates.snapshot()).map_err(at("spend"))?;
    Ok(Json(breakdown))
}
