//! Programme rules: campaigns (calendar, stacking, caps, budgets), tiers, expiry, vesting.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ALICE, TestApp, spawn_app, spawn_app_on, test_config};

fn campaign(mode: &str, priority: i32, effect: Value) -> Value {
    json!({
        "displayName": "test campaign",
        "window": {"start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z", "timezone": "Europe/Paris"},
        "effect": effect,
        "stacking": {"mode": mode, "priority": priority},
    })
}

/// The names of the campaigns a quote applied, in order.
fn applied(q: &Value) -> Vec<String> {
    q["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn quote(app: &TestApp, booked_at: &str) -> Value {
    let res = app
        .post("/v1/quote", json!({"product": "hotel", "spend": {"amount_minor": 10_000, "currency": "EUR"}, "booked_at": booked_at}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body
}

#[tokio::test]
async fn a_paris_weekend_campaign_starts_and_ends_at_local_midnight_across_dst() {
    let app = spawn_app().await;
    let mut spec = campaign("BestOf", 10, json!({"multiplierMilli": 2000}));
    spec["window"]["recurrence"] = json!({"daysOfWeek": ["Saturday", "Sunday"]});
    spec["eligibility"] = json!({"productTypes": ["hotel"]});
    app.publish_campaign("2x-weekend", spec).await;
    // 100 EUR at a hotel: 1000 base points; doubled at the weekend.
    for (booked_at, points) in [
        ("2026-03-27T23:59:59+01:00", 1_000), // Friday, just before
        ("2026-03-28T00:00:00+01:00", 2_000), // Saturday 00:00: inclusive start
        ("2026-03-29T03:30:00+02:00", 2_000), // Sunday, after the spring-forward gap
        ("2026-03-29T23:59:59+02:00", 2_000), // Sunday, last second (summer time)
        ("2026-03-30T00:00:00+02:00", 1_000), // Monday 00:00: exclusive end
        ("2026-10-24T00:00:00+02:00", 2_000), // Saturday before the autumn change
        ("2026-10-25T02:30:00+01:00", 2_000), // Sunday, the repeated hour
        ("2026-10-25T23:59:59+01:00", 2_000), // Sunday, last second (winter time)
        ("2026-10-26T00:00:00+01:00", 1_000), // Monday
    ] {
        let q = quote(&app, booked_at).await;
        assert_eq!(q["points"], points, "{booked_at}: {q}");
    }
    let earn = app
        .post(
            &format!("/v1/members/{ALICE}/earn"),
            json!({"source": "hotel-bookings", "booking_ref": "WKND-1", "product": "hotel",
                   "spend": {"amount_minor": 10_000, "currency": "EUR"}, "booked_at": "2026-10-24T10:00:00+02:00"}),
        )
        .await;
    assert_eq!(earn.body["points"], 2_000, "{}", earn.body);
    let history = app
        .get(&format!("/v1/members/{ALICE}/history?limit=1"))
        .await;
    let why = &history.body["entries"][0]["details"]["campaigns"][0];
    assert_eq!(why["campaign"], "marketing/2x-weekend");
    assert_eq!(why["points"], 1_000);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn stacking_applies_additive_and_the_best_of_unless_an_exclusive_applies() {
    let app = spawn_app().await;
    for (name, mode, priority, effect) in [
        ("bonus-100", "Additive", 1, json!({"bonusPoints": 100})),
        ("half-more", "Additive", 1, json!({"multiplierMilli": 1500})),
        ("double", "BestOf", 1, json!({"multiplierMilli": 2000})),
        ("triple", "BestOf", 1, json!({"multiplierMilli": 3000})),
    ] {
        app.publish_campaign(name, campaign(mode, priority, effect))
            .await;
    }
    let q = quote(&app, "2026-11-01T12:00:00Z").await;
    assert_eq!(applied(&q), vec!["bonus-100", "half-more", "triple"], "{q}");
    // 1000 base + 100 bonus + 500 (1.5x) + 2000 (3x, best of) = 3600.
    assert_eq!(q["points"], 3_600);

    for (name, priority, multiplier) in [("exclusive-low", 1, 1100), ("exclusive-high", 5, 1200)] {
        app.publish_campaign(
            name,
            campaign(
                "Exclusive",
                priority,
                json!({"multiplierMilli": multiplier}),
            ),
        )
        .await;
    }
    let q = quote(&app, "2026-11-01T12:00:00Z").await;
    assert_eq!(applied(&q), vec!["exclusive-high"], "{q}");
    assert_eq!(q["points"], 1_200);
}

#[tokio::test]
async fn a_per_member_cap_cuts_the_grant_within_its_window() {
    let app = spawn_app().await;
    let mut spec = campaign("Additive", 1, json!({"bonusPoints": 100}));
    spec["caps"] = json!({"perMemberPoints": 150, "perMemberWindow": "Day"});
    app.publish_campaign("capped", spec).await;
    let mut granted = Vec::new();
    for i in 0..3 {
        let res = app.fund_with_bonus(i).await;
        granted.push(res["campaigns"][0]["points"].as_i64().unwrap());
    }
    assert_eq!(granted, vec![100, 50, 0]);
    app.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_earns_against_a_budget_for_ten_award_exactly_ten() {
    let app = spawn_app().await;
    let mut spec = campaign("Additive", 1, json!({"bonusPoints": 50}));
    spec["caps"] = json!({"budgetPoints": 500});
    app.publish_campaign("budgeted", spec).await;
    let mut members = Vec::new();
    for i in 0..100 {
        let res = app
            .post(
                "/v1/members",
                json!({"external_id": format!("budget-{i}"), "country": "FR"}),
            )
            .await;
        members.push(res.body["member_id"].as_str().unwrap().to_owned());
    }
    let results = join_all(members.iter().enumerate().map(|(i, m)| {
        let app = &app;
        async move {
            app.post(
                &format!("/v1/members/{m}/earn"),
                json!({"source": "hotel-bookings", "booking_ref": format!("BUD-{i}"), "product": "hotel",
                       "spend": {"amount_minor": 1_000, "currency": "EUR"}}),
            )
            .await
        }
    }))
    .await;
    let mut awarded = 0;
    for r in &results {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let bonus = r.body["campaigns"][0]["points"].as_i64().unwrap();
        assert!(bonus == 0 || bonus == 50, "{}", r.body);
        awarded += bonus;
    }
    assert_eq!(awarded, 500);
    assert_eq!(
        results
            .iter()
            .filter(|r| r.body["campaigns"][0]["points"] == 50)
            .count(),
        10
    );
    let spent: i64 = app
        .sql()
        .await
        .query_one("SELECT spent FROM campaign_budgets", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(spent, 500);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn crossing_a_threshold_upgrades_the_tier_in_the_same_earn_and_its_multiplier_applies() {
    let app = spawn_app().await;
    let first = app.fund(ALICE, "BK-1", 4_999).await;
    assert!(first.body.get("tier_upgraded_to").is_none());
    let second = app.fund(ALICE, "BK-2", 1).await;
    assert_eq!(second.body["tier_upgraded_to"], "silver", "{}", second.body);
    assert_eq!(app.balance(ALICE).await["tier"], "silver");
    // Silver earns 1.25x: 100 EUR at a hotel is 1250 points.
    let third = app
        .post(
            &format!("/v1/members/{ALICE}/earn"),
            json!({"source": "hotel-bookings", "booking_ref": "BK-3", "product": "hotel", "spend": {"amount_minor": 10_000, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(third.body["points"], 1_250, "{}", third.body);
    assert_eq!(third.body["tier_multiplier_milli"], 1_250);
    let history: i64 = app
        .sql()
        .await
        .query_one(
            "SELECT COUNT(*)::BIGINT FROM tier_history WHERE member_id = $1 AND to_tier = 'silver'",
            &[&ALICE],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, 1);
    app.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_expiry_runners_expire_each_lot_exactly_once() {
    let a = spawn_app().await;
    let b = spawn_app_on(&a.db_url, test_config()).await;
    a.fund(ALICE, "BK-1", 300).await;
    a.fund(ALICE, "BK-2", 200).await;
    a.fund(ALICE, "BK-3", 100).await;
    a.post(
        &format!("/v1/members/{ALICE}/redeem"),
        json!({"points": 250, "reference": "R-1"}),
    )
    .await;
    let sql = a.sql().await;
    // BK-1 (50 left after the redemption) and BK-2 (200) expire; BK-3 does not.
    sql.execute(
        "UPDATE lots SET expires_at = now() - INTERVAL '1 day' WHERE earn_seq IN (1, 2)",
        &[],
    )
    .await
    .unwrap();
    let (x, y) = tokio::join!(
        a.post("/v1/admin/jobs/sweep", json!(null)),
        b.post("/v1/admin/jobs/sweep", json!(null))
    );
    let total = x.body["lots_expired"].as_i64().unwrap() + y.body["lots_expired"].as_i64().unwrap();
    assert_eq!(total, 2, "{} {}", x.body, y.body);
    let again = a.post("/v1/admin/jobs/sweep", json!(null)).await;
    assert_eq!(again.body["lots_expired"], 0);
    let expired: Vec<i64> = sql
        .query(
            "SELECT -available_delta FROM ledger_entries WHERE kind = 'expire' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(expired, vec![50, 200]);
    assert_eq!(a.balance(ALICE).await["available"], 100);
    a.assert_audit_clean().await;
}

#[tokio::test]
async fn pending_points_are_visible_not_spendable_and_vest_on_time() {
    let app = spawn_app().await;
    let vests_at = (chrono::Utc::now() + chrono::Duration::milliseconds(1_500)).to_rfc3339();
    let res = app
        .post(
            &format!("/v1/members/{ALICE}/earn"),
            json!({"source": "hotel-bookings", "booking_ref": "STAY-1", "product": "hotel",
                   "spend": {"amount_minor": 5_000, "currency": "EUR"}, "vests_at": vests_at}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["pending"], true);
    let b = app.balance(ALICE).await;
    assert_eq!(
        (b["available"].as_i64(), b["pending"].as_i64()),
        (Some(0), Some(500))
    );
    let spend = app
        .post(
            &format!("/v1/members/{ALICE}/redeem"),
            json!({"points": 1, "reference": "R"}),
        )
        .await;
    assert_eq!(spend.code(), "insufficient_points");
    let early = app.post("/v1/admin/jobs/sweep", json!(null)).await;
    assert_eq!(early.body["lots_vested"], 0);
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let sweep = app.post("/v1/admin/jobs/sweep", json!(null)).await;
    assert_eq!(sweep.body["lots_vested"], 1);
    let b = app.balance(ALICE).await;
    assert_eq!(
        (
            b["available"].as_i64(),
            b["pending"].as_i64(),
            b["lifetime"].as_i64()
        ),
        (Some(500), Some(0), Some(500))
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn cancelling_a_booking_before_it_vests_voids_its_pending_points() {
    let app = spawn_app().await;
    let vests_at = (chrono::Utc::now() + chrono::Duration::days(14)).to_rfc3339();
    app.post(
        &format!("/v1/members/{ALICE}/earn"),
        json!({"source": "hotel-bookings", "booking_ref": "STAY-2", "product": "hotel",
               "spend": {"amount_minor": 5_000, "currency": "EUR"}, "vests_at": vests_at}),
    )
    .await;
    let res = app
        .post(
            &format!("/v1/members/{ALICE}/reversals"),
            json!({"source": "hotel-bookings", "booking_ref": "STAY-2"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["shortfall"], 0);
    let b = app.balance(ALICE).await;
    assert_eq!(
        (
            b["available"].as_i64(),
            b["pending"].as_i64(),
            b["lifetime"].as_i64()
        ),
        (Some(0), Some(0), Some(0))
    );
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn expiring_soon_lists_the_lots_due_within_the_window() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 100).await;
    app.fund(ALICE, "BK-2", 200).await;
    app.sql()
        .await
        .execute(
            "UPDATE lots SET expires_at = now() + INTERVAL '5 days' WHERE earn_seq = 2",
            &[],
        )
        .await
        .unwrap();
    let week = app
        .get(&format!("/v1/members/{ALICE}/expiring?days=7"))
        .await;
    assert_eq!(week.body["points"], 200, "{}", week.body);
    let day = app
        .get(&format!("/v1/members/{ALICE}/expiring?days=1"))
        .await;
    assert_eq!(day.body["points"], 0);
    let bad = app
        .get(&format!("/v1/members/{ALICE}/expiring?days=0"))
        .await;
    assert_eq!(bad.code(), "invalid_days");
}

#[tokio::test]
async fn the_sweep_prunes_idempotency_records_past_their_retention() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 100).await;
    let path = format!("/v1/members/{ALICE}/redeem");
    app.post_idem(&path, "old-key", json!({"points": 10, "reference": "R-1"}))
        .await;
    app.post_idem(&path, "new-key", json!({"points": 10, "reference": "R-2"}))
        .await;
    let sql = app.sql().await;
    sql.execute("UPDATE idempotency_keys SET created_at = now() - INTERVAL '73 hours' WHERE key = 'c:old-key'", &[])
        .await
        .unwrap();
    let sweep = app.post("/v1/admin/jobs/sweep", json!(null)).await;
    assert_eq!(sweep.body["idempotency_keys_pruned"], 1, "{}", sweep.body);
    let left: Vec<String> = sql
        .query("SELECT key FROM idempotency_keys WHERE key LIKE 'c:%'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, vec!["c:new-key"]);
}

#[tokio::test]
async fn qualifying_points_age_out_and_the_tier_drops_only_after_the_grace_period() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 5_000).await;
    assert_eq!(app.balance(ALICE).await["tier"], "silver");
    let sql = app.sql().await;
    sql.execute(
        "UPDATE lots SET qualifying_until = now() - INTERVAL '1 second' WHERE member_id = $1",
        &[&ALICE],
    )
    .await
    .unwrap();
    let sweep = app.post("/v1/admin/jobs/sweep", json!(null)).await;
    assert_eq!(sweep.body["members_aged"], 1, "{}", sweep.body);
    assert_eq!(sweep.body["tiers_downgraded"], 0);
    let b = app.balance(ALICE).await;
    // The points stay spendable; they just no longer qualify. The tier holds during the grace.
    assert_eq!(
        (b["qualifying"].as_i64(), b["available"].as_i64()),
        (Some(0), Some(5_000))
    );
    assert_eq!(b["tier"], "silver");

    sql.execute(
        "UPDATE members SET tier_below_since = now() - INTERVAL '31 days' WHERE id = $1",
        &[&ALICE],
    )
    .await
    .unwrap();
    let sweep = app.post("/v1/admin/jobs/sweep", json!(null)).await;
    assert_eq!(sweep.body["tiers_downgraded"], 1, "{}", sweep.body);
    assert_eq!(app.balance(ALICE).await["tier"], "basic");
    let downgrades: i64 = sql
        .query_one(
            "SELECT COUNT(*)::BIGINT FROM tier_history WHERE member_id = $1 AND to_tier = 'basic'",
            &[&ALICE],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(downgrades, 1);
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn a_reversed_earn_does_not_age_out_of_qualifying_a_second_time() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-1", 1_000).await;
    app.fund(ALICE, "BK-2", 1_000).await;
    app.post(
        &format!("/v1/members/{ALICE}/reversals"),
        json!({"source": "hotel-bookings", "booking_ref": "BK-1"}),
    )
    .await;
    assert_eq!(app.balance(ALICE).await["qualifying"], 1_000);
    let sql = app.sql().await;
    sql.execute(
        "UPDATE lots SET qualifying_until = now() - INTERVAL '1 second' WHERE earn_seq = 1",
        &[],
    )
    .await
    .unwrap();
    app.post("/v1/admin/jobs/sweep", json!(null)).await;
    assert_eq!(app.balance(ALICE).await["qualifying"], 1_000);
    app.assert_audit_clean().await;
}
