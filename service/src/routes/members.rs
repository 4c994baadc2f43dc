//! `POST /v1/members`, `GET /v1/members/{member_id}`, `GET /v1/members/{member_id}/balance`.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{EnrolRefusals, MemberReadRefusals};
use super::{ApiJson, ApiPath, AppState, IdemKey, MemberPath, at};
use crate::auth::Caller;
use crate::domain::{CountryCode, ExternalId};
use crate::error::ApiError;
use crate::store::{BalanceView, EnrolRequest, MemberView, Stored};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enrol))
        .routes(routes!(member))
        .routes(routes!(balance))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Enrol)]
struct EnrolBody {
    #[schema(value_type = ExternalId)]
    external_id: String,
    /// Decides the member's home region and residency group (`country_homes`).
    #[schema(value_type = CountryCode)]
    country: String,
}

/// Enrol a member.
#[utoipa::path(post, path = "/v1/members", tag = "members", params(IdemKey), request_body = EnrolBody,
    responses((status = 201, description = "enrolled", body = MemberView, links(
        ("earn" = (operation_id = "earn", parameters(("member_id" = "$response.body#/member_id")))),
        ("balance" = (operation_id = "balance", parameters(("member_id" = "$response.body#/member_id"))))
    )), EnrolRefusals))]
#[tracing::instrument(skip_all)]
async fn enrol(
    State(app): State<AppState>,
    caller: Caller,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<EnrolBody>,
) -> Result<Stored, ApiError> {
    let req = EnrolRequest {
        external_id: ExternalId::parse(&json.body.external_id).map_err(at("external_id"))?,
        country: CountryCode::parse(&json.body.country).map_err(at("country"))?,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    Ok(app
        .db
        .acting_as(caller.actor())
        .enrol(app.region(), &idem, req)
        .await?)
}

/// Get a member.
#[utoipa::path(get, path = "/v1/members/{member_id}", tag = "members", params(MemberPath),
    responses((status = 200, description = "the member", body = MemberView), MemberReadRefusals))]
#[tracing::instrument(skip(app))]
async fn member(
    State(app): State<AppState>,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
) -> Result<Json<MemberView>, ApiError> {
    Ok(Json(app.db.member(app.region(), member_id).await?))
}

/// Get a member's balance.
#[utoipa::path(get, path = "/v1/members/{member_id}/balance", tag = "members", params(MemberPath),
    responses((status = 200, description = "the balance", body = BalanceView), MemberReadRefusals))]
#[tracing::instrument(skip(app))]
async fn balance(
    State(app): State<AppState>,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
) -> Result<Json<BalanceView>, ApiError> {
    Ok(Json(app.db.balance(app.region(), member_id).await?))
}
