//! `POST /v1/members`, `GET /v1/members/{member_id}`, `GET /v1/members/{member_id}/balance`.

use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiJson, ApiPath, AppState, IdemKey, at};
use crate::domain::{CountryCode, ExternalId};
use crate::error::ApiError;
use crate::store::{BalanceView, EnrolRequest, MemberView, Stored};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/members", post(enrol))
        .route("/v1/members/{member_id}", get(member))
        .route("/v1/members/{member_id}/balance", get(balance))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolBody {
    external_id: String,
    country: String,
}

#[tracing::instrument(skip_all)]
async fn enrol(
    State(app): State<AppState>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<EnrolBody>,
) -> Result<Stored, ApiError> {
    let req = EnrolRequest {
        external_id: ExternalId::parse(&json.body.external_id).map_err(at("external_id"))?,
        country: CountryCode::parse(&json.body.country).map_err(at("country"))?,
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    Ok(app.db.enrol(app.region(), &idem, req).await?)
}

#[tracing::instrument(skip(app))]
async fn member(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
) -> Result<Json<MemberView>, ApiError> {
    Ok(Json(app.db.member(app.region(), member_id).await?))
}

#[tracing::instrument(skip(app))]
async fn balance(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<Uuid>,
) -> Result<Json<BalanceView>, ApiError> {
    Ok(Json(app.db.balance(app.region(), member_id).await?))
}
