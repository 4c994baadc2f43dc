//! The verified-token cache (auth::cache) answers exactly as a full check would: a
//! remembered token still expires at its `exp`, and the cache can be turned off.

use std::time::Duration;

use axum::http::StatusCode;
use loyalty_service::auth::Scope;

use crate::helpers::{ALICE, fresh_database, issuer, spawn_app_on, test_config};

#[tokio::test]
async fn a_remembered_token_is_refused_once_it_expires() {
    let mut config = test_config();
    config.auth.leeway_s = 0;
    let app = spawn_app_on(&fresh_database().await, config).await;
    let token = issuer().token(
        "support-9",
        "tests",
        &[Scope::Support],
        Duration::from_secs(2),
    );
    let app = app.with_token(Some(&token));
    let path = format!("/v1/members/{ALICE}");
    for _ in 0..3 {
        assert_eq!(
            app.get(&path).await.status,
            StatusCode::OK,
            "verified, then remembered"
        );
    }
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let res = app.get(&path).await;
    assert_eq!(
        (res.status, res.code()),
        (StatusCode::UNAUTHORIZED, "token_expired"),
        "a hit checks exp as the full check does"
    );
}

#[tokio::test]
async fn with_the_cache_off_every_request_is_checked_and_answered_the_same() {
    let mut config = test_config();
    config.auth.token_cache_entries = 0;
    let app = spawn_app_on(&fresh_database().await, config).await;
    let token = issuer().token(
        "support-9",
        "tests",
        &[Scope::Support],
        Duration::from_secs(60),
    );
    let path = format!("/v1/members/{ALICE}");
    for _ in 0..2 {
        let res = app.with_token(Some(&token)).get(&path).await;
        assert_eq!(res.status, StatusCode::OK);
    }
    // One character of the signature changed (not the last: its low bits are padding).
    let at = token.len() - 10;
    let other = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{other}{}", &token[..at], &token[at + 1..]);
    let res = app.with_token(Some(&forged)).get(&path).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}
