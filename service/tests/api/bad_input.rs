//! Every malformed, hostile or out-of-range input gets a 4xx with a stable code and
//! writes nothing. No input produces a 500.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{ALICE, spawn_app};

struct Case {
    name: &'static str,
    path: String,
    content_type: &'static str,
    body: String,
    idempotency_key: Option<String>,
    status: StatusCode,
    code: &'static str,
}

fn case(
    name: &'static str,
    path: &str,
    body: serde_json::Value,
    status: StatusCode,
    code: &'static str,
) -> Case {
    Case {
        name,
        path: path.to_owned(),
        content_type: "application/json",
        body: body.to_string(),
        idempotency_key: None,
        status,
        code,
    }
}

fn earn(
    amount: serde_json::Value,
    currency: &str,
    product: &str,
    booking_ref: &str,
) -> serde_json::Value {
    json!({"source": "hotel-bookings", "booking_ref": booking_ref, "product": product,
           "spend": {"amount_minor": amount, "currency": currency}})
}

#[tokio::test]
async fn bad_inputs_get_a_clear_4xx_and_write_nothing() {
    use StatusCode as S;
    let app = spawn_app().await;
    app.fund(ALICE, "BK-FUND", 1_000).await;
    app.post_idem(
        &format!("/v1/members/{ALICE}/redeem"),
        "used-key",
        json!({"points": 1, "reference": "R-0"}),
    )
    .await;

    let earn_path = format!("/v1/members/{ALICE}/earn");
    let redeem_path = format!("/v1/members/{ALICE}/redeem");
    let hold_path = format!("/v1/members/{ALICE}/holds");
    let unknown = Uuid::new_v4();
    let long = "x".repeat(129);
    let mut cases = vec![
        case(
            "zero spend",
            &earn_path,
            earn(json!(0), "EUR", "hotel", "B1"),
            S::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        case(
            "negative spend",
            &earn_path,
            earn(json!(-100), "EUR", "hotel", "B1"),
            S::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        case(
            "spend over the limit",
            &earn_path,
            earn(json!(i64::MAX), "EUR", "hotel", "B1"),
            S::UNPROCESSABLE_ENTITY,
            "amount_too_large",
        ),
        case(
            "spend overflowing i64",
            &earn_path,
            json!({"source": "s", "booking_ref": "B1", "product": "hotel", "spend": {"amount_minor": 1e30, "currency": "EUR"}}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "fractional spend",
            &earn_path,
            earn(json!(10.5), "EUR", "hotel", "B1"),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "unknown currency",
            &earn_path,
            earn(json!(1000), "XYZ", "hotel", "B1"),
            S::UNPROCESSABLE_ENTITY,
            "unknown_currency",
        ),
        case(
            "malformed currency",
            &earn_path,
            earn(json!(1000), "eur", "hotel", "B1"),
            S::UNPROCESSABLE_ENTITY,
            "invalid_currency",
        ),
        case(
            "unknown product",
            &earn_path,
            earn(json!(1000), "EUR", "cruise", "B1"),
            S::UNPROCESSABLE_ENTITY,
            "unknown_product",
        ),
        case(
            "spend earning no points",
            &earn_path,
            earn(json!(5), "EUR", "hotel", "B1"),
            S::UNPROCESSABLE_ENTITY,
            "no_points",
        ),
        case(
            "over-long reference",
            &earn_path,
            earn(json!(1000), "EUR", "hotel", &long),
            S::UNPROCESSABLE_ENTITY,
            "invalid_reference",
        ),
        case(
            "control character in reference",
            &earn_path,
            earn(json!(1000), "EUR", "hotel", "B\u{7}1"),
            S::UNPROCESSABLE_ENTITY,
            "invalid_reference",
        ),
        case(
            "newline in reference",
            &earn_path,
            earn(json!(1000), "EUR", "hotel", "B\n1"),
            S::UNPROCESSABLE_ENTITY,
            "invalid_reference",
        ),
        case(
            "client sets balance",
            &earn_path,
            json!({"source": "s", "booking_ref": "B1", "product": "hotel", "spend": {"amount_minor": 1000, "currency": "EUR"}, "balance": 1000000}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "unknown nested field",
            &earn_path,
            json!({"source": "s", "booking_ref": "B1", "product": "hotel", "spend": {"amount_minor": 1000, "currency": "EUR", "rate": 5}}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "missing field",
            &earn_path,
            json!({"source": "s", "booking_ref": "B1", "product": "hotel"}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "unknown member",
            &format!("/v1/members/{unknown}/earn"),
            earn(json!(1000), "EUR", "hotel", "B1"),
            S::NOT_FOUND,
            "member_not_found",
        ),
        case(
            "member id not a uuid",
            "/v1/members/not-a-uuid/earn",
            earn(json!(1000), "EUR", "hotel", "B1"),
            S::BAD_REQUEST,
            "invalid_path",
        ),
        case(
            "zero points",
            &redeem_path,
            json!({"points": 0, "reference": "R1"}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_points",
        ),
        case(
            "negative points",
            &redeem_path,
            json!({"points": -5, "reference": "R1"}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_points",
        ),
        case(
            "points over the limit",
            &redeem_path,
            json!({"points": 1_000_000_001_i64, "reference": "R1"}),
            S::UNPROCESSABLE_ENTITY,
            "points_too_large",
        ),
        case(
            "points overflowing i64",
            &redeem_path,
            json!({"points": 18_446_744_073_709_551_615_u64, "reference": "R1"}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "points as a string",
            &redeem_path,
            json!({"points": "100", "reference": "R1"}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "redeem more than available",
            &redeem_path,
            json!({"points": 1_000, "reference": "R1"}),
            S::UNPROCESSABLE_ENTITY,
            "insufficient_points",
        ),
        case(
            "hold more than available",
            &hold_path,
            json!({"points": 1_000, "reference": "H1"}),
            S::UNPROCESSABLE_ENTITY,
            "insufficient_points",
        ),
        case(
            "redeem for unknown member",
            &format!("/v1/members/{unknown}/redeem"),
            json!({"points": 1, "reference": "R1"}),
            S::NOT_FOUND,
            "member_not_found",
        ),
        case(
            "client sets status on enrol",
            "/v1/members",
            json!({"external_id": "c1", "country": "FR", "tier": "platinum"}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "lower-case country",
            "/v1/members",
            json!({"external_id": "c1", "country": "fr"}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_country",
        ),
        case(
            "country with no home",
            "/v1/members",
            json!({"external_id": "c1", "country": "ZZ"}),
            S::UNPROCESSABLE_ENTITY,
            "unsupported_country",
        ),
        case(
            "external id with spaces",
            "/v1/members",
            json!({"external_id": "a b", "country": "FR"}),
            S::UNPROCESSABLE_ENTITY,
            "invalid_external_id",
        ),
        case(
            "reversal of unknown earn",
            &format!("/v1/members/{ALICE}/reversals"),
            json!({"source": "hotel-bookings", "booking_ref": "NOPE"}),
            S::NOT_FOUND,
            "earn_not_found",
        ),
        case(
            "reversal over the earn",
            &format!("/v1/members/{ALICE}/reversals"),
            json!({"source": "hotel-bookings", "booking_ref": "BK-FUND", "points": 1_001}),
            S::UNPROCESSABLE_ENTITY,
            "reversal_exceeds_earn",
        ),
        case(
            "quote with unknown currency",
            "/v1/quote",
            json!({"product": "hotel", "spend": {"amount_minor": 100, "currency": "XYZ"}}),
            S::UNPROCESSABLE_ENTITY,
            "unknown_currency",
        ),
        case(
            "JSON array body",
            &redeem_path,
            json!([1, 2]),
            S::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    cases.push(Case {
        body: "{\"points\": 1,".into(),
        ..case(
            "truncated JSON",
            &redeem_path,
            json!(null),
            S::BAD_REQUEST,
            "malformed_json",
        )
    });
    cases.push(Case {
        body: "".into(),
        ..case(
            "empty body",
            &redeem_path,
            json!(null),
            S::BAD_REQUEST,
            "malformed_json",
        )
    });
    cases.push(Case {
        content_type: "text/plain",
        ..case(
            "wrong content type",
            &redeem_path,
            json!({"points": 1, "reference": "R1"}),
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
    });
    cases.push(Case {
        body: format!(
            "{{\"points\": 1, \"reference\": \"{}\"}}",
            "y".repeat(20_000)
        ),
        ..case(
            "body over the size limit",
            &redeem_path,
            json!(null),
            S::PAYLOAD_TOO_LARGE,
            "body_too_large",
        )
    });
    cases.push(Case {
        idempotency_key: Some("used-key".into()),
        ..case(
            "idempotency key reused with another body",
            &redeem_path,
            json!({"points": 2, "reference": "R-0"}),
            S::CONFLICT,
            "idempotency_key_reused",
        )
    });
    cases.push(Case {
        idempotency_key: Some("k".repeat(256)),
        ..case(
            "over-long idempotency key",
            &redeem_path,
            json!({"points": 1, "reference": "R1"}),
            S::BAD_REQUEST,
            "invalid_idempotency_key",
        )
    });
    cases.push(Case {
        idempotency_key: Some("key with spaces".into()),
        ..case(
            "idempotency key with spaces",
            &redeem_path,
            json!({"points": 1, "reference": "R1"}),
            S::BAD_REQUEST,
            "invalid_idempotency_key",
        )
    });

    for c in cases {
        let before = app.footprint().await;
        let mut req = app
            .http
            .post(format!("{}{}", app.base, c.path))
            .header("content-type", c.content_type)
            .body(c.body);
        if let Some(key) = &c.idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let res = app.send(req).await;
        assert_eq!(res.status, c.status, "{}: {}", c.name, res.body);
        assert_eq!(res.code(), c.code, "{}: {}", c.name, res.body);
        assert!(
            res.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            c.name
        );
        assert_eq!(app.footprint().await, before, "{} wrote something", c.name);
    }
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn bad_query_parameters_and_unknown_routes_get_json_errors() {
    use StatusCode as S;
    let app = spawn_app().await;
    let history = format!("/v1/members/{ALICE}/history");
    for (name, path, status, code) in [
        (
            "limit zero",
            format!("{history}?limit=0"),
            S::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "limit too large",
            format!("{history}?limit=201"),
            S::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "limit not a number",
            format!("{history}?limit=ten"),
            S::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "bad cursor",
            format!("{history}?cursor=abc"),
            S::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            "negative cursor",
            format!("{history}?cursor=-4"),
            S::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            "unknown query parameter",
            format!("{history}?balance=1"),
            S::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "unknown route",
            "/v1/nothing".to_owned(),
            S::NOT_FOUND,
            "route_not_found",
        ),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status, status, "{name}: {}", res.body);
        assert_eq!(res.code(), code, "{name}");
    }
    let res = app
        .send(app.http.delete(format!("{}/v1/members/{ALICE}", app.base)))
        .await;
    assert_eq!(res.status, S::METHOD_NOT_ALLOWED);
    assert_eq!(res.code(), "method_not_allowed");
}
