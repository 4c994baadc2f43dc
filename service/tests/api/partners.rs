//! Partners: signed bonus webhooks in (Standard Webhooks), partner tokens bound to their
//! partner code, and partner changes and rotated secrets in effect without a restart.

use std::path::PathBuf;
use std::time::Duration;

use loyalty_service::auth::Scope;
use loyalty_service::partners::demo::air_france;
use loyalty_service::partners::signature::SigningSecret;
use loyalty_service::store::partners::publish;
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{
    ALICE, Response, TestApp, fresh_database, issuer, spawn_app_on, test_config, token,
};

const HOUR: Duration = Duration::from_secs(3600);

/// An instance with two partners: Air France (`AF`, enabled) and a disabled `HI`, each with a
/// secret mounted in a directory of the test's own.
pub struct Partnered {
    pub app: TestApp,
    pub secret: SigningSecret,
    pub dir: PathBuf,
}

pub async fn spawn_partnered() -> Partnered {
    let db_url = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("loyalty-partner-secrets-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = SigningSecret::generate();
    let mut config = test_config();
    config.partners.secrets_dir = dir.clone();
    config.ledger.config_poll_ms = 100;
    let (client, conn) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for (code, enabled) in [("AF", true), ("HI", false)] {
        let text = secret.to_text();
        std::fs::write(dir.join(code), &text).unwrap();
        let mut row = air_france(format!("{:x}", Sha256::digest(text.as_bytes())));
        row.code = code.to_owned();
        row.enabled = enabled;
        publish(&client, &row, ("partners", &code.to_lowercase()))
            .await
            .unwrap();
    }
    let app = spawn_app_on(&db_url, config).await;
    Partnered { app, secret, dir }
}

/// One webhook request, as a partner's system would send it.
#[derive(Clone)]
pub struct Webhook {
    pub token: String,
    pub code: &'static str,
    pub id: String,
    pub timestamp_s: i64,
    pub body: Vec<u8>,
    /// `None`: signed with the partner's secret.
    pub signature: Option<String>,
}

impl Webhook {
    pub fn award(member: Uuid, points: i64, reference: &str) -> Self {
        let body = json!({"member_id": member, "points": points, "reference": reference});
        Self {
            token: partner_token("AF"),
            code: "AF",
            id: format!("msg_{}", Uuid::new_v4().simple()),
            timestamp_s: chrono::Utc::now().timestamp(),
            body: serde_json::to_vec(&body).unwrap(),
            signature: None,
        }
    }

    pub async fn send(&self, p: &Partnered) -> Response {
        let signature = self
            .signature
            .clone()
            .unwrap_or_else(|| p.secret.sign(&self.id, self.timestamp_s, &self.body));
        let req = reqwest::Client::new()
            .post(format!("{}/v1/partners/{}/bonuses", p.app.base, self.code))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("webhook-id", &self.id)
            .header("webhook-timestamp", self.timestamp_s.to_string())
            .header("webhook-signature", signature)
            .body(self.body.clone());
        p.app.send(req).await
    }
}

pub fn partner_token(code: &str) -> String {
    issuer().partner_token(&format!("partner-{code}"), code, HOUR)
}

#[tokio::test]
async fn a_signed_partner_bonus_is_awarded_once_and_history_names_the_partner() {
    let p = spawn_partnered().await;
    let hook = Webhook::award(ALICE, 750, "STAY-1");
    let res = hook.send(&p).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(
        (res.body["partner"].clone(), res.body["points"].clone()),
        (json!("AF"), json!(750))
    );
    assert_eq!(p.app.balance(ALICE).await["available"], 750);
    // The partner's retry of the same message: the first answer again, nothing more.
    let again = hook.send(&p).await;
    assert_eq!((again.status, again.replayed), (StatusCode::CREATED, true));
    assert_eq!(again.body, res.body);
    assert_eq!(p.app.balance(ALICE).await["available"], 750);
    let history = p.app.get(&format!("/v1/members/{ALICE}/history")).await;
    let entry = &history.body["entries"][0];
    assert_eq!(entry["reason"], "partner bonus", "{entry}");
    assert_eq!(entry["details"]["partner"], "AF", "{entry}");
    assert_eq!(entry["details"]["webhook_id"], json!(hook.id), "{entry}");
    // Partner points count for lifetime, not for the tier.
    assert_eq!(p.app.balance(ALICE).await["qualifying"], 0);
    p.app.assert_audit_clean().await;
}

/// Every refusal: its status and code, and nothing written.
#[tokio::test]
async fn bad_partner_webhooks_are_refused_with_a_stable_code_and_write_nothing() {
    let p = spawn_partnered().await;
    let good = Webhook::award(ALICE, 100, "STAY-2");
    let now = good.timestamp_s;
    let other = SigningSecret::generate();
    let with = |f: &dyn Fn(&mut Webhook)| {
        let mut hook = good.clone();
        f(&mut hook);
        hook
    };
    let unsigned_claims = {
        let mut claims = json!({"iss": issuer().issuer, "aud": issuer().audience, "sub": "p",
            "scope": "loyalty:partner", "exp": now + 600});
        claims["nbf"] = json!(now);
        issuer().sign(&claims)
    };
    let cases: Vec<(&str, Webhook, StatusCode, &str)> = vec![
        (
            "no signature",
            with(&|h| h.signature = Some(String::new())),
            StatusCode::UNAUTHORIZED,
            "webhook_signature_invalid",
        ),
        (
            "another secret",
            with(&|h| h.signature = Some(other.sign(&h.id, h.timestamp_s, &h.body))),
            StatusCode::UNAUTHORIZED,
            "webhook_signature_invalid",
        ),
        (
            "signature of another body",
            with(&|h| {
                h.signature = Some(p.secret.sign(&h.id, h.timestamp_s, &h.body));
                h.body = serde_json::to_vec(
                    &json!({"member_id": ALICE, "points": 100_000, "reference": "STAY-2"}),
                )
                .unwrap();
            }),
            StatusCode::UNAUTHORIZED,
            "webhook_signature_invalid",
        ),
        (
            "signature of another id",
            with(&|h| h.signature = Some(p.secret.sign("msg_other", h.timestamp_s, &h.body))),
            StatusCode::UNAUTHORIZED,
            "webhook_signature_invalid",
        ),
        (
            "only an unknown scheme",
            with(&|h| {
                h.signature = Some(
                    p.secret
                        .sign(&h.id, h.timestamp_s, &h.body)
                        .replace("v1,", "v1a,"),
                )
            }),
            StatusCode::UNAUTHORIZED,
            "webhook_signature_invalid",
        ),
        (
            "stale timestamp",
            with(&|h| h.timestamp_s = now - 301),
            StatusCode::UNAUTHORIZED,
            "webhook_timestamp_out_of_tolerance",
        ),
        (
            "future timestamp",
            with(&|h| h.timestamp_s = now + 301),
            StatusCode::UNAUTHORIZED,
            "webhook_timestamp_out_of_tolerance",
        ),
        (
            "bad webhook-id",
            with(&|h| h.id = "msg with spaces".into()),
            StatusCode::BAD_REQUEST,
            "invalid_webhook_headers",
        ),
        (
            "unknown partner",
            with(&|h| {
                h.code = "ZZ";
                h.token = partner_token("ZZ");
            }),
            StatusCode::NOT_FOUND,
            "partner_not_found",
        ),
        (
            "disabled partner",
            with(&|h| {
                h.code = "HI";
                h.token = partner_token("HI");
            }),
            StatusCode::FORBIDDEN,
            "partner_disabled",
        ),
        (
            "another partner's token",
            with(&|h| h.code = "HI"),
            StatusCode::NOT_FOUND,
            "partner_not_found",
        ),
        (
            "no partner scope",
            with(&|h| h.token = token("platform", &Scope::SERVICES)),
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        ),
        (
            "no partner_code claim",
            with(&|h| h.token = unsigned_claims.clone()),
            StatusCode::UNAUTHORIZED,
            "invalid_partner_claim",
        ),
        (
            "no points",
            with(&|h| {
                h.body = serde_json::to_vec(
                    &json!({"member_id": ALICE, "points": 0, "reference": "STAY-2"}),
                )
                .unwrap()
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_points",
        ),
        (
            "unknown member",
            with(&|h| {
                h.body = serde_json::to_vec(
                    &json!({"member_id": Uuid::new_v4(), "points": 1, "reference": "STAY-2"}),
                )
                .unwrap()
            }),
            StatusCode::NOT_FOUND,
            "member_not_found",
        ),
        (
            "unknown field",
            with(&|h| {
                h.body = serde_json::to_vec(&json!({"member_id": ALICE, "points": 1, "reference": "STAY-2", "tier": "gold"})).unwrap()
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    let before = p.app.footprint().await;
    for (name, hook, status, code) in cases {
        let res = hook.send(&p).await;
        assert_eq!(
            (res.status, res.code()),
            (status, code),
            "{name}: {}",
            res.body
        );
    }
    // A header that is not there at all.
    let res = p
        .app
        .send(
            reqwest::Client::new()
                .post(format!("{}/v1/partners/AF/bonuses", p.app.base))
                .bearer_auth(&good.token)
                .header("content-type", "application/json")
                .header("webhook-id", &good.id)
                .header("webhook-timestamp", "yesterday")
                .body(good.body.clone()),
        )
        .await;
    assert_eq!(
        (res.status, res.code()),
        (StatusCode::BAD_REQUEST, "invalid_webhook_headers")
    );
    assert_eq!(
        p.app.footprint().await,
        before,
        "a refused webhook wrote something"
    );
}

#[tokio::test]
async fn a_replayed_webhook_id_with_another_body_is_refused_and_writes_nothing() {
    let p = spawn_partnered().await;
    let first = Webhook::award(ALICE, 100, "STAY-3");
    assert_eq!(first.send(&p).await.status, StatusCode::CREATED);
    let before = p.app.footprint().await;
    let mut replay = Webhook::award(ALICE, 90_000, "STAY-3");
    replay.id = first.id.clone();
    let res = replay.send(&p).await;
    assert_eq!(
        (res.status, res.code()),
        (StatusCode::CONFLICT, "webhook_id_reused"),
        "{}",
        res.body
    );
    assert_eq!(p.app.footprint().await, before);
    assert_eq!(p.app.balance(ALICE).await["available"], 100);
}

#[tokio::test]
async fn a_rotated_secret_and_a_disabled_partner_take_effect_without_a_restart() {
    let p = spawn_partnered().await;
    let new = SigningSecret::generate();
    // Rotation, step 1: both secrets mounted; a message signed with either verifies.
    let both = format!("{}\n{}\n", p.secret.to_text(), new.to_text());
    std::fs::write(p.dir.join("AF"), both).unwrap();
    let signed_new = |reference: &str| {
        let mut hook = Webhook::award(ALICE, 10, reference);
        hook.signature = Some(new.sign(&hook.id, hook.timestamp_s, &hook.body));
        hook
    };
    let accepted = eventually(&p, || signed_new("ROT-1"), StatusCode::CREATED).await;
    assert!(accepted, "the new secret never verified");
    assert_eq!(
        Webhook::award(ALICE, 10, "ROT-2").send(&p).await.status,
        StatusCode::CREATED
    );
    // Step 2: the old secret removed.
    std::fs::write(p.dir.join("AF"), new.to_text()).unwrap();
    let refused = eventually(
        &p,
        || Webhook::award(ALICE, 10, "ROT-3"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(refused, "the removed secret still verified");
    // The operator disables the partner.
    p.app
        .sql()
        .await
        .execute("UPDATE partners SET enabled = false WHERE code = 'AF'", &[])
        .await
        .unwrap();
    let disabled = eventually(&p, || signed_new("ROT-4"), StatusCode::FORBIDDEN).await;
    assert!(disabled, "the disabled partner still awarded");
}

/// Sends fresh webhooks until one answers `status` (true) or two seconds pass (false).
async fn eventually(p: &Partnered, hook: impl Fn() -> Webhook, status: StatusCode) -> bool {
    for _ in 0..100 {
        if hook().send(p).await.status == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The partner's secret never reaches the database: only its fingerprint does.
#[tokio::test]
async fn the_database_holds_a_partners_fingerprint_never_its_secret() {
    let p = spawn_partnered().await;
    let rows = p
        .app
        .sql()
        .await
        .query("SELECT to_jsonb(partners)::TEXT FROM partners", &[])
        .await
        .unwrap();
    let secret = p.secret.to_text();
    let encoded = secret.trim_start_matches("whsec_");
    for row in rows {
        let text: String = row.get(0);
        assert!(!text.contains(encoded), "{text}");
    }
}

/// A flight booked through Air France (250 bonus points per flight) and a hotel (1.5x).
#[tokio::test]
async fn an_earn_through_a_partner_applies_its_bonus_rules_and_the_quote_shows_the_same() {
    let p = spawn_partnered().await;
    let flight = json!({"product": "flight", "spend": {"amount_minor": 10_000, "currency": "EUR"}, "partner": "AF"});
    let quote = p.app.post("/v1/quote", flight.clone()).await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    assert_eq!(quote.body["points"], 500 + 250, "{}", quote.body);
    let mut booking = flight.clone();
    booking["source"] = json!("af-bookings");
    booking["booking_ref"] = json!("AF-1");
    let earn = p
        .app
        .post(&format!("/v1/members/{ALICE}/earn"), booking)
        .await;
    assert_eq!(earn.status, StatusCode::CREATED, "{}", earn.body);
    assert_eq!(earn.body["points"], 750);
    let partner = &earn.body["partner"];
    assert_eq!(partner, &quote.body["partner"]);
    assert_eq!(partner["outcome"], "applied");
    assert_eq!(
        partner["rules"],
        json!([{"rule": 0, "points_per_booking": 250, "points": 250}])
    );
    // "Why did I get this": the entry's details name the partner and the rule.
    let history = p.app.get(&format!("/v1/members/{ALICE}/history")).await;
    assert_eq!(&history.body["entries"][0]["details"]["partner"], partner);
    let hotel = json!({"product": "hotel", "spend": {"amount_minor": 10_000, "currency": "EUR"}, "partner": "AF"});
    let quote = p.app.post("/v1/quote", hotel).await;
    assert_eq!(quote.body["points"], 1_000 + 500, "{}", quote.body);
    p.app.assert_audit_clean().await;
}

#[tokio::test]
async fn an_unknown_or_disabled_partner_adds_nothing_and_the_answer_says_which() {
    let p = spawn_partnered().await;
    for (code, outcome) in [("ZZ", "unknown_partner"), ("HI", "partner_disabled")] {
        let booking = json!({"source": "bookings", "booking_ref": format!("X-{code}"), "product": "flight",
                             "spend": {"amount_minor": 10_000, "currency": "EUR"}, "partner": code});
        let earn = p
            .app
            .post(&format!("/v1/members/{ALICE}/earn"), booking)
            .await;
        assert_eq!(earn.status, StatusCode::CREATED, "{}", earn.body);
        assert_eq!(earn.body["points"], 500, "{code}");
        assert_eq!(earn.body["partner"]["outcome"], outcome, "{code}");
        assert_eq!(earn.body["partner"]["points"], 0, "{code}");
    }
}

#[tokio::test]
async fn a_changed_bonus_rule_takes_effect_without_a_restart() {
    let p = spawn_partnered().await;
    let rules = json!([{"productTypes": ["flight"], "pointsPerBooking": 1000}]);
    p.app
        .sql()
        .await
        .execute(
            "UPDATE partners SET bonus_rules = $1 WHERE code = 'AF'",
            &[&rules],
        )
        .await
        .unwrap();
    let flight = json!({"product": "flight", "spend": {"amount_minor": 10_000, "currency": "EUR"}, "partner": "AF"});
    for _ in 0..100 {
        if p.app.post("/v1/quote", flight.clone()).await.body["points"] == 1_500 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the new bonus rule never applied");
}

#[tokio::test]
async fn the_webhook_is_documented_with_its_headers_and_its_own_body() {
    let p = spawn_partnered().await;
    let doc = p.app.get("/openapi.json").await.body;
    let op = &doc["paths"]["/v1/partners/{partner_code}/bonuses"]["post"];
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(params.contains(&header), "{params:?}");
    }
    let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap()
        .trim_start_matches("#/components/schemas/");
    let mut fields: Vec<&String> = doc["components"]["schemas"][body]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    fields.sort();
    assert_eq!(fields, ["member_id", "points", "reference"]);
}
