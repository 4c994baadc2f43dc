//! `POST /v1/members/{member_id}/redeem`: direct redemption.

use axum::extract::State;
use axum::http::Uri;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::openapi::MemberWriteRefusals;
use super::valuation::CheckoutBody;
use super::{ApiJson, ApiPath, AppState, IdemKey, MemberPath, Written, at};
use crate::api::{Redeemed, Screened, UnderReview};
use crate::auth::Caller;
use crate::domain::{Points, Reference};
use crate::store::RedeemRequest;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(redeem))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Redeem)]
struct RedeemBody {
    #[schema(value_type = Points)]
    points: i64,
    #[schema(value_type = Reference)]
    reference: String,
    /// The booking the points pay for: the redemption rules apply and the answer names the
    /// discount.
    booking: Option<CheckoutBody>,
}

/// Redeem points.
#[utoipa::path(post, path = "/v1/members/{member_id}/redeem", tag = "ledger",
    params(MemberPath, IdemKey), request_body = RedeemBody,
    responses((status = 201, description = "redeemed", body = Redeemed),
        (status = 202, description = "sent to fraud review: nothing is spent yet, the points are held until support decides (docs/fraud.md)", body = UnderReview),
        MemberWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key, json))]
async fn redeem(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<RedeemBody>,
) -> Result<Written<Screened<Redeemed>>, ApiError> {
    let req = RedeemRequest {
        points: Points::new(json.body.points).map_err(at("points"))?,
        reference: Reference::parse(&json.body.reference).map_err(at("reference"))?,
        checkout: json
            .body
            .booking
            .as_ref()
            .map(CheckoutBody::parse)
            .transpose()?,
        review_ttl: app.config.ledger.review_ttl(),
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let committed = app
        .db
        .acting_as(caller.actor())
        .redeem(
            app.region(),
            member_id,
            &idem,
            req,
            app.programme.snapshot(),
        )
        .await?;
    if let (false, Screened::Done(redeemed)) = (committed.replayed, &committed.value) {
        app.db
            .metrics()
            .points_redeemed
            .inc_by(redeemed.points.unsigned_abs());
    }
    Ok(super::reviews::screened(&app, committed))
}
