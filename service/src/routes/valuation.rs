//! `POST /v1/valuation`: what points are worth at checkout, both ways (the discount N points
//! give, or the points a discount costs), under the programme's redemption rules; writes
//! nothing. Also the `booking` a hold or a redemption may name, checked the same way inside
//! its transaction.

use axum::Json;
use axum::extract::State;
use loyalty_crds::common::Tier;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::earn::MoneyBody;
use super::openapi::QuoteRefusals;
use super::{ApiError, ApiJson, AppState, at};
use crate::auth::Caller;
use crate::domain::valuation::{self, Ask, Checkout, Valuation};
use crate::domain::{CurrencyCode, Points, amount_minor_in_range, parse_product, schema};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(value))
}

/// The booking points are to pay for, named by a hold or a redemption: its product and price.
/// The points must then keep the redemption rules, and the entry records the discount.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CheckoutBooking)]
pub struct CheckoutBody {
    #[schema(schema_with = schema::product)]
    product: String,
    price: MoneyBody,
}

impl CheckoutBody {
    pub fn parse(&self) -> Result<Checkout, ApiError> {
        Ok(Checkout {
            product: parse_product(&self.product).map_err(at("booking.product"))?,
            price: self.price.parse("booking.price")?,
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ValuationRequest)]
struct ValuationBody {
    #[schema(schema_with = schema::product)]
    product: String,
    #[schema(schema_with = schema::currency)]
    currency: String,
    /// The points to value; or give `discount_minor`.
    #[schema(value_type = Option<Points>)]
    points: Option<i64>,
    /// The discount to price, in minor units of `currency`; or give `points`.
    #[schema(schema_with = schema::optional_amount_minor)]
    discount_minor: Option<i64>,
    /// The booking's price, for its largest share payable in points.
    #[schema(schema_with = schema::optional_amount_minor)]
    price_minor: Option<i64>,
    /// Value for this member's tier; without it, a Basic member's.
    member_id: Option<Uuid>,
}

impl ValuationBody {
    fn ask(&self) -> Result<Ask, ApiError> {
        match (self.points, self.discount_minor) {
            (Some(p), None) => Ok(Ask::Points(Points::new(p).map_err(at("points"))?.get())),
            (None, Some(d)) => Ok(Ask::DiscountMinor(
                amount_minor_in_range(d).map_err(at("discount_minor"))?,
            )),
            _ => Err(ApiError::unprocessable(
                "points_or_discount",
                "give exactly one of points and discount_minor",
            )),
        }
    }
}

/// Value points at checkout, or price a discount in points; writes nothing.
#[utoipa::path(post, path = "/v1/valuation", tag = "ledger", request_body = ValuationBody,
    responses((status = 200, description = "the valuation", body = Valuation), QuoteRefusals))]
#[tracing::instrument(skip_all)]
async fn value(
    State(app): State<AppState>,
    caller: Caller,
    json: ApiJson<ValuationBody>,
) -> Result<Json<Valuation>, ApiError> {
    let b = &json.body;
    let product = parse_product(&b.product).map_err(at("product"))?;
    let currency = CurrencyCode::new(&b.currency).map_err(|_| {
        ApiError::unprocessable("invalid_currency", "currency must be an ISO 4217 code")
            .with_field("currency")
    })?;
    let ask = b.ask()?;
    let price = b
        .price_minor
        .map(|p| amount_minor_in_range(p).map_err(at("price_minor")))
        .transpose()?;
    let tier = match b.member_id {
        Some(id) => {
            caller.reaches(id)?;
            app.db.member(app.region(), id).await?.tier
        }
        None => Tier::Basic,
    };
    let programme = app.programme.snapshot();
    let valued = valuation::value(
        &programme.redemption,
        &programme.rates,
        product,
        currency.as_str(),
        tier,
        ask,
        price,
    )?;
    Ok(Json(valued))
}
