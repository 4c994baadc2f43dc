//! Points at checkout: the valuation both ways, and holds and redemptions that name their
//! booking, checked against the redemption rules inside the transaction.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ALICE, spawn_app};

fn valuation(points: Option<i64>, discount: Option<i64>, price: Option<i64>) -> Value {
    json!({"product": "hotel", "currency": "EUR", "points": points,
           "discount_minor": discount, "price_minor": price})
}

#[tokio::test]
async fn the_valuation_answers_both_ways_with_one_rounding_rule() {
    let app = spawn_app().await;
    // Demo rules: a Basic point is worth 1 cent; hotel from 500 points in steps of 100, up
    // to half the price.
    let res = app
        .post("/v1/valuation", valuation(Some(700), None, None))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["discount_minor"], 700);
    assert_eq!(res.body["eur_micro_per_point"], 10_000);
    // 6.01 EUR costs 601 points, rounded up to the step: 700 points, worth 7.00 EUR.
    let res = app
        .post("/v1/valuation", valuation(None, Some(601), None))
        .await;
    assert_eq!(
        (
            res.body["points"].clone(),
            res.body["discount_minor"].clone()
        ),
        (json!(700), json!(700))
    );
    // 500 points in yen: 5.00 EUR is 819.67 JPY, rounded down.
    let yen = json!({"product": "hotel", "currency": "JPY", "points": 500});
    assert_eq!(
        app.post("/v1/valuation", yen).await.body["discount_minor"],
        819
    );
}

#[tokio::test]
async fn valuations_that_break_a_rule_are_refused_with_its_code() {
    let app = spawn_app().await;
    let cases = [
        (valuation(Some(400), None, None), "below_minimum_redemption"),
        (valuation(Some(550), None, None), "not_a_redemption_step"),
        (
            valuation(Some(700), None, Some(1_200)),
            "discount_exceeds_share",
        ),
        (valuation(Some(500), Some(500), None), "points_or_discount"),
        (valuation(None, None, None), "points_or_discount"),
        (valuation(Some(0), None, None), "invalid_points"),
        (valuation(None, Some(0), None), "invalid_amount"),
        (valuation(Some(500), None, Some(-1)), "invalid_amount"),
        (
            json!({"product": "experience", "currency": "EUR", "points": 500}),
            "not_redeemable",
        ),
        (
            json!({"product": "hotel", "currency": "XXX", "points": 500}),
            "unknown_currency",
        ),
        (
            json!({"product": "hotel", "currency": "eur", "points": 500}),
            "invalid_currency",
        ),
        (
            json!({"product": "boat", "currency": "EUR", "points": 500}),
            "unknown_product",
        ),
    ];
    for (body, code) in cases {
        let res = app.post("/v1/valuation", body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            res.body
        );
        assert_eq!(res.code(), code, "{body}");
    }
}

fn hold(points: i64, price_minor: i64, product: &str) -> Value {
    json!({"points": points, "reference": format!("CHK-{points}-{price_minor}-{product}"),
           "booking": {"product": product, "price": {"amount_minor": price_minor, "currency": "EUR"}}})
}

#[tokio::test]
async fn a_hold_or_redemption_naming_its_booking_keeps_the_rules_and_records_the_discount() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-CHK", 5_000).await;
    let holds = format!("/v1/members/{ALICE}/holds");
    let redeem = format!("/v1/members/{ALICE}/redeem");
    let before = app.footprint().await;
    for (path, body, code) in [
        (
            &holds,
            hold(400, 100_000, "hotel"),
            "below_minimum_redemption",
        ),
        (&holds, hold(650, 100_000, "hotel"), "not_a_redemption_step"),
        (&holds, hold(700, 1_200, "hotel"), "discount_exceeds_share"),
        (&redeem, hold(500, 100_000, "experience"), "not_redeemable"),
        (
            &redeem,
            hold(999, 100_000, "flight"),
            "below_minimum_redemption",
        ),
    ] {
        let res = app.post(path, body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            res.body
        );
        assert_eq!(res.code(), code, "{body}");
    }
    assert_eq!(
        app.footprint().await,
        before,
        "a refused checkout wrote something"
    );

    let res = app.post(&holds, hold(600, 1_200, "hotel")).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["discount"]["discount_minor"], 600);
    assert_eq!(res.body["discount"]["max_discount_minor"], 600);
    let res = app.post(&redeem, hold(1_000, 10_000, "hotel")).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["discount"]["discount_minor"], 1_000);
    let history = app.get(&format!("/v1/members/{ALICE}/history")).await.body;
    let redemption = &history["entries"][0];
    assert_eq!(
        redemption["details"]["discount"]["discount_minor"], 1_000,
        "{history:#}"
    );
    // Without a booking the rules do not apply: a plain redemption moves any number of points.
    let res = app
        .post(&redeem, json!({"points": 7, "reference": "PLAIN-7"}))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert!(res.body.get("discount").is_none());
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn the_quote_values_points_on_the_booking_it_prices() {
    let app = spawn_app().await;
    let quote = json!({"product": "hotel", "spend": {"amount_minor": 20_000, "currency": "EUR"},
                       "redeem_points": 1_000});
    let res = app.post("/v1/quote", quote).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["redemption"]["discount_minor"], 1_000);
    assert_eq!(res.body["redemption"]["max_discount_minor"], 10_000);
}
