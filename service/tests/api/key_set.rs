//! The identity provider's key set fetched from a URL: a real HTTP server started here
//! serves it. ES256 and EdDSA keys verify; a rotated key is picked up when a token names
//! it; a flood of unknown key ids costs the provider one fetch per interval, not one each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use loyalty_service::auth::dev::DevIssuer;
use p256::pkcs8::EncodePrivateKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ALICE, TEST_AUDIENCE, TEST_ISSUER, fresh_database, spawn_app_on, test_config,
};

/// A key set served over HTTP, counting fetches.
#[derive(Clone, Default)]
struct Provider {
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    async fn start(self) -> String {
        let app = axum::Router::new()
            .route(
                "/jwks",
                get(|State(p): State<Provider>| async move {
                    p.fetches.fetch_add(1, Ordering::SeqCst);
                    Json(p.keys.lock().unwrap().clone())
                }),
            )
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = json!({ "keys": keys });
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// An ES256 key: its public JWK (with `kid`) and a signer.
struct Es256 {
    jwk: Value,
    signing: EncodingKey,
    kid: String,
}

impl Es256 {
    fn generate(kid: &str) -> Self {
        let secret = loop {
            // Any 32 random bytes below the curve order make a key; retry the rare others.
            if let Ok(secret) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                break secret;
            }
        };
        let mut jwk: Value = serde_json::from_str(&secret.public_key().to_jwk_string()).unwrap();
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!("ES256");
        let pem = secret.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap();
        Self {
            jwk,
            signing: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            kid: kid.to_owned(),
        }
    }

    fn token(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let claims = json!({"iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "sub": "support-1",
            "scope": "loyalty:support", "exp": now + 600});
        jsonwebtoken::encode(&header, &claims, &self.signing).unwrap()
    }
}

fn eddsa_jwk(issuer: &DevIssuer) -> Value {
    issuer.jwks()["keys"][0].clone()
}

#[tokio::test]
async fn keys_are_fetched_cached_rotated_and_unknown_ids_refresh_once_per_interval() {
    let provider = Provider::default();
    let first = Es256::generate("es-1");
    let eddsa = DevIssuer::generate(TEST_ISSUER, TEST_AUDIENCE);
    provider.serve(vec![first.jwk.clone(), eddsa_jwk(&eddsa)]);
    let url = provider.clone().start().await;
    let mut config = test_config();
    config.auth.jwks_file = None;
    config.auth.jwks_url = Some(url);
    config.auth.jwks_min_refresh_s = 1;
    let app = spawn_app_on(&fresh_database().await, config).await;
    let path = format!("/v1/members/{ALICE}");
    assert_eq!(provider.fetches(), 1, "fetched once at startup");

    let es = app.with_token(Some(&first.token()));
    assert_eq!(es.get(&path).await.status, StatusCode::OK, "ES256 verifies");
    let ed = eddsa.token(
        "support-2",
        "tests",
        &[loyalty_service::auth::Scope::Support],
        Duration::from_secs(600),
    );
    assert_eq!(
        app.with_token(Some(&ed)).get(&path).await.status,
        StatusCode::OK,
        "EdDSA verifies"
    );
    assert_eq!(
        provider.fetches(),
        1,
        "known keys are served from the cache"
    );

    // The provider rotates: a new key appears, the first one is withdrawn.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let second = Es256::generate("es-2");
    provider.serve(vec![second.jwk.clone()]);
    let stranger = DevIssuer::generate(TEST_ISSUER, TEST_AUDIENCE);
    let unknown = app.with_token(Some(&stranger.token(
        "x",
        "x",
        &[],
        Duration::from_secs(60),
    )));
    for _ in 0..20 {
        let res = unknown.get(&path).await;
        assert_eq!(
            (res.status, res.code()),
            (StatusCode::UNAUTHORIZED, "unknown_key")
        );
    }
    assert_eq!(
        provider.fetches(),
        2,
        "twenty unknown key ids cost one fetch"
    );
    assert_eq!(
        app.with_token(Some(&second.token()))
            .get(&path)
            .await
            .status,
        StatusCode::OK,
        "the rotated-in key was fetched by that refresh"
    );
    let res = es.get(&path).await;
    assert_eq!(
        (res.status, res.code()),
        (StatusCode::UNAUTHORIZED, "unknown_key"),
        "the withdrawn key no longer verifies"
    );
}
