//! Two-phase redemption: `POST /v1/members/{member_id}/holds`, then
//! `.../holds/{hold_id}/capture` or `.../holds/{hold_id}/void`.

use axum::extract::State;
use axum::http::Uri;
use chrono::Duration;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::openapi::{BodilessWriteRefusals, MemberWriteRefusals};
use super::valuation::CheckoutBody;
use super::{ApiJson, ApiPath, AppState, HoldPath, IdemKey, MemberPath, Written, at};
use crate::api::{Held, HoldEnded, Screened, UnderReview};
use crate::auth::Caller;
use crate::config::MAX_HOLD_TTL_S;
use crate::domain::{Points, Reference};
use crate::store::{CaptureRequest, HoldRequest};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(hold))
        .routes(routes!(capture))
        .routes(routes!(void))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Hold)]
struct HoldBody {
    #[schema(value_type = Points)]
    points: i64,
    #[schema(value_type = Reference)]
    reference: String,
    /// Lifetime of the hold; default `ledger.default_hold_ttl_s`.
    #[schema(schema_with = ttl_schema)]
    ttl_s: Option<u64>,
    /// The booking the points are held for: the redemption rules apply and the answer names
    /// the discount.
    booking: Option<CheckoutBody>,
}

fn ttl_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    crate::domain::schema::optional_bounded_integer(
        1,
        MAX_HOLD_TTL_S as i64,
        "seconds until the hold expires",
    )
}

/// Hold points for a booking, to capture or void later.
#[utoipa::path(post, path = "/v1/members/{member_id}/holds", tag = "holds",
    params(MemberPath, IdemKey), request_body = HoldBody,
    responses((status = 201, description = "held", body = Held, links(
        ("capture" = (operation_id = "capture", parameters(
            ("member_id" = "$response.body#/member_id"), ("hold_id" = "$response.body#/hold_id")))),
        ("void" = (operation_id = "void", parameters(
            ("member_id" = "$response.body#/member_id"), ("hold_id" = "$response.body#/hold_id"))))
    )),
        (status = 202, description = "sent to fraud review: the hold is in review until support decides (docs/fraud.md)", body = UnderReview),
        MemberWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key, json))]
async fn hold(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<HoldBody>,
) -> Result<Written<Screened<Held>>, ApiError> {
    let b = &json.body;
    let ttl_s = b.ttl_s.unwrap_or(app.config.ledger.default_hold_ttl_s);
    if ttl_s == 0 || ttl_s > MAX_HOLD_TTL_S {
        return Err(ApiError::unprocessable(
            "invalid_ttl",
            format!("ttl_s must be 1..={MAX_HOLD_TTL_S}"),
        )
        .with_field("ttl_s"));
    }
    let req = HoldRequest {
        points: Points::new(b.points).map_err(at("points"))?,
        reference: Reference::parse(&b.reference).map_err(at("reference"))?,
        ttl: Duration::seconds(ttl_s as i64),
        checkout: b.booking.as_ref().map(CheckoutBody::parse).transpose()?,
        review_ttl: app.config.ledger.review_ttl(),
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let committed = app
        .db
        .acting_as(caller.actor())
        .hold(
            app.region(),
            member_id,
            &idem,
            req,
            app.programme.snapshot(),
        )
        .await?;
    Ok(super::reviews::screened(&app, committed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Capture)]
struct CaptureBody {
    /// Default: the whole hold; the rest goes back to the member.
    #[schema(value_type = Option<Points>)]
    points: Option<i64>,
}

/// Capture a hold fully or partly.
#[utoipa::path(post, path = "/v1/members/{member_id}/holds/{hold_id}/capture", tag = "holds",
    params(HoldPath, IdemKey), request_body = CaptureBody,
    responses((status = 200, description = "captured", body = HoldEnded), MemberWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key, json))]
async fn capture(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(HoldPath { member_id, hold_id }): ApiPath<HoldPath>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<CaptureBody>,
) -> Result<Written<HoldEnded>, ApiError> {
    let req = CaptureRequest {
        points: json
            .body
            .points
            .map(Points::new)
            .transpose()
            .map_err(at("points"))?,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let committed = app
        .db
        .acting_as(caller.actor())
        .capture(app.region(), member_id, hold_id, &idem, req)
        .await?;
    if !committed.replayed {
        let captured = committed.value.captured.unwrap_or(0);
        app.db
            .metrics()
            .points_redeemed
            .inc_by(captured.unsigned_abs());
    }
    Ok(Written::ok(committed))
}

/// Void a hold. Takes no body: voiding has no parameters.
#[utoipa::path(post, path = "/v1/members/{member_id}/holds/{hold_id}/void", tag = "holds",
    params(HoldPath, IdemKey),
    responses((status = 200, description = "voided", body = HoldEnded), BodilessWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key))]
async fn void(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(HoldPath { member_id, hold_id }): ApiPath<HoldPath>,
    uri: Uri,
    key: IdemKey,
) -> Result<Written<HoldEnded>, ApiError> {
    let idem = key.request("POST", uri.path(), &Value::Null);
    let committed = app
        .db
        .acting_as(caller.actor())
        .void(app.region(), member_id, hold_id, &idem)
        .await?;
    Ok(Written::ok(committed))
}
