//! Statements: opening balance + the period's movements = closing balance, for random periods
//! over a random history; CSV; bad periods.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ALICE, TestApp, spawn_app};

/// A small deterministic generator: the same history and periods on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// Earns, redemptions, holds with captures and voids, in a random order.
async fn random_history(app: &TestApp, rng: &mut Rng) {
    app.fund(ALICE, "ST-0", 5_000).await;
    let member = format!("/v1/members/{ALICE}");
    for i in 1..40 {
        match rng.next(4) {
            0 => {
                // Not `fund`: tier multipliers change the points as the history grows.
                let spend = 100 + rng.next(5_000);
                let body = json!({"source": "hotel-bookings", "booking_ref": format!("ST-{i}"),
                                  "product": "hotel", "spend": {"amount_minor": spend, "currency": "EUR"}});
                app.post(&format!("{member}/earn"), body).await;
            }
            1 => {
                let body = json!({"points": 1 + rng.next(50), "reference": format!("R-{i}")});
                app.post(&format!("{member}/redeem"), body).await;
            }
            _ => {
                let body = json!({"points": 1 + rng.next(80), "reference": format!("H-{i}")});
                let hold = app.post(&format!("{member}/holds"), body).await.body;
                let end = if rng.next(2) == 0 { "capture" } else { "void" };
                let path = format!("{member}/holds/{}/{end}", hold["hold_id"].as_str().unwrap());
                app.post(&path, json!({})).await;
            }
        }
    }
}

fn period(from: DateTime<Utc>, to: DateTime<Utc>, format: &str) -> String {
    let q = |t: DateTime<Utc>| t.to_rfc3339().replace('+', "%2B");
    format!(
        "/v1/members/{ALICE}/statement?from={}&to={}&format={format}",
        q(from),
        q(to)
    )
}

fn amounts(v: &Value) -> [i64; 3] {
    ["available", "pending", "held"].map(|k| v[k].as_i64().unwrap())
}

#[tokio::test]
async fn opening_plus_the_periods_movements_is_the_closing_balance_for_random_periods() {
    let app = spawn_app().await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    random_history(&app, &mut rng).await;
    let stamps: Vec<DateTime<Utc>> = app
        .sql()
        .await
        .query(
            "SELECT created_at FROM ledger_entries WHERE member_id = $1 ORDER BY seq",
            &[&ALICE],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let first = stamps[0] - Duration::seconds(1);
    let last = *stamps.last().unwrap() + Duration::seconds(1);
    for case in 0..40 {
        // Boundaries on entries (inclusive from, exclusive to) and between them.
        let pick = |rng: &mut Rng| match rng.next(3) {
            0 => stamps[rng.next(stamps.len() as u64) as usize],
            1 => stamps[rng.next(stamps.len() as u64) as usize] + Duration::microseconds(1),
            _ => {
                first
                    + Duration::microseconds(
                        rng.next((last - first).num_microseconds().unwrap() as u64) as i64,
                    )
            }
        };
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let (from, to) = if a < b {
            (a, b)
        } else if b < a {
            (b, a)
        } else {
            continue;
        };
        let s = app.get(&period(from, to, "json")).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        let mut sum = amounts(&s.body["opening"]);
        for line in s.body["lines"].as_array().unwrap() {
            for (total, delta) in sum.iter_mut().zip(amounts(line)) {
                *total += delta;
            }
        }
        assert_eq!(
            sum,
            amounts(&s.body["closing"]),
            "case {case}: {from} .. {to}"
        );
        let inside = stamps.iter().filter(|t| **t >= from && **t < to).count();
        assert_eq!(
            s.body["lines"].as_array().unwrap().len(),
            inside,
            "case {case}"
        );
    }
    // A statement up to now closes on the balance.
    let whole = app.get(&period(first, last, "json")).await.body;
    assert_eq!(amounts(&whole["opening"]), [0, 0, 0]);
    assert_eq!(
        amounts(&whole["closing"]),
        amounts(&app.balance(ALICE).await)
    );
    assert_eq!(whole["lines"].as_array().unwrap().len(), stamps.len());
}

#[tokio::test]
async fn a_csv_statement_has_an_opening_row_a_row_per_entry_and_a_closing_row() {
    let app = spawn_app().await;
    app.fund(ALICE, "CSV-1", 120).await;
    let now = Utc::now();
    let res = app
        .get(&period(
            now - Duration::hours(1),
            now + Duration::hours(1),
            "csv",
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let text = res.body.as_str().unwrap_or_default().to_owned();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows[0],
        "row,seq,at,kind,reason,source,reference,available,pending,held"
    );
    assert!(rows[1].starts_with("opening,,"), "{text}");
    assert!(
        rows[2].starts_with("entry,1,") && rows[2].ends_with(",120,0,0"),
        "{text}"
    );
    assert!(
        rows[3].starts_with("closing,,") && rows[3].ends_with(",120,0,0"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_periods_are_refused() {
    let app = spawn_app().await;
    let now = Utc::now();
    let path = format!("/v1/members/{ALICE}/statement");
    for (query, code) in [
        (period(now, now, "json"), "invalid_period"),
        (
            period(now, now - Duration::days(1), "json"),
            "invalid_period",
        ),
        (
            period(now - Duration::days(401), now, "json"),
            "invalid_period",
        ),
        (period(now - Duration::days(1), now, "xml"), "invalid_query"),
        (format!("{path}?to=2026-01-01T00:00:00Z"), "invalid_query"),
        (
            format!("{path}?from=yesterday&to=2026-01-01T00:00:00Z"),
            "invalid_query",
        ),
    ] {
        let res = app.get(&query).await;
        // A malformed query is 400; a well-formed period the rules refuse is 422.
        let status = if code == "invalid_period" {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(res.status, status, "{query}: {}", res.body);
        assert_eq!(res.code(), code, "{query}");
    }
}

#[tokio::test]
async fn the_export_holds_everything_about_the_member_and_nothing_about_others() {
    let app = spawn_app().await;
    let mut rng = Rng(7);
    random_history(&app, &mut rng).await;
    app.fund(crate::helpers::BRUNO, "EX-BRUNO", 10).await;
    let res = app.get(&format!("/v1/members/{ALICE}/export")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let export = &res.body;
    assert_eq!(export["format"], "loyalty-export/1");
    assert_eq!(export["member"]["member_id"], json!(ALICE));
    let sql = app.sql().await;
    for (section, table) in [
        ("ledger_entries", "ledger_entries"),
        ("lots", "lots"),
        ("holds", "holds"),
    ] {
        let n: i64 = sql
            .query_one(
                &format!("SELECT COUNT(*)::BIGINT FROM {table} WHERE member_id = $1"),
                &[&ALICE],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            export[section].as_array().unwrap().len() as i64,
            n,
            "{section}"
        );
    }
    assert_eq!(
        amounts(&export["balance"]),
        amounts(&app.balance(ALICE).await)
    );
    let text = export.to_string();
    assert!(
        !text.contains("EX-BRUNO"),
        "another member's data in the export"
    );
    let missing = app
        .get(&format!("/v1/members/{}/export", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
