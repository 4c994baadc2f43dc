//! `GET /openapi.json`: the API description. Written by hand next to the routes; a test
//! checks that every documented operation is routed and every route is documented.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(spec()) }))
}

fn error_responses(codes: &[(&str, &str)]) -> Value {
    let mut out = serde_json::Map::new();
    for (status, description) in codes {
        out.insert(
            (*status).to_owned(),
            json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
        );
    }
    Value::Object(out)
}

/// One operation: summary, optional JSON body schema, success status and error statuses.
fn op(
    summary: &str,
    body: Option<&str>,
    ok: &str,
    errors: &[(&str, &str)],
    mutating: bool,
) -> Value {
    let mut responses = error_responses(errors);
    responses[ok] = json!({ "description": "success", "content": { "application/json": { "schema": { "type": "object" } } } });
    let mut operation = json!({ "summary": summary, "responses": responses });
    if let Some(schema) = body {
        operation["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        });
    }
    if mutating {
        operation["parameters"] = json!([{
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes the request safe to retry: a replay returns the original response; the same key with a different body is 409.",
            "schema": { "type": "string", "maxLength": 255 }
        }]);
    }
    operation
}

const BAD: (&str, &str) = ("400", "malformed JSON, bad path, query or header");
const UNPROCESSABLE: (&str, &str) = (
    "422",
    "a value is out of range or unknown, or a business rule refuses it",
);
const NOT_FOUND: (&str, &str) = ("404", "unknown member, hold or earn");
const CONFLICT: (&str, &str) = (
    "409",
    "idempotency key reused, illegal transition, duplicate",
);
const MISDIRECTED: (&str, &str) = (
    "421",
    "the member is served by another region; see error.details.endpoint",
);
const TOO_LARGE: (&str, &str) = ("413", "body over 16 KiB");
const MEDIA: (&str, &str) = ("415", "body is not application/json");
const BUSY: (&str, &str) = (
    "503",
    "contention or database unavailable; retry with the same Idempotency-Key",
);

pub fn spec() -> Value {
    let write = [
        BAD,
        NOT_FOUND,
        CONFLICT,
        MISDIRECTED,
        TOO_LARGE,
        MEDIA,
        UNPROCESSABLE,
        BUSY,
    ];
    let read = [BAD, NOT_FOUND, MISDIRECTED, BUSY];
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Loyalty service", "version": "1.0.0",
                  "description": "Earn, redeem and hold points; serializable ledger. Errors are {\"error\": {\"code\", \"message\", \"field\"?, \"details\"?}}." },
        "paths": {
            "/v1/members": { "post": op("Enrol a member", Some("Enrol"), "201", &write, true) },
            "/v1/members/{member_id}": { "get": op("Get a member", None, "200", &read, false) },
            "/v1/members/{member_id}/balance": { "get": op("Get a member's balance", None, "200", &read, false) },
            "/v1/members/{member_id}/earn": { "post": op("Earn points for a booking", Some("Earn"), "201", &write, true) },
            "/v1/members/{member_id}/reversals": { "post": op("Reverse an earn (refund)", Some("Reverse"), "201", &write, true) },
            "/v1/members/{member_id}/redeem": { "post": op("Redeem points", Some("Redeem"), "201", &write, true) },
            "/v1/members/{member_id}/holds": { "post": op("Hold points", Some("Hold"), "201", &write, true) },
            "/v1/members/{member_id}/holds/{hold_id}/capture": { "post": op("Capture a hold fully or partly", Some("Capture"), "200", &write, true) },
            "/v1/members/{member_id}/holds/{hold_id}/void": { "post": op("Void a hold", None, "200", &write, true) },
            "/v1/members/{member_id}/history": { "get": op("Ledger entries, newest first (query: limit 1..=200, cursor)", None, "200", &read, false) },
            "/v1/members/{member_id}/expiring": { "get": op("Points expiring within `days` (1..=365, default 30)", None, "200", &read, false) },
            "/v1/members/{member_id}/transfers": { "post": op("Transfer points to a member of the same residency group", Some("Transfer"), "201", &write, true) },
            "/v1/members/{member_id}/rank": { "get": op("The member's rank in their residency group, with k neighbours each way (k 1..=10)", None, "200", &read, false) },
            "/v1/leaderboard": { "get": op("Top members of this region's residency group under proxy names (top 1..=100)", None, "200", &[BAD, BUSY], false) },
            "/v1/quote": { "post": op("Points a booking would earn; writes nothing", Some("Quote"), "200", &[BAD, TOO_LARGE, MEDIA, UNPROCESSABLE], false) },
            "/v1/admin/audit": { "get": op("Check every ledger invariant", None, "200", &[BUSY], false) },
            "/v1/admin/jobs/sweep": { "post": op("One round of hold expiry, lot expiry and vesting", None, "200", &[BUSY], false) },
            "/healthz": { "get": op("Liveness", None, "200", &[], false) },
            "/readyz": { "get": op("Readiness: database reachable and region active", None, "200", &[("503", "not ready")], false) },
            "/metrics": { "get": op("Prometheus metrics (text format)", None, "200", &[], false) },
            "/openapi.json": { "get": op("This document", None, "200", &[], false) }
        },
        "components": { "schemas": schemas() }
    })
}

fn schemas() -> Value {
    let reference = json!({ "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/#-]*$" });
    let source = json!({ "type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$" });
    let points = json!({ "type": "integer", "minimum": 1, "maximum": 1_000_000_000 });
    let money = json!({ "type": "object", "additionalProperties": false, "required": ["amount_minor", "currency"],
        "properties": { "amount_minor": { "type": "integer", "minimum": 1, "maximum": 10_000_000_000_000_i64 },
                        "currency": { "type": "string", "pattern": "^[A-Z]{3}$" } } });
    let product = json!({ "type": "string", "enum": ["hotel", "flight", "car", "experience"] });
    let channel = json!({ "type": "string", "enum": ["web", "app", "call-center", "partner"], "default": "web" });
    let partner = json!({ "type": "string", "pattern": "^[A-Z0-9]{2,16}$" });
    json!({
        "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object",
            "required": ["code", "message"],
            "properties": { "code": { "type": "string" }, "message": { "type": "string" },
                            "field": { "type": "string" }, "details": { "type": "object" } } } } },
        "Enrol": { "type": "object", "additionalProperties": false, "required": ["external_id", "country"],
            "properties": { "external_id": { "type": "string", "maxLength": 128 }, "country": { "type": "string", "pattern": "^[A-Z]{2}$" } } },
        "Earn": { "type": "object", "additionalProperties": false, "required": ["source", "booking_ref", "product", "spend"],
            "properties": { "source": source, "booking_ref": reference, "product": product, "spend": money,
                            "channel": channel, "partner": partner,
                            "booked_at": { "type": "string", "format": "date-time", "description": "when booked (campaigns active then apply); default now; at most 365 days ago" },
                            "vests_at": { "type": "string", "format": "date-time", "description": "points stay pending until then (at most 730 days ahead)" } } },
        "Reverse": { "type": "object", "additionalProperties": false, "required": ["source", "booking_ref"],
            "properties": { "source": source, "booking_ref": reference, "points": points } },
        "Redeem": { "type": "object", "additionalProperties": false, "required": ["points", "reference"],
            "properties": { "points": points, "reference": reference } },
        "Hold": { "type": "object", "additionalProperties": false, "required": ["points", "reference"],
            "properties": { "points": points, "reference": reference, "ttl_s": { "type": "integer", "minimum": 1, "maximum": 604_800 } } },
        "Transfer": { "type": "object", "additionalProperties": false, "required": ["to_member_id", "points", "reference"],
            "properties": { "to_member_id": { "type": "string", "format": "uuid" }, "points": points, "reference": reference } },
        "Capture": { "type": "object", "additionalProperties": false, "properties": { "points": points } },
        "Quote": { "type": "object", "additionalProperties": false, "required": ["product", "spend"],
            "properties": { "product": product, "spend": money, "channel": channel, "partner": partner,
                            "booked_at": { "type": "string", "format": "date-time" },
                            "member_id": { "type": "string", "format": "uuid", "description": "quote with this member's tier" } } }
    })
}
