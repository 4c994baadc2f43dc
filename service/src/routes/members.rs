//! `POST /v1/members`, `GET /v1/members/{member_id}`, `GET /v1/members/{member_id}/balance`.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::openapi::{EnrolRefusals, MemberReadRefusals};
use super::{ApiJson, ApiPath, AppState, IdemKey, MemberPath, Written, at};
use crate::auth::Caller;
use crate::domain::{CountryCode, ExternalId, Reference};
use crate::store::{BalanceView, EnrolRequest, MemberView};

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
    /// Opaque identity hints (e.g. hashes of the e-mail, phone, device or payment
    /// instrument): at most 8; two members sharing one cannot refer each other.
    #[schema(value_type = Option<Vec<Reference>>, max_items = 8)]
    identity_hints: Option<Vec<String>>,
}

/// The most identity hints one enrolment may give.
const MAX_IDENTITY_HINTS: usize = 8;

fn identity_hints(raw: &[String]) -> Result<Vec<Reference>, ApiError> {
    if raw.len() > MAX_IDENTITY_HINTS {
        return Err(ApiError::unprocessable(
            "invalid_identity_hints",
            format!("at most {MAX_IDENTITY_HINTS} identity hints"),
        )
        .with_field("identity_hints"));
    }
    raw.iter()
        .map(|h| Reference::parse(h).map_err(at("identity_hints")))
        .collect()
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
) -> Result<Written<MemberView>, ApiError> {
    let req = EnrolRequest {
        external_id: ExternalId::parse(&json.body.external_id).map_err(at("external_id"))?,
        country: CountryCode::parse(&json.body.country).map_err(at("country"))?,
        identity_hints: identity_hints(json.body.identity_hints.as_deref().unwrap_or_default())?,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let committed = app
        .db
        .acting_as(caller.actor())
        .enrol(app.region(), &idem, req)
        .await?;
    Ok(Written::created(committed))
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
