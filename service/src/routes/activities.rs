//! `POST /v1/members/{member_id}/activities`: a referral, a review or a visit, reported by the
//! system that saw it, idempotent on (source, reference).

use axum::extract::State;
use axum::http::Uri;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::openapi::MemberWriteRefusals;
use super::{ApiError, ApiJson, ApiPath, AppState, IdemKey, MemberPath, Written, at};
use crate::api::ActivityEarned;
use crate::auth::Caller;
use crate::domain::activity::{self, ActivityKind};
use crate::domain::{Reference, Source};
use crate::store::activities::ActivityRequest;

/// How late an activity may be reported, and the clock skew tolerated ahead.
const MAX_ACTIVITY_AGE_DAYS: i64 = 30;
const MAX_CLOCK_SKEW_S: i64 = 300;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Activity)]
struct ActivityBody {
    /// `referral` (the referred member completed a booking), `review`, or `streak` (a
    /// visit: a login or an app visit, counted once per local day).
    #[schema(schema_with = crate::domain::schema::activity_kind)]
    kind: String,
    #[schema(value_type = Source)]
    source: String,
    /// The reporting system's id of the activity: reporting it again answers the same.
    #[schema(value_type = Reference)]
    reference: String,
    /// When it happened; default now; at most 30 days ago.
    occurred_at: Option<DateTime<Utc>>,
    /// The member's IANA time zone, e.g. `Europe/Paris`: the day a visit counts for and the
    /// days and months caps count in. Default UTC.
    timezone: Option<String>,
    /// Referrals: the member who was referred (required for them, refused otherwise).
    referred_member_id: Option<Uuid>,
}

impl ActivityBody {
    fn occurred_at(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
        let at = self.occurred_at.unwrap_or(now);
        if at > now + Duration::seconds(MAX_CLOCK_SKEW_S)
            || at < now - Duration::days(MAX_ACTIVITY_AGE_DAYS)
        {
            return Err(ApiError::unprocessable(
                "invalid_occurred_at",
                format!("occurred_at must be in the last {MAX_ACTIVITY_AGE_DAYS} days"),
            )
            .with_field("occurred_at"));
        }
        Ok(at)
    }

    fn timezone(&self) -> Result<Tz, ApiError> {
        self.timezone.as_deref().map_or(Ok(Tz::UTC), |tz| {
            tz.parse().map_err(|_| {
                ApiError::unprocessable("invalid_timezone", "timezone must be an IANA name")
                    .with_field("timezone")
            })
        })
    }

    fn parse(&self, now: DateTime<Utc>) -> Result<ActivityRequest, ApiError> {
        let kind = activity::parse_kind(&self.kind).map_err(at("kind"))?;
        if (kind == ActivityKind::Referral) != self.referred_member_id.is_some() {
            return Err(ApiError::unprocessable(
                "referred_member_required",
                "referred_member_id is required for a referral, and only for one",
            )
            .with_field("referred_member_id"));
        }
        Ok(ActivityRequest {
            kind,
            source: Source::parse(&self.source).map_err(at("source"))?,
            reference: Reference::parse(&self.reference).map_err(at("reference"))?,
            occurred_at: self.occurred_at(now)?,
            timezone: self.timezone()?,
            referred: self.referred_member_id,
        })
    }
}

/// Report an activity that earns points: a referral, a review, a visit.
#[utoipa::path(post, path = "/v1/members/{member_id}/activities", tag = "ledger",
    params(MemberPath, IdemKey), request_body = ActivityBody,
    responses((status = 201, description = "recorded (with the points it earned), or the original answer replayed",
        body = ActivityEarned), MemberWriteRefusals))]
#[tracing::instrument(skip(app, caller, uri, key, json))]
async fn report(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    uri: Uri,
    key: IdemKey,
    json: ApiJson<ActivityBody>,
) -> Result<Written<ActivityEarned>, ApiError> {
    let req = json.body.parse(Utc::now())?;
    let idem = key.request("POST", uri.path(), &json.raw);
    let windows = app.earn_windows();
    let committed = app
        .db
        .acting_as(caller.actor())
        .activity(
            app.region(),
            member_id,
            &idem,
            req,
            app.programme.snapshot(),
            windows,
        )
        .await?;
    if !committed.replayed {
        let v = &committed.value;
        let referred = v.referred.as_ref().map_or(0, |r| r.points);
        app.db
            .metrics()
            .points_earned
            .inc_by((v.points + referred).unsigned_abs());
    }
    Ok(Written::created(committed))
}
