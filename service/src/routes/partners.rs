//! `POST /v1/partners/{partner_code}/bonuses`: points a partner awards (a hotel chain's
//! stay bonus, say), as a Standard Webhooks message signed with the partner's secret.
//!
//! Checked in this order, each refusal a 4xx with a stable code and nothing written: the
//! token acts for this partner (the middleware: 404 `partner_not_found` otherwise), the
//! partner is known (404) and enabled (403 `partner_disabled`), the three webhook headers
//! are well-formed (400), the timestamp is within tolerance and a signature verifies (401),
//! the body is a valid award (422). `webhook-id` is the idempotency key: a retry of the same
//! message replays the first answer, the same id with another body is 409.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::Duration;
use loyalty_crds::common::PartnerCode;
use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ApiError;
use super::openapi::PartnerWebhookRefusals;
use super::{ApiJson, ApiPath, AppState, JsonBytes, Written, at};
use crate::api::PartnerBonusAwarded;
use crate::auth::Caller;
use crate::domain::Refusal;
use crate::domain::{IdempotencyKey, Points, Reference};
use crate::error::Error;
use crate::partners::Partner;
use crate::partners::signature::{self, SignatureError, SignedMessage};
use crate::store::{IdemRequest, PartnerBonusRequest};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bonus))
}

/// The path of a partner's routes.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct PartnerPath {
    /// The partner's code, e.g. `AF`; a partner token reaches only its own.
    partner_code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PartnerBonusAward)]
struct BonusBody {
    member_id: Uuid,
    #[schema(value_type = Points)]
    points: i64,
    /// The partner's own reference of the award (a stay, a promotion).
    #[schema(value_type = Reference)]
    reference: String,
}

/// The Standard Webhooks headers, documented as header parameters.
struct WebhookHeaders;

impl IntoParams for WebhookHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let header = |name: &str, description: &str, schema: ObjectBuilder| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        let text = || ObjectBuilder::new().schema_type(Type::String);
        vec![
            header(
                "webhook-id",
                "the message's unique id, its idempotency key (letters, digits and -_.:)",
                text().min_length(Some(1)).max_length(Some(255)),
            ),
            header(
                "webhook-timestamp",
                "seconds since the Unix epoch when the message was signed",
                ObjectBuilder::new().schema_type(Type::Integer),
            ),
            header(
                "webhook-signature",
                "space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`",
                text(),
            ),
        ]
    }
}

/// Award a partner's bonus (a signed Standard Webhooks message).
#[utoipa::path(post, path = "/v1/partners/{partner_code}/bonuses", tag = "partners",
    params(PartnerPath, WebhookHeaders), request_body = BonusBody,
    responses((status = 201, description = "awarded, or the first answer to this webhook-id again",
        body = PartnerBonusAwarded), PartnerWebhookRefusals))]
#[tracing::instrument(skip(app, caller, uri, headers, body))]
async fn bonus(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(PartnerPath { partner_code }): ApiPath<PartnerPath>,
    uri: Uri,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<Written<PartnerBonusAwarded>, ApiError> {
    let partners = app.partners.snapshot();
    let partner = partners
        .get(&partner_code)
        .ok_or_else(ApiError::partner_not_found)?;
    let webhook_id = authenticate(&app, partner, &headers, &body)?;
    let json = ApiJson::<BonusBody>::parse(&body)?;
    let req = PartnerBonusRequest {
        partner: PartnerCode::new(partner.row.code.as_str())
            .map_err(|_| ApiError::partner_not_found())?,
        webhook_id: webhook_id.as_str().to_owned(),
        member_id: json.body.member_id,
        points: Points::new(json.body.points).map_err(at("points"))?,
        reference: Reference::parse(&json.body.reference).map_err(at("reference"))?,
        lot_expiry: Duration::days(i64::from(app.config.ledger.lot_expiry_days)),
    };
    // Scoped by partner, so that two partners' message ids never meet.
    let key = format!("webhook:{partner_code}:{}", webhook_id.as_str());
    let idem = IdemRequest::new(Some(&key), "POST", uri.path(), &json.raw);
    let committed = app
        .db
        .acting_as(caller.actor())
        .award_partner_bonus(app.region(), &idem, req)
        .await
        .map_err(webhook_id_reused)?;
    Ok(Written::created(committed))
}

/// Refuses a disabled partner or a message that does not verify; the message's id otherwise.
fn authenticate(
    app: &AppState,
    partner: &Partner,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<IdempotencyKey, ApiError> {
    if !partner.row.enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "partner_disabled",
            "this partner is disabled: it awards nothing",
        ));
    }
    let (id, timestamp_s, signatures) = webhook_headers(headers)?;
    if partner.secret.secrets.is_empty() {
        tracing::warn!(
            partner = partner.row.code,
            "no signing secret mounted for this partner"
        );
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "partner_credentials_unavailable",
            "this partner's signing secret is not available to the service",
        ));
    }
    let message = SignedMessage {
        id: id.as_str(),
        timestamp_s,
        signatures,
        body,
    };
    let tolerance_s = i64::try_from(app.config.partners.webhook_tolerance_s).unwrap_or(i64::MAX);
    let now_s = chrono::Utc::now().timestamp();
    signature::verify(&partner.secret.secrets, &message, now_s, tolerance_s).map_err(
        |e| match e {
            SignatureError::OutOfTolerance => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "webhook_timestamp_out_of_tolerance",
                format!("webhook-timestamp must be within {tolerance_s} s of the service's clock"),
            ),
            SignatureError::Mismatch => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "webhook_signature_invalid",
                "no webhook-signature verifies with this partner's secret",
            ),
        },
    )?;
    Ok(id)
}

/// `webhook-id`, `webhook-timestamp` and `webhook-signature`, each present and well-formed.
fn webhook_headers(headers: &HeaderMap) -> Result<(IdempotencyKey, i64, &str), ApiError> {
    let text = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| invalid_header(name, "is missing or not ASCII"))
    };
    let id = IdempotencyKey::parse(text("webhook-id")?)
        .map_err(|_| invalid_header("webhook-id", "must be 1 to 255 letters, digits or -_.:"))?;
    let timestamp_s = text("webhook-timestamp")?.parse().map_err(|_| {
        invalid_header("webhook-timestamp", "must be whole seconds since the epoch")
    })?;
    Ok((id, timestamp_s, text("webhook-signature")?))
}

fn invalid_header(name: &'static str, why: &str) -> ApiError {
    ApiError::bad_request("invalid_webhook_headers", format!("{name} {why}")).with_field(name)
}

/// A webhook-id already used with another body is a replay attempt, not a client's retry.
fn webhook_id_reused(e: Error) -> ApiError {
    match e {
        Error::Refused(Refusal::IdempotencyKeyReused) => ApiError::conflict(
            "webhook_id_reused",
            "this webhook-id was already used with another body",
        )
        .with_field("webhook-id"),
        other => other.into(),
    }
}
