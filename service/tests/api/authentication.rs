//! Every way a bearer token can fail gets a 401 or 403 with a stable code and an RFC 6750
//! challenge, and writes nothing. The refusals are tried on a write (an earn), so "nothing
//! written" means something.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use loyalty_service::auth::Scope;
use loyalty_service::auth::dev::DevIssuer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ALICE, TEST_AUDIENCE, TEST_ISSUER, issuer, spawn_app, token};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of a valid booking-system token, with `changes` applied (`null` removes a claim).
fn claims(changes: Value) -> Value {
    let mut claims = json!({"iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "sub": "hotel-bookings",
        "scope": "loyalty:earn", "exp": now() + 600, "nbf": now() - 5});
    for (key, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(key),
            v => claims
                .as_object_mut()
                .unwrap()
                .insert(key.clone(), v.clone()),
        };
    }
    claims
}

/// A compact JWS with any header, and `signature` as its third part.
fn raw_token(header: Value, claims: &Value, signature: &[u8]) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(&header),
        part(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// HS256 over the token's first two parts with `secret`: what an attacker holding only the
/// public key set would try (algorithm confusion).
fn hs256_with(secret: &[u8], kid: &str) -> String {
    use hmac::Mac as _;
    let unsigned = raw_token(json!({"alg": "HS256", "kid": kid}), &claims(json!({})), b"");
    let signing_input = unsigned.trim_end_matches('.');
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// A valid token whose signature is another key's.
fn forged_signature() -> String {
    let real = issuer().sign(&claims(json!({})));
    let other = DevIssuer::generate(TEST_ISSUER, TEST_AUDIENCE).sign(&claims(json!({})));
    let head: Vec<&str> = real.split('.').take(2).collect();
    format!("{}.{}", head.join("."), other.rsplit('.').next().unwrap())
}

struct Case {
    name: &'static str,
    authorization: Option<String>,
    status: StatusCode,
    code: &'static str,
    /// The start of the WWW-Authenticate challenge.
    challenge: &'static str,
}

fn bearer(token: String) -> Option<String> {
    Some(format!("Bearer {token}"))
}

fn cases() -> Vec<Case> {
    use StatusCode as S;
    let kid = issuer().kid().to_owned();
    let public_x = issuer().jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
    let invalid = "Bearer realm=\"loyalty\", error=\"invalid_token\"";
    let case = |name, authorization, status, code, challenge| Case {
        name,
        authorization,
        status,
        code,
        challenge,
    };
    vec![
        case(
            "no token",
            None,
            S::UNAUTHORIZED,
            "missing_token",
            "Bearer realm=\"loyalty\"",
        ),
        case(
            "not a JWT",
            bearer("not-a-jwt".into()),
            S::UNAUTHORIZED,
            "malformed_token",
            invalid,
        ),
        case(
            "Basic credentials",
            Some("Basic YWxpY2U6cHc=".into()),
            S::UNAUTHORIZED,
            "malformed_token",
            invalid,
        ),
        case(
            "empty bearer",
            Some("Bearer ".into()),
            S::UNAUTHORIZED,
            "malformed_token",
            invalid,
        ),
        case(
            "header not JSON",
            bearer(format!("{}.e30.", URL_SAFE_NO_PAD.encode("nope"))),
            S::UNAUTHORIZED,
            "malformed_token",
            invalid,
        ),
        case(
            "oversized token",
            bearer("a".repeat(9_000)),
            S::UNAUTHORIZED,
            "malformed_token",
            invalid,
        ),
        case(
            "bad signature",
            bearer(forged_signature()),
            S::UNAUTHORIZED,
            "bad_signature",
            invalid,
        ),
        case(
            "alg none",
            bearer(raw_token(
                json!({"alg": "none", "kid": kid}),
                &claims(json!({})),
                b"",
            )),
            S::UNAUTHORIZED,
            "algorithm_not_allowed",
            invalid,
        ),
        case(
            "HS256 keyed with the public key",
            bearer(hs256_with(public_x.as_bytes(), &kid)),
            S::UNAUTHORIZED,
            "algorithm_not_allowed",
            invalid,
        ),
        case(
            "HS256 keyed with the decoded public key",
            bearer(hs256_with(
                &URL_SAFE_NO_PAD.decode(&public_x).unwrap(),
                &kid,
            )),
            S::UNAUTHORIZED,
            "algorithm_not_allowed",
            invalid,
        ),
        case(
            "RS256 header on the EdDSA key",
            bearer(raw_token(
                json!({"alg": "RS256", "kid": kid}),
                &claims(json!({})),
                b"x",
            )),
            S::UNAUTHORIZED,
            "algorithm_not_allowed",
            invalid,
        ),
        case(
            "unknown kid",
            bearer(DevIssuer::generate(TEST_ISSUER, TEST_AUDIENCE).sign(&claims(json!({})))),
            S::UNAUTHORIZED,
            "unknown_key",
            invalid,
        ),
        case(
            "no kid",
            bearer(raw_token(json!({"alg": "EdDSA"}), &claims(json!({})), b"x")),
            S::UNAUTHORIZED,
            "unknown_key",
            invalid,
        ),
        case(
            "expired",
            bearer(issuer().sign(&claims(json!({"exp": now() - 3_600})))),
            S::UNAUTHORIZED,
            "token_expired",
            invalid,
        ),
        case(
            "expired beyond the leeway",
            bearer(issuer().sign(&claims(json!({"exp": now() - 60})))),
            S::UNAUTHORIZED,
            "token_expired",
            invalid,
        ),
        case(
            "not yet valid",
            bearer(issuer().sign(&claims(json!({"nbf": now() + 3_600})))),
            S::UNAUTHORIZED,
            "token_not_yet_valid",
            invalid,
        ),
        case(
            "wrong issuer",
            bearer(issuer().sign(&claims(json!({"iss": "https://evil.example"})))),
            S::UNAUTHORIZED,
            "wrong_issuer",
            invalid,
        ),
        case(
            "wrong audience",
            bearer(issuer().sign(&claims(json!({"aud": "another-api"})))),
            S::UNAUTHORIZED,
            "wrong_audience",
            invalid,
        ),
        case(
            "no exp",
            bearer(issuer().sign(&claims(json!({"exp": null})))),
            S::UNAUTHORIZED,
            "malformed_token",
            invalid,
        ),
        case(
            "no sub",
            bearer(issuer().sign(&claims(json!({"sub": null})))),
            S::UNAUTHORIZED,
            "malformed_token",
            invalid,
        ),
        case(
            "member token whose subject is no member id",
            bearer(issuer().sign(&claims(json!({"scope": "loyalty:member", "sub": "alice"})))),
            S::UNAUTHORIZED,
            "invalid_subject",
            invalid,
        ),
        case(
            "no scope",
            bearer(issuer().sign(&claims(json!({"scope": null})))),
            S::FORBIDDEN,
            "insufficient_scope",
            "Bearer realm=\"loyalty\", error=\"insufficient_scope\", scope=\"loyalty:earn\"",
        ),
        case(
            "another scope",
            bearer(token("checkout", &[Scope::Bookings])),
            S::FORBIDDEN,
            "insufficient_scope",
            "Bearer realm=\"loyalty\", error=\"insufficient_scope\"",
        ),
        case(
            "the member's own token",
            bearer(token(&ALICE.to_string(), &[Scope::Member])),
            S::FORBIDDEN,
            "insufficient_scope",
            "Bearer realm=\"loyalty\", error=\"insufficient_scope\"",
        ),
    ]
}

#[tokio::test]
async fn every_bad_token_is_refused_with_its_code_and_a_challenge_and_writes_nothing() {
    let app = spawn_app().await;
    let path = format!("{}/v1/members/{ALICE}/earn", app.base);
    let body = json!({"source": "hotel-bookings", "booking_ref": "BK-AUTH", "product": "hotel",
                      "spend": {"amount_minor": 1_000, "currency": "EUR"}});
    let anonymous = reqwest::Client::new();
    let before = app.footprint().await;
    for case in cases() {
        let mut req = anonymous.post(&path).json(&body);
        if let Some(value) = &case.authorization {
            req = req.header("authorization", value);
        }
        let res = req.send().await.unwrap();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let (status, body): (StatusCode, Value) = (res.status(), res.json().await.unwrap());
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_eq!(body["error"]["code"], case.code, "{}", case.name);
        let challenge = challenge.unwrap_or_default();
        assert!(
            challenge.starts_with(case.challenge),
            "{}: {challenge}",
            case.name
        );
    }
    assert_eq!(
        app.footprint().await,
        before,
        "a refused request wrote something"
    );
    let metrics = app.get("/metrics").await.body;
    let metrics = metrics.as_str().unwrap();
    for reason in [
        "missing_token",
        "bad_signature",
        "algorithm_not_allowed",
        "token_expired",
        "insufficient_scope",
    ] {
        assert!(
            metrics.contains(&format!(
                "loyalty_auth_failures_total{{reason=\"{reason}\"}}"
            )),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn a_token_within_the_leeway_is_accepted_and_its_author_is_recorded() {
    let app = spawn_app().await;
    let token = issuer().sign(&claims(
        json!({"exp": now() - 10, "client_id": "hotel-pms"}),
    ));
    let res = app
        .with_token(Some(&token))
        .post(
            &format!("/v1/members/{ALICE}/earn"),
            json!({"source": "hotel-bookings", "booking_ref": "BK-LEEWAY", "product": "hotel",
                   "spend": {"amount_minor": 1_000, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let history = app.get(&format!("/v1/members/{ALICE}/history")).await.body;
    assert_eq!(
        history["entries"][0]["details"]["actor"],
        json!({"sub": "hotel-bookings", "client": "hotel-pms"}),
        "who earned is recorded on the entry"
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn probes_scrapers_and_the_api_description_need_no_token() {
    let app = spawn_app().await.with_token(None);
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(app.get(path).await.status, StatusCode::OK, "{path}");
    }
    let spec = app.get("/openapi.json").await.body;
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let earn = &spec["paths"]["/v1/members/{member_id}/earn"]["post"];
    assert_eq!(earn["security"], json!([{"bearer": ["loyalty:earn"]}]));
    assert!(earn["responses"]["401"].is_object() && earn["responses"]["429"].is_object());
    assert!(spec["paths"]["/healthz"]["get"]["security"].is_null());
}
