//! Member-to-member features: `POST /v1/members/{member_id}/transfers`,
//! `GET /v1/leaderboard?top=` and `GET /v1/members/{member_id}/rank?k=`.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ApiError;
use super::openapi::{GroupReadRefusals, MemberReadRefusals, MemberWriteRefusals};
use super::{ApiJson, ApiPath, ApiQuery, AppState, IdemKey, MemberPath, Written, at};
use crate::api::{Leaderboard, Screened, Transferred, UnderReview, to_body};
use crate::auth::Caller;
use crate::config::Config;
use crate::domain::schema::bounded_integer;
use crate::domain::{Points, Reference};
use crate::store::TransferRequest;
use crate::store::leaderboard::Neighbourhood;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(transfer))
        .routes(routes!(top))
        .routes(routes!(rank))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Transfer)]
struct TransferBody {
    /// A member of the same residency group.
    to_member_id: Uuid,
    #[schema(value_type = Points)]
    points: i64,
    #[schema(value_type = Reference)]
    reference: String,
}

/// Transfer points to a member of the same residency group.
#[utoipa::path(post, path = "/v1/members/{member_id}/transfers", tag = "social",
    params(MemberPath, IdemKey), request_body = TransferBody,
    responses((status = 201, description = "transferred", body = Transferred),
        (status = 202, description = "sent to fraud review: the points are held and sent only when support approves (docs/fraud.md)", body = UnderReview),
        MemberWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key, json))]
async fn transfer(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<TransferBody>,
) -> Result<Written<Screened<Transferred>>, ApiError> {
    let b = &json.body;
    let ledger = &app.config.ledger;
    let req = TransferRequest {
        to: b.to_member_id,
        points: Points::new(b.points).map_err(at("points"))?,
        reference: Reference::parse(&b.reference).map_err(at("reference"))?,
        max_points: ledger.transfer_max_points,
        daily_limit: ledger.transfer_daily_limit_points,
        review_ttl: ledger.review_ttl(),
    };
    let idem = key.request("POST", uri.path(), &json.raw);
    let committed = app
        .db
        .acting_as(caller.actor())
        .transfer(
            app.region(),
            member_id,
            &idem,
            req,
            app.programme.snapshot(),
        )
        .await?;
    Ok(super::reviews::screened(&app, committed))
}

fn bounded(
    value: Option<i64>,
    default: i64,
    max: i64,
    field: &'static str,
) -> Result<i64, ApiError> {
    let value = value.unwrap_or(default.min(max));
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(
            ApiError::bad_request("invalid_limit", format!("{field} must be 1..={max}"))
                .with_field(field),
        )
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TopParams {
    /// How many standings (default 10).
    #[param(schema_with = top_schema)]
    top: Option<i64>,
}

/// Documented with the default bound; an operator who configures another answers beyond
/// it with 400 `invalid_limit`, which is documented too.
fn top_schema() -> RefOr<Schema> {
    bounded_integer(
        1,
        Config::default().leaderboard.max_top,
        "standings to list",
    )
}

/// The top members of this region's residency group, under proxy names: a region never
/// shows another group's members.
#[utoipa::path(get, path = "/v1/leaderboard", tag = "social", params(TopParams),
    responses((status = 200, description = "the standings", body = Leaderboard), GroupReadRefusals))]
#[tracing::instrument(skip_all)]
async fn top(
    State(app): State<AppState>,
    ApiQuery(params): ApiQuery<TopParams>,
) -> Result<Json<Value>, ApiError> {
    let n = bounded(params.top, 10, app.config.leaderboard.max_top, "top")?;
    let group = app.residency_group().await?;
    let standings = app
        .db
        .leaderboard_top(&group, n, app.config.leaderboard.name_key.expose())
        .await?;
    Ok(Json(to_body(&Leaderboard {
        residency_group: group,
        standings,
    })))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RankParams {
    /// Neighbours listed each way (default 3).
    #[param(schema_with = k_schema)]
    k: Option<i64>,
}

fn k_schema() -> RefOr<Schema> {
    bounded_integer(
        1,
        Config::default().leaderboard.max_neighbours,
        "neighbours each way",
    )
}

/// The member's rank in their residency group, with neighbours each way.
///
/// The neighbours are read live. The rank is exact (`rank_basis: exact`) unless it comes from
/// the rank bands (`rank_basis: bands`): then the count of members above the nearest band
/// boundary is as of `rank_as_of` and the rest is counted live, so the rank is off only by the
/// members who crossed that boundary since (docs/leaderboard.md).
#[utoipa::path(get, path = "/v1/members/{member_id}/rank", tag = "social",
    params(MemberPath, RankParams),
    responses((status = 200, description = "the member and their neighbours, and how the rank was counted", body = Neighbourhood),
        MemberReadRefusals))]
#[tracing::instrument(skip(app, params))]
async fn rank(
    State(app): State<AppState>,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    ApiQuery(params): ApiQuery<RankParams>,
) -> Result<Json<Neighbourhood>, ApiError> {
    let k = bounded(params.k, 3, app.config.leaderboard.max_neighbours, "k")?;
    let key = app.config.leaderboard.name_key.expose();
    Ok(Json(
        app.db
            .leaderboard_around(app.region(), member_id, k, key)
            .await?,
    ))
}
