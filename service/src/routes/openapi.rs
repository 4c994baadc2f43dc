//! `GET /openapi.json`: the API description, generated from the handlers' `#[utoipa::path]`
//! attributes and the request and response types (ADR 0012). Routes are registered through
//! `utoipa_axum::routes!`, so a path is spelled once, in its attribute; a test checks that
//! every routed operation is documented and every documented one is routed.
//!
//! Refusals are documented by status: each status has one error schema whose `code` is the
//! enum of the codes that status carries, and each operation lists the statuses it can
//! answer through one of the `*Refusals` groups below.
//!
//! Security comes from the access rules (`auth::policy::RULES`): every operation a token
//! reaches declares the `bearer` scheme with the scopes that admit it, and the 401, 403,
//! 408 and 429 answers the middleware gives before any handler runs.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json;
use axum::http::{Method, StatusCode};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, Ref, RefOr, Required, Response, ResponseBuilder, Schema,
};
use utoipa::{IntoParams, IntoResponses, OpenApi, PartialSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, IdemKey};
use crate::auth::policy::{self, Access};
use crate::domain::IdempotencyKey;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The document's fixed parts; the paths and schemas come from the routers.
#[derive(OpenApi)]
#[openapi(info(
    title = "Loyalty service",
    version = "1.0.0",
    description = "Earn, redeem and hold points on a serializable ledger. Every refusal is \
        `{\"error\": {\"code\", \"message\", \"field\"?, \"details\"?}}` with a stable `code`. \
        Every /v1 operation needs an OAuth2 bearer token (a JWT from the platform's identity \
        provider) with one of the scopes it lists; a member's own token (`loyalty:member`, \
        subject = member id) reaches only that member."
))]
struct Base;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "the OpenAPI 3.1 description of this API", body = Object)))]
async fn openapi_json() -> Json<&'static Document> {
    Json(spec())
}

/// The whole document, built once.
pub fn spec() -> &'static Document {
    static SPEC: OnceLock<Document> = OnceLock::new();
    SPEC.get_or_init(|| {
        let (_, mut doc) = OpenApiRouter::with_openapi(Base::openapi())
            .merge(super::documented())
            .split_for_parts();
        let components = doc.components.get_or_insert_with(Default::default);
        for refusal in REFUSALS {
            components
                .schemas
                .insert(refusal.schema_name.to_owned(), refusal.schema());
        }
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("an access token of the platform's identity provider (RS256, ES256 or EdDSA)"))
                    .build(),
            ),
        );
        for (route, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                secure(operation, policy::rule(&method, route));
            }
        }
        doc
    })
}

/// The name of the bearer scheme in the document.
const BEARER: &str = "bearer";

fn operations(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| Some((method, op?)))
    .collect()
}

/// Declares the access rule of one operation: public, or the bearer scheme with its scopes
/// and the refusals of the auth middleware.
fn secure(operation: &mut Operation, access: Option<Access>) {
    let Some(Access::AnyOf(scopes)) = access else {
        return;
    };
    let names = scopes.iter().map(|s| s.as_str());
    operation.security = Some(vec![SecurityRequirement::new(BEARER, names)]);
    for status in [
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        operation
            .responses
            .responses
            .entry(status.as_u16().to_string())
            .or_insert_with(|| Refusal::of(status).response());
    }
}

/// One refusal status: its error schema's name, when it is answered and its codes.
struct Refusal {
    status: StatusCode,
    schema_name: &'static str,
    when: &'static str,
    codes: &'static [&'static str],
}

/// Every refusal code the API answers, by status (docs/api.md has the same table). The
/// fuzzer's response-schema check fails on a code missing here.
const REFUSALS: &[Refusal] = &[
    Refusal {
        status: StatusCode::BAD_REQUEST,
        schema_name: "BadRequestError",
        when: "malformed JSON, or a bad path, query or header",
        codes: &[
            "malformed_json",
            "invalid_path",
            "invalid_query",
            "invalid_limit",
            "invalid_cursor",
            "invalid_days",
            "invalid_idempotency_key",
            "invalid_webhook_headers",
        ],
    },
    Refusal {
        status: StatusCode::UNAUTHORIZED,
        schema_name: "UnauthorizedError",
        when: "no bearer token, or one that does not verify (see WWW-Authenticate)",
        codes: &[
            "missing_token",
            "malformed_token",
            "algorithm_not_allowed",
            "unknown_key",
            "bad_signature",
            "token_expired",
            "token_not_yet_valid",
            "wrong_issuer",
            "wrong_audience",
            "invalid_subject",
            "invalid_partner_claim",
            "webhook_timestamp_out_of_tolerance",
            "webhook_signature_invalid",
        ],
    },
    Refusal {
        status: StatusCode::FORBIDDEN,
        schema_name: "ForbiddenError",
        when: "the token has none of the scopes this operation needs, or the partner is disabled",
        codes: &["insufficient_scope", "partner_disabled"],
    },
    Refusal {
        status: StatusCode::REQUEST_TIMEOUT,
        schema_name: "RequestTimeoutError",
        when: "the request took longer than the server's request timeout; retry with the same Idempotency-Key",
        codes: &["request_timeout"],
    },
    Refusal {
        status: StatusCode::TOO_MANY_REQUESTS,
        schema_name: "TooManyRequestsError",
        when: "over a rate limit of this token's subject or this client address: retry after Retry-After seconds",
        codes: &["rate_limited"],
    },
    Refusal {
        status: StatusCode::NOT_FOUND,
        schema_name: "NotFoundError",
        when: "unknown member, hold, earn, recipient, partner, review or dead letter",
        codes: &[
            "member_not_found",
            "hold_not_found",
            "earn_not_found",
            "recipient_not_found",
            "referred_member_not_found",
            "partner_not_found",
            "review_not_found",
            "dead_letter_not_found",
            // A path parameter left empty (`/v1/members//balance`) matches no route.
            "route_not_found",
        ],
    },
    Refusal {
        status: StatusCode::CONFLICT,
        schema_name: "ConflictError",
        when: "an Idempotency-Key reused with another request, a duplicate, or an illegal transition",
        codes: &[
            "idempotency_key_reused",
            "member_exists",
            "booking_already_earned",
            "hold_not_active",
            "hold_expired",
            "already_reversed",
            "activity_already_reported",
            "already_referred",
            "webhook_id_reused",
            "review_not_open",
        ],
    },
    Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        schema_name: "PayloadTooLargeError",
        when: "a body over 16 KiB",
        codes: &["body_too_large"],
    },
    Refusal {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        schema_name: "UnsupportedMediaTypeError",
        when: "a body that is not application/json",
        codes: &["unsupported_media_type"],
    },
    Refusal {
        status: StatusCode::MISDIRECTED_REQUEST,
        schema_name: "WrongRegionError",
        when: "the member is served by another region: retry at error.details.endpoint",
        codes: &["wrong_region"],
    },
    Refusal {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        schema_name: "UnprocessableError",
        when: "a value out of range or unknown, or a business rule refuses the request",
        codes: &[
            "invalid_body",
            "invalid_points",
            "points_too_large",
            "invalid_amount",
            "amount_too_large",
            "invalid_currency",
            "unknown_currency",
            "unknown_product",
            "no_points",
            "invalid_reference",
            "invalid_source",
            "invalid_external_id",
            "invalid_country",
            "unsupported_country",
            "insufficient_points",
            "capture_exceeds_hold",
            "reversal_exceeds_earn",
            "invalid_ttl",
            "unknown_channel",
            "invalid_partner",
            "invalid_booked_at",
            "invalid_vests_at",
            "transfer_across_residency_groups",
            "transfer_to_self",
            "transfer_too_large",
            "transfer_limit_reached",
            "not_redeemable",
            "below_minimum_redemption",
            "not_a_redemption_step",
            "discount_exceeds_share",
            "points_or_discount",
            "invalid_period",
            "unknown_activity",
            "activity_not_rewarded",
            "invalid_timezone",
            "invalid_occurred_at",
            "referred_member_required",
            "self_referral",
            "referral_same_identity",
            "referral_ring",
            "referral_not_completed",
            "referral_across_residency_groups",
            "invalid_identity_hints",
        ],
    },
    Refusal {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        schema_name: "InternalError",
        when: "an internal failure; the cause is only in the logs",
        codes: &["internal"],
    },
    Refusal {
        status: StatusCode::SERVICE_UNAVAILABLE,
        schema_name: "UnavailableError",
        when: "contention, or the database or this region unavailable: retry with the same Idempotency-Key",
        codes: &[
            "contention",
            "database_unavailable",
            "region_unknown",
            "commit_unknown",
            "partner_credentials_unavailable",
        ],
    },
];

/// Whether the document lists `code` among the refusals answered with `status`.
#[cfg(test)]
pub(super) fn documents(status: StatusCode, code: &str) -> bool {
    REFUSALS
        .iter()
        .any(|r| r.status == status && r.codes.contains(&code))
}

impl Refusal {
    fn of(status: StatusCode) -> &'static Refusal {
        REFUSALS
            .iter()
            .find(|r| r.status == status)
            .expect("every refusal status is in REFUSALS")
    }

    /// `{"error": {"code", "message", "field"?, "details"?}}` with this status's codes.
    fn schema(&self) -> RefOr<Schema> {
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let error = ObjectBuilder::new()
            .property("code", text().enum_values(Some(self.codes.iter().copied())))
            .property("message", text())
            .property(
                "field",
                text().description(Some("the request field at fault")),
            )
            .property(
                "details",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some(
                        "machine-readable context, e.g. the serving region on 421",
                    )),
            )
            .required("code")
            .required("message");
        ObjectBuilder::new()
            .property("error", error)
            .required("error")
            .into()
    }

    fn response(&self) -> RefOr<Response> {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(self.schema_name)))
            .build();
        ResponseBuilder::new()
            .description(self.when)
            .content("application/json", content)
            .into()
    }
}

/// Declares a group of refusal statuses an operation can answer, for `responses(...)`.
macro_rules! refusals {
    ($(#[$doc:meta])* $name:ident: $($status:ident),+) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                [$(StatusCode::$status),+]
                    .into_iter()
                    .map(|s| (s.as_u16().to_string(), Refusal::of(s).response()))
                    .collect()
            }
        }
    };
}

refusals!(
    /// A write on a member that takes a JSON body.
    MemberWriteRefusals: BAD_REQUEST, NOT_FOUND, CONFLICT, PAYLOAD_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE, MISDIRECTED_REQUEST, UNPROCESSABLE_ENTITY,
        INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// A write on a member without a body (voiding a hold).
    BodilessWriteRefusals: BAD_REQUEST, NOT_FOUND, CONFLICT, MISDIRECTED_REQUEST,
        INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// Enrolment: no member yet, so no 404.
    EnrolRefusals: BAD_REQUEST, CONFLICT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE,
        MISDIRECTED_REQUEST, UNPROCESSABLE_ENTITY, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// A read of one member's data.
    MemberReadRefusals: BAD_REQUEST, NOT_FOUND, MISDIRECTED_REQUEST, INTERNAL_SERVER_ERROR,
        SERVICE_UNAVAILABLE
);
refusals!(
    /// A read of one member's data over a period the rules may refuse (a statement).
    PeriodReadRefusals: BAD_REQUEST, NOT_FOUND, MISDIRECTED_REQUEST, UNPROCESSABLE_ENTITY,
        INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// A quote: a body, and optionally a member to quote for.
    QuoteRefusals: BAD_REQUEST, NOT_FOUND, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE,
        MISDIRECTED_REQUEST, UNPROCESSABLE_ENTITY, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// A read of this region's residency group (the leaderboard).
    GroupReadRefusals: BAD_REQUEST, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// A partner's signed webhook.
    PartnerWebhookRefusals: BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT,
        PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, MISDIRECTED_REQUEST, UNPROCESSABLE_ENTITY,
        INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// Deciding a fraud review: the review may be unknown, already decided, of a member
    /// served elsewhere, or (a transfer) its recipient gone or moved.
    ReviewDecisionRefusals: BAD_REQUEST, NOT_FOUND, CONFLICT, MISDIRECTED_REQUEST,
        UNPROCESSABLE_ENTITY, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// An operator endpoint on a partner's dead letters.
    DeadLetterRefusals: BAD_REQUEST, NOT_FOUND, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);
refusals!(
    /// An operator endpoint without parameters.
    AdminRefusals: INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE
);

/// The optional `Idempotency-Key` header of every write.
impl IntoParams for IdemKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "makes the request safe to retry: a replay returns the original response with \
                     `idempotent-replayed: true`; the same key with another request is 409",
                ))
                .schema(Some(IdempotencyKey::schema()))
                .build(),
        ]
    }
}
