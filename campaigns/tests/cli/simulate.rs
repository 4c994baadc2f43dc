//! `simulate` on the marketing examples: the numbers docs/rules.md gives for a booking, and
//! the caps counted across bookings.

use serde_json::Value;

use crate::support::{arg, folder, marketing_campaigns, run};

const SATURDAY: &str = "at=2026-07-04T10:00:00+02:00,product=hotel,amountMinor=15000,currency=EUR,tier=gold,member=alice";

#[test]
fn a_summer_saturday_hotel_booking_earns_the_weekend_multiplier_and_the_summer_bonus() {
    let out = run(&[
        "simulate",
        "--campaigns",
        arg(&marketing_campaigns()),
        "--booking",
        SATURDAY,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // 150 EUR × 10 = 1500 base; gold ×1.5 = 2250; the weekend's 2x adds 2250 more; +500.
    assert!(out.stdout.starts_with("booking 1: hotel 15000 EUR at 2026-07-04T08:00:00+00:00 by alice (Gold): 5000 points = 1500 base × tier 1.500 → 2250\n"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("  + default/2x-weekend 2250 (BestOf, ×2.000 + 0 bonus; planned 2250)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "  + default/summer-hotel-bonus 500 (Additive, ×1.000 + 500 bonus; planned 500)"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn the_per_member_cap_cuts_the_fourth_summer_bonus_and_json_says_so() {
    let bookings: String = (0..4)
        .map(|_| "- {at: \"2026-07-07T10:00:00+02:00\", product: hotel, amountMinor: 15000, currency: EUR, member: bob}\n")
        .collect();
    let dir = folder(&[("bookings.yaml", bookings)]);
    let out = run(&[
        "simulate",
        "--campaigns",
        arg(&marketing_campaigns()),
        "--bookings",
        arg(&dir.path().join("bookings.yaml")),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let priced: Vec<Value> = serde_json::from_str(&out.stdout).expect("JSON");
    let points: Vec<i64> = priced
        .iter()
        .map(|p| p["points"].as_i64().unwrap())
        .collect();
    // A Tuesday: no weekend multiplier; basic tier; the 1500-point cap allows three bonuses.
    assert_eq!(points, [2000, 2000, 2000, 1500]);
    let last = &priced[3]["campaigns"][0];
    assert_eq!(last["campaign"], "default/summer-hotel-bonus");
    assert_eq!(
        (last["planned"].as_i64(), last["points"].as_i64()),
        (Some(500), Some(0))
    );
    assert_eq!(last["capped_by"], "per_member_cap");
    assert_eq!(priced[0]["calculation"]["base_points"], 1500);
}
