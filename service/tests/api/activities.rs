//! Points for activities: reviews under their caps, referrals with their anti-abuse checks,
//! streaks of visits in the member's time zone.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ALICE, BRUNO, CARLA, TestApp, spawn_app};

fn activities(member: Uuid) -> String {
    format!("/v1/members/{member}/activities")
}

fn review(reference: &str) -> Value {
    json!({"kind": "review", "source": "reviews", "reference": reference})
}

fn referral(referred: Uuid, reference: &str) -> Value {
    json!({"kind": "referral", "source": "referrals", "reference": reference, "referred_member_id": referred})
}

async fn enrol(app: &TestApp, external_id: &str, hints: &[&str]) -> Uuid {
    let res = app
        .post(
            "/v1/members",
            json!({"external_id": external_id, "country": "FR", "identity_hints": hints}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["member_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn reviews_earn_under_their_daily_cap_and_replay_by_reference() {
    let app = spawn_app().await;
    // Demo rule: 50 points a review, at most 100 a day.
    let first = app.post(&activities(ALICE), review("RV-1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["points"], 50);
    let again = app.post(&activities(ALICE), review("RV-1")).await;
    assert!(again.replayed || again.body == first.body, "{}", again.body);
    assert_eq!(again.body["entry_id"], first.body["entry_id"]);
    assert_eq!(
        app.post(&activities(ALICE), review("RV-2")).await.body["points"],
        50
    );
    let capped = app.post(&activities(ALICE), review("RV-3")).await;
    assert_eq!(capped.status, StatusCode::CREATED, "{}", capped.body);
    assert_eq!(
        (
            capped.body["points"].clone(),
            capped.body["capped_by"].clone()
        ),
        (json!(0), json!("daily_cap"))
    );
    assert_eq!(app.balance(ALICE).await["available"], 100);
    // The same reference for another member is not theirs to claim.
    let stolen = app.post(&activities(BRUNO), review("RV-1")).await;
    assert_eq!(stolen.status, StatusCode::CONFLICT);
    assert_eq!(stolen.code(), "activity_already_reported");
    let history = app.get(&format!("/v1/members/{ALICE}/history")).await.body;
    let entry = &history["entries"][0];
    assert_eq!(entry["reason"], "review activity", "{history:#}");
    assert_eq!(entry["details"]["activity"], "review");
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn concurrent_reviews_cannot_beat_the_daily_cap() {
    let app = spawn_app().await;
    let path = activities(ALICE);
    let reports = (0..16).map(|i| {
        let (app, path) = (&app, &path);
        async move { app.post(path, review(&format!("RC-{i}"))).await }
    });
    let answers = futures::future::join_all(reports).await;
    let earned: i64 = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["points"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(earned, 100);
    assert_eq!(app.balance(ALICE).await["available"], 100);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn a_referral_pays_both_members_once_the_referred_member_has_booked() {
    let app = spawn_app().await;
    let before = app.footprint().await;
    let early = app.post(&activities(ALICE), referral(BRUNO, "RF-1")).await;
    assert_eq!(
        early.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        early.body
    );
    assert_eq!(early.code(), "referral_not_completed");
    assert_eq!(app.footprint().await, before);

    app.fund(BRUNO, "BK-BRUNO", 100).await;
    let res = app.post(&activities(ALICE), referral(BRUNO, "RF-1")).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["points"], 1_000);
    assert_eq!(res.body["referred"]["points"], 250);
    assert_eq!(app.balance(ALICE).await["available"], 1_000);
    assert_eq!(app.balance(BRUNO).await["available"], 350);
    // Referral points never lift a tier: they are not qualifying.
    assert_eq!(app.balance(ALICE).await["qualifying"], 0);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn self_referrals_rings_shared_identities_and_strangers_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let twin_a = enrol(&app, "twin-a", &["email-hash-1", "device-7"]).await;
    let twin_b = enrol(&app, "twin-b", &["device-7"]).await;
    for (member, tag) in [(ALICE, "A"), (BRUNO, "B"), (twin_b, "T")] {
        app.fund(member, &format!("BK-{tag}"), 100).await;
    }
    let done = app.post(&activities(ALICE), referral(BRUNO, "RF-AB")).await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    let before = app.footprint().await;
    let cases = [
        (
            ALICE,
            referral(ALICE, "RF-SELF"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "self_referral",
        ),
        (
            BRUNO,
            referral(ALICE, "RF-RING"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "referral_ring",
        ),
        (
            twin_b,
            referral(BRUNO, "RF-AGAIN"),
            StatusCode::CONFLICT,
            "already_referred",
        ),
        (
            twin_a,
            referral(twin_b, "RF-TWIN"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "referral_same_identity",
        ),
        (
            ALICE,
            referral(CARLA, "RF-US"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "referral_across_residency_groups",
        ),
        (
            ALICE,
            referral(Uuid::new_v4(), "RF-NONE"),
            StatusCode::NOT_FOUND,
            "referred_member_not_found",
        ),
    ];
    for (referrer, body, status, code) in cases {
        let res = app.post(&activities(referrer), body.clone()).await;
        assert_eq!(res.status, status, "{body}: {}", res.body);
        assert_eq!(res.code(), code, "{body}");
    }
    assert_eq!(
        app.footprint().await,
        before,
        "a refused referral wrote something"
    );
}

#[tokio::test]
async fn seven_consecutive_local_days_of_visits_earn_the_streak_and_a_gap_restarts_it() {
    let app = spawn_app().await;
    // 22:30 UTC is already the next day in Tokyo: the days are the member's, not UTC's.
    let start = (Utc::now() - Duration::days(20))
        .date_naive()
        .and_hms_opt(22, 30, 0)
        .unwrap()
        .and_utc();
    let visit = |day: i64| {
        json!({"kind": "streak", "source": "app", "reference": format!("V-{day}"),
               "occurred_at": start + Duration::days(day), "timezone": "Asia/Tokyo"})
    };
    let mut points = Vec::new();
    for day in [0, 1, 2, 3, 4, 5, 6, 8, 9] {
        let res = app.post(&activities(ALICE), visit(day)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        points.push(res.body["points"].as_i64().unwrap());
    }
    assert_eq!(points, [0, 0, 0, 0, 0, 0, 200, 0, 0]);
    let local_day = start.with_timezone(&chrono_tz::Asia::Tokyo).date_naive();
    let first = app.post(&activities(ALICE), visit(0)).await;
    assert_eq!(first.body["local_day"], json!(local_day));
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn bad_activity_reports_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let before = app.footprint().await;
    let old = Utc::now() - Duration::days(31);
    let cases = [
        (
            json!({"kind": "login", "source": "app", "reference": "X"}),
            "unknown_activity",
        ),
        (
            json!({"kind": "review", "source": "app", "reference": "X", "timezone": "Mars/Olympus"}),
            "invalid_timezone",
        ),
        (
            json!({"kind": "review", "source": "app", "reference": "X", "occurred_at": old}),
            "invalid_occurred_at",
        ),
        (
            json!({"kind": "referral", "source": "app", "reference": "X"}),
            "referred_member_required",
        ),
        (
            json!({"kind": "review", "source": "app", "reference": "X", "referred_member_id": BRUNO}),
            "referred_member_required",
        ),
        (
            json!({"kind": "review", "source": "", "reference": "X"}),
            "invalid_source",
        ),
        (
            json!({"kind": "review", "source": "app", "reference": "bad ref"}),
            "invalid_reference",
        ),
    ];
    for (body, code) in cases {
        let res = app.post(&activities(ALICE), body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            res.body
        );
        assert_eq!(res.code(), code, "{body}");
    }
    let many: Vec<String> = (0..9).map(|i| format!("h{i}")).collect();
    let res = app
        .post(
            "/v1/members",
            json!({"external_id": "many-hints", "country": "FR", "identity_hints": many}),
        )
        .await;
    assert_eq!(res.code(), "invalid_identity_hints");
    assert_eq!(app.footprint().await, before);
}

#[tokio::test]
async fn a_campaign_for_reviews_adds_to_their_points_under_its_own_cap_and_not_to_bookings() {
    let app = spawn_app().await;
    app.publish_campaign(
        "reviews-double",
        json!({
            "displayName": "Double review points",
            "window": {"start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"},
            "eligibility": {"activities": ["review"]},
            "effect": {"multiplierMilli": 2000},
            "caps": {"perMemberPoints": 60},
        }),
    )
    .await;
    // Demo rule: 50 points a review, at most 100 a day; the campaign doubles them, 60 at most.
    let mut got = Vec::new();
    for reference in ["RVC-1", "RVC-2", "RVC-3"] {
        let res = app.post(&activities(ALICE), review(reference)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        let campaign = &res.body["campaigns"][0];
        got.push((
            res.body["activity_points"].as_i64().unwrap(),
            campaign["points"].as_i64().unwrap_or(0),
            campaign["capped_by"].as_str().unwrap_or("").to_owned(),
            res.body["points"].as_i64().unwrap(),
        ));
    }
    assert_eq!(
        got,
        vec![
            (50, 50, String::new(), 100),
            (50, 10, "per_member_cap".into(), 60),
            (0, 0, String::new(), 0),
        ]
    );
    assert_eq!(app.balance(ALICE).await["available"], 160);
    let history = app.get(&format!("/v1/members/{ALICE}/history")).await.body;
    let newest = &history["entries"][0]["details"];
    assert_eq!(newest["activity_points"], 50, "{history:#}");
    assert_eq!(
        newest["campaigns"][0]["campaign"],
        "marketing/reviews-double"
    );
    // A booking earns nothing from a campaign for reviews.
    let quote = app
        .post(
            "/v1/quote",
            json!({"product": "hotel", "spend": {"amount_minor": 10_000, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    assert_eq!(quote.body["campaigns"], json!([]), "{}", quote.body);
    app.assert_audit_clean().await;
}
