//! Fraud checks with a review queue (docs/fraud.md): each rule at its boundary, the approve,
//! reject and expiry paths with the audit clean, bad decisions as a table, and concurrent
//! redemptions racing the velocity window across instances.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use loyalty_service::auth::Scope;
use loyalty_service::config::Config;

use crate::helpers::{ALICE, BRUNO, TestApp, fresh_database, spawn_app_on, test_config, token};

/// (name, kind, limit, window_s)
type Rule = (&'static str, &'static str, i64, i64);

/// A fresh database with exactly `rules`, and an instance started on it (the rules are in
/// its first programme snapshot).
async fn spawn_with_rules(rules: &[Rule]) -> TestApp {
    spawn_configured(rules, test_config()).await
}

async fn spawn_configured(rules: &[Rule], config: Config) -> TestApp {
    let url = fresh_database().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for (name, kind, limit, window_s) in rules {
        client
            .execute(
                "INSERT INTO fraud_rules (name, kind, limit_value, window_s) VALUES ($1, $2, $3, $4)",
                &[name, kind, limit, window_s],
            )
            .await
            .unwrap();
    }
    spawn_app_on(&url, config).await
}

fn support(app: &TestApp) -> TestApp {
    app.with_token(Some(&token("support-7", &[Scope::Support])))
}

async fn redeem(app: &TestApp, points: i64, reference: &str) -> crate::helpers::Response {
    app.post(
        &format!("/v1/members/{ALICE}/redeem"),
        json!({"points": points, "reference": reference}),
    )
    .await
}

async fn transfer(app: &TestApp, from: Uuid, to: Uuid, points: i64) -> crate::helpers::Response {
    app.as_member(from)
        .post(
            &format!("/v1/members/{from}/transfers"),
            json!({"to_member_id": to, "points": points, "reference": format!("T-{points}")}),
        )
        .await
}

#[tokio::test]
async fn each_rule_sends_an_operation_to_review_just_past_its_limit_and_not_at_it() {
    // (rule, redemptions made first, the redemption tested, a transfer in first, expected)
    let cases: &[(Rule, &[i64], i64, i64, StatusCode)] = &[
        (
            ("big", "single_points", 500, 0),
            &[],
            500,
            0,
            StatusCode::CREATED,
        ),
        (
            ("big", "single_points", 500, 0),
            &[],
            501,
            0,
            StatusCode::ACCEPTED,
        ),
        (
            ("fast", "velocity_count", 2, 3_600),
            &[1],
            1,
            0,
            StatusCode::CREATED,
        ),
        (
            ("fast", "velocity_count", 2, 3_600),
            &[1, 1],
            1,
            0,
            StatusCode::ACCEPTED,
        ),
        (
            ("drain", "velocity_points", 300, 3_600),
            &[200],
            100,
            0,
            StatusCode::CREATED,
        ),
        (
            ("drain", "velocity_points", 300, 3_600),
            &[200],
            101,
            0,
            StatusCode::ACCEPTED,
        ),
        (
            ("mule", "after_transfer_in", 1_000, 3_600),
            &[],
            1,
            999,
            StatusCode::CREATED,
        ),
        (
            ("mule", "after_transfer_in", 1_000, 3_600),
            &[],
            1,
            1_000,
            StatusCode::ACCEPTED,
        ),
    ];
    for (i, (rule, before, points, transfer_in, expected)) in cases.iter().enumerate() {
        let app = spawn_with_rules(&[*rule]).await;
        app.fund(ALICE, "BK-1", 2_000).await;
        app.fund(BRUNO, "BK-2", 2_000).await;
        if *transfer_in > 0 {
            let res = transfer(&app, BRUNO, ALICE, *transfer_in).await;
            assert_eq!(res.status, StatusCode::CREATED, "case {i}: {}", res.body);
        }
        for (n, p) in before.iter().enumerate() {
            let res = redeem(&app, *p, &format!("R-{n}")).await;
            assert_eq!(res.status, StatusCode::CREATED, "case {i}: {}", res.body);
        }
        let held_before = app.balance(ALICE).await["held"].as_i64().unwrap();
        let res = redeem(&app, *points, "R-TESTED").await;
        assert_eq!(res.status, *expected, "case {i} ({rule:?}): {}", res.body);
        if *expected == StatusCode::ACCEPTED {
            assert_eq!(res.body["state"], "open", "case {i}");
            assert_eq!(res.body["operation"], "redemption");
            assert!(res.body.get("flagged_by").is_none(), "rules stay private");
            assert_eq!(res.body["balance"]["held"], held_before + points);
        }
        app.assert_audit_clean().await;
    }
}

/// A redemption of 600 points flagged by a 500-point rule; returns (app, review id). Its
/// replay answers the same 202 and holds nothing more.
async fn flagged_redemption() -> (TestApp, String) {
    let app = spawn_with_rules(&[("big", "single_points", 500, 0)]).await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let path = format!("/v1/members/{ALICE}/redeem");
    let body = json!({"points": 600, "reference": "R-BIG"});
    let res = app.post_idem(&path, "redeem-big", body.clone()).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    let replay = app.post_idem(&path, "redeem-big", body).await;
    assert_eq!(
        (replay.status, replay.replayed),
        (StatusCode::ACCEPTED, true)
    );
    assert_eq!(replay.body, res.body);
    assert_eq!(app.balance(ALICE).await["held"], 600);
    let review = res.body["review_id"].as_str().unwrap().to_owned();
    (app, review)
}

async fn outbox_types(app: &TestApp) -> Vec<String> {
    let rows = app
        .sql()
        .await
        .query(
            "SELECT type, event::TEXT FROM outbox ORDER BY created_at, type",
            &[],
        )
        .await
        .unwrap();
    for row in &rows {
        let event: &str = row.get(1);
        assert!(!event.contains("demo-alice"), "personal data in {event}");
    }
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn an_approved_redemption_is_captured_once_with_its_events_and_the_audit_clean() {
    let (app, review) = flagged_redemption().await;
    let balance = app.balance(ALICE).await;
    assert_eq!(
        (balance["available"].as_i64(), balance["held"].as_i64()),
        (Some(400), Some(600))
    );
    let queue = support(&app).get("/v1/admin/reviews").await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    let listed = &queue.body["reviews"][0];
    assert_eq!(listed["review_id"], review.as_str());
    assert_eq!(listed["flags"][0]["rule"], "big");
    assert_eq!(listed["flags"][0]["observed"], 600);
    let path = format!("/v1/admin/reviews/{review}/approve");
    let res = support(&app).post(&path, Value::Null).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["state"], "approved");
    assert_eq!(res.body["hold_state"], "captured");
    let balance = app.balance(ALICE).await;
    assert_eq!(
        (balance["available"].as_i64(), balance["held"].as_i64()),
        (Some(400), Some(0))
    );
    let again = support(&app).post(&path, Value::Null).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "review_not_open")
    );
    assert_eq!(again.body["error"]["details"]["state"], "approved");
    let types = outbox_types(&app).await;
    for t in [
        "review.opened",
        "review.approved",
        "hold.created",
        "hold.captured",
    ] {
        assert!(
            types.iter().any(|x| x.ends_with(t)),
            "{t} missing from {types:?}"
        );
    }
    let open = support(&app).get("/v1/admin/reviews").await;
    assert_eq!(open.body["reviews"], json!([]));
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn a_rejected_redemption_gives_every_point_back() {
    let (app, review) = flagged_redemption().await;
    let res = support(&app)
        .post(&format!("/v1/admin/reviews/{review}/reject"), Value::Null)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        (res.body["state"].as_str(), res.body["hold_state"].as_str()),
        (Some("rejected"), Some("voided"))
    );
    let balance = app.balance(ALICE).await;
    assert_eq!(
        (balance["available"].as_i64(), balance["held"].as_i64()),
        (Some(1_000), Some(0))
    );
    let decided = support(&app).get("/v1/admin/reviews?state=rejected").await;
    assert_eq!(decided.body["reviews"][0]["review_id"], review.as_str());
    assert!(
        outbox_types(&app)
            .await
            .iter()
            .any(|t| t.ends_with("review.rejected"))
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn a_flagged_transfer_is_held_and_sent_only_on_approval() {
    let app = spawn_with_rules(&[("big", "single_points", 500, 0)]).await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let res = transfer(&app, ALICE, BRUNO, 600).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    assert_eq!(res.body["operation"], "transfer");
    assert_eq!(app.balance(BRUNO).await["available"], 0);
    let review = res.body["review_id"].as_str().unwrap();
    let res = support(&app)
        .post(&format!("/v1/admin/reviews/{review}/approve"), Value::Null)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body["transfer_id"].is_string());
    assert_eq!(app.balance(BRUNO).await["available"], 600);
    let alice = app.balance(ALICE).await;
    assert_eq!(
        (alice["available"].as_i64(), alice["held"].as_i64()),
        (Some(400), Some(0))
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn a_transfer_in_review_counts_towards_the_daily_limit() {
    let mut config = test_config();
    config.ledger.transfer_max_points = 1_000;
    config.ledger.transfer_daily_limit_points = 1_000;
    let app = spawn_configured(&[("big", "single_points", 500, 0)], config).await;
    app.fund(ALICE, "BK-1", 3_000).await;
    let res = transfer(&app, ALICE, BRUNO, 600).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    let before = app.footprint().await;
    let res = transfer(&app, ALICE, BRUNO, 500).await;
    assert_eq!(
        (res.status, res.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "transfer_limit_reached")
    );
    assert_eq!(app.footprint().await, before);
    let res = transfer(&app, ALICE, BRUNO, 400).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn an_approved_hold_becomes_active_and_the_checkout_captures_it() {
    let app = spawn_with_rules(&[("big", "single_points", 500, 0)]).await;
    app.fund(ALICE, "BK-1", 1_000).await;
    let res = app
        .post(
            &format!("/v1/members/{ALICE}/holds"),
            json!({"points": 600, "reference": "H-BIG", "ttl_s": 600}),
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    let (hold, review) = (
        res.body["hold_id"].as_str().unwrap(),
        res.body["review_id"].as_str().unwrap(),
    );
    let capture = format!("/v1/members/{ALICE}/holds/{hold}/capture");
    let early = app.post(&capture, json!({})).await;
    assert_eq!(
        (early.status, early.code()),
        (StatusCode::CONFLICT, "hold_not_active")
    );
    let res = support(&app)
        .post(&format!("/v1/admin/reviews/{review}/approve"), Value::Null)
        .await;
    assert_eq!(res.body["hold_state"], "active", "{}", res.body);
    assert!(res.body["expires_at"].is_string());
    let res = app.post(&capture, json!({"points": 500})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(app.balance(ALICE).await["available"], 500);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn the_sweep_expires_a_review_nobody_decided_and_gives_the_points_back() {
    let (app, review) = flagged_redemption().await;
    let admin = app.with_token(Some(&token("ops", &[Scope::Admin])));
    let res = admin.post("/v1/admin/jobs/sweep", Value::Null).await;
    assert_eq!(res.body["reviews_expired"], 0, "not yet due: {}", res.body);
    let id: Uuid = review.parse().unwrap();
    app.sql()
        .await
        .execute(
            "UPDATE fraud_reviews SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let res = admin.post("/v1/admin/jobs/sweep", Value::Null).await;
    assert_eq!(res.body["reviews_expired"], 1, "{}", res.body);
    let balance = app.balance(ALICE).await;
    assert_eq!(
        (balance["available"].as_i64(), balance["held"].as_i64()),
        (Some(1_000), Some(0))
    );
    let res = support(&app)
        .post(&format!("/v1/admin/reviews/{review}/approve"), Value::Null)
        .await;
    assert_eq!(
        (res.status, res.code()),
        (StatusCode::CONFLICT, "review_not_open")
    );
    assert_eq!(res.body["error"]["details"]["state"], "expired");
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("loyalty_fraud_reviews_open 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("loyalty_fraud_flags_total{rule=\"big\"} 1"),
        "{metrics}"
    );
    assert!(
        outbox_types(&app)
            .await
            .iter()
            .any(|t| t.ends_with("review.expired"))
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn bad_decisions_are_refused_with_a_code_and_write_nothing() {
    let (app, review) = flagged_redemption().await;
    let approve = format!("/v1/admin/reviews/{review}/approve");
    let res = support(&app).post(&approve, Value::Null).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let unknown = Uuid::new_v4();
    // (method, path, status, code)
    let cases = [
        (
            "POST",
            format!("/v1/admin/reviews/{unknown}/approve"),
            StatusCode::NOT_FOUND,
            "review_not_found",
        ),
        (
            "POST",
            format!("/v1/admin/reviews/{unknown}/reject"),
            StatusCode::NOT_FOUND,
            "review_not_found",
        ),
        (
            "POST",
            approve.clone(),
            StatusCode::CONFLICT,
            "review_not_open",
        ),
        (
            "POST",
            format!("/v1/admin/reviews/{review}/reject"),
            StatusCode::CONFLICT,
            "review_not_open",
        ),
        (
            "POST",
            "/v1/admin/reviews/not-a-uuid/approve".into(),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "GET",
            "/v1/admin/reviews?limit=0".into(),
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "GET",
            "/v1/admin/reviews?limit=201".into(),
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "GET",
            "/v1/admin/reviews?state=pending".into(),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ];
    let before = app.footprint().await;
    let reviewer = support(&app);
    for (method, path, status, code) in &cases {
        let res = if *method == "GET" {
            reviewer.get(path).await
        } else {
            reviewer.post(path, Value::Null).await
        };
        assert_eq!(
            (res.status, res.code()),
            (*status, *code),
            "{method} {path}: {}",
            res.body
        );
    }
    let again = reviewer
        .post_idem(
            &format!("/v1/admin/reviews/{review}/reject"),
            "k-1",
            Value::Null,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        app.footprint().await,
        before,
        "a refused decision wrote something"
    );
    app.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_cannot_beat_the_velocity_window() {
    // Four instances (separate pools and in-process queues) on one database: only the
    // facts read inside each SERIALIZABLE transaction keep them from all seeing an empty
    // window.
    const ALLOWED: i64 = 3;
    const RACERS: usize = 16;
    let a = spawn_with_rules(&[("fast", "velocity_count", ALLOWED, 3_600)]).await;
    let mut apps = vec![];
    for _ in 0..3 {
        apps.push(spawn_app_on(&a.db_url, test_config()).await);
    }
    apps.push(a);
    apps[0].fund(ALICE, "BK-1", 10_000).await;
    let results = join_all((0..RACERS).map(|i| {
        let app = &apps[i % apps.len()];
        async move { redeem(app, 10, &format!("R-{i}")).await }
    }))
    .await;
    let count = |status| results.iter().filter(|r| r.status == status).count() as i64;
    let statuses: Vec<_> = results
        .iter()
        .map(|r| (r.status, r.code().to_owned()))
        .collect();
    assert_eq!(count(StatusCode::CREATED), ALLOWED, "{statuses:?}");
    assert_eq!(
        count(StatusCode::ACCEPTED),
        RACERS as i64 - ALLOWED,
        "{statuses:?}"
    );
    let balance = apps[0].balance(ALICE).await;
    assert_eq!(balance["available"], 10_000 - 10 * RACERS as i64);
    assert_eq!(balance["held"], 10 * (RACERS as i64 - ALLOWED));
    apps[0].assert_audit_clean().await;
}
