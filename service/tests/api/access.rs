//! Who may call what, as a matrix: every authenticated route × every kind of token. The
//! expected table is written out here, independently of `auth::policy::RULES`, so a rule
//! that drifts from the documented scope table (docs/security.md) fails. A member's token
//! reaches only its own member: on every route about another member it gets the same 404 as
//! an unknown member (OWASP API1), and nothing is written.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use loyalty_service::auth::Scope;

use crate::helpers::{ALICE, BRUNO, TestApp, spawn_app, token};

/// The kinds of caller, and the token each one holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Alice's own token.
    Alice,
    Booking,
    Checkout,
    Support,
    Admin,
    /// Air France's system (`loyalty:partner`, partner code AF).
    Partner,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Alice,
        Kind::Booking,
        Kind::Checkout,
        Kind::Support,
        Kind::Admin,
        Kind::Partner,
    ];

    fn token(self) -> String {
        match self {
            Kind::Alice => token(&ALICE.to_string(), &[Scope::Member]),
            Kind::Booking => token("hotel-bookings", &[Scope::Earn]),
            Kind::Checkout => token("checkout", &[Scope::Bookings]),
            Kind::Support => token("support-7", &[Scope::Support]),
            Kind::Admin => token("ops", &[Scope::Admin]),
            Kind::Partner => crate::partners::partner_token("AF"),
        }
    }
}

struct Route {
    method: &'static str,
    /// `{m}` stands for the member the request is about, `{h}` for a hold or review id.
    path: &'static str,
    body: Value,
    allowed: &'static [Kind],
}

fn routes() -> Vec<Route> {
    use Kind::*;
    let booking = json!({"source": "hotel-bookings", "booking_ref": "BK-M", "product": "hotel",
                         "spend": {"amount_minor": 1_000, "currency": "EUR"}});
    let route = |method, path, body: Value, allowed| Route {
        method,
        path,
        body,
        allowed,
    };
    vec![
        route(
            "POST",
            "/v1/members",
            json!({"external_id": "cust-matrix", "country": "FR"}),
            &[Booking, Support],
        ),
        route("GET", "/v1/members/{m}", Value::Null, &[Alice, Support]),
        route(
            "GET",
            "/v1/members/{m}/balance",
            Value::Null,
            &[Alice, Support, Checkout],
        ),
        route(
            "GET",
            "/v1/members/{m}/history",
            Value::Null,
            &[Alice, Support],
        ),
        route(
            "GET",
            "/v1/members/{m}/expiring",
            Value::Null,
            &[Alice, Support],
        ),
        route(
            "GET",
            "/v1/members/{m}/statement?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z",
            Value::Null,
            &[Alice, Support],
        ),
        route(
            "GET",
            "/v1/members/{m}/export",
            Value::Null,
            &[Alice, Support],
        ),
        route(
            "GET",
            "/v1/members/{m}/rank",
            Value::Null,
            &[Alice, Support],
        ),
        route("POST", "/v1/members/{m}/earn", booking, &[Booking]),
        route(
            "POST",
            "/v1/members/{m}/reversals",
            json!({"source": "hotel-bookings", "booking_ref": "BK-NONE", "points": 1}),
            &[Booking],
        ),
        route(
            "POST",
            "/v1/members/{m}/activities",
            json!({"kind": "review", "source": "reviews", "reference": "RV-M"}),
            &[Booking],
        ),
        route(
            "POST",
            "/v1/quote",
            json!({"product": "hotel", "spend": {"amount_minor": 1_000, "currency": "EUR"}}),
            &[Alice, Booking, Checkout, Support],
        ),
        route(
            "POST",
            "/v1/valuation",
            json!({"product": "hotel", "currency": "EUR", "points": 500}),
            &[Alice, Checkout, Support],
        ),
        route(
            "POST",
            "/v1/members/{m}/holds",
            json!({"points": 1, "reference": "H-M"}),
            &[Alice, Checkout],
        ),
        route(
            "POST",
            "/v1/members/{m}/holds/{h}/capture",
            json!({}),
            &[Checkout],
        ),
        route(
            "POST",
            "/v1/members/{m}/holds/{h}/void",
            Value::Null,
            &[Alice, Checkout],
        ),
        route(
            "POST",
            "/v1/members/{m}/redeem",
            json!({"points": 1, "reference": "R-M"}),
            &[Alice, Checkout],
        ),
        route(
            "POST",
            "/v1/members/{m}/transfers",
            json!({"to_member_id": Uuid::new_v4(), "points": 1, "reference": "T-M"}),
            &[Alice],
        ),
        route(
            "GET",
            "/v1/leaderboard",
            Value::Null,
            &[Alice, Booking, Checkout, Support, Admin],
        ),
        route("GET", "/v1/admin/audit", Value::Null, &[Admin]),
        route("POST", "/v1/admin/jobs/sweep", Value::Null, &[Admin]),
        route("GET", "/v1/admin/reviews", Value::Null, &[Support, Admin]),
        route(
            "POST",
            "/v1/admin/reviews/{h}/approve",
            Value::Null,
            &[Support, Admin],
        ),
        route(
            "POST",
            "/v1/admin/reviews/{h}/reject",
            Value::Null,
            &[Support, Admin],
        ),
        route(
            "GET",
            "/v1/admin/partners/AF/dead-letters",
            Value::Null,
            &[Admin],
        ),
        route(
            "POST",
            "/v1/admin/partners/AF/dead-letters/replay",
            Value::Null,
            &[Admin],
        ),
        route(
            "POST",
            "/v1/admin/partners/AF/dead-letters/{h}/replay",
            Value::Null,
            &[Admin],
        ),
        // No partner is published here: the partner's own token gets 404 partner_not_found
        // (the signature checks have their own table in partners.rs).
        route(
            "POST",
            "/v1/partners/AF/bonuses",
            json!({"member_id": Uuid::new_v4(), "points": 1, "reference": "P-M"}),
            &[Partner],
        ),
        // Last: it erases the member the matrix calls every other route for.
        route("POST", "/v1/members/{m}/erasure", Value::Null, &[Support]),
    ]
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    route: &Route,
    member: Uuid,
) -> (StatusCode, Value) {
    let path = route
        .path
        .replace("{m}", &member.to_string())
        .replace("{h}", &Uuid::new_v4().to_string());
    let url = format!("{}{path}", app.base);
    let http = reqwest::Client::new();
    let mut req = if route.method == "GET" {
        http.get(url)
    } else {
        http.post(url)
    };
    if !route.body.is_null() {
        req = req.json(&route.body);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn is_about_a_member(route: &Route) -> bool {
    route.path.contains("{m}")
}

#[tokio::test]
async fn every_route_answers_every_kind_of_token_as_the_scope_table_says() {
    let app = spawn_app().await;
    app.fund(ALICE, "BK-FUND", 1_000).await;
    app.fund(BRUNO, "BK-FUND-B", 1_000).await;
    assert_eq!(
        routes().len(),
        loyalty_service::auth::policy::RULES.len() - 4,
        "a route is missing from the matrix"
    );
    for route in routes() {
        let (status, body) = call(&app, None, &route, ALICE).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{} {} without a token: {body}",
            route.method,
            route.path
        );
        for kind in Kind::ALL {
            let (status, body) = call(&app, Some(&kind.token()), &route, ALICE).await;
            let what = format!(
                "{} {} as {kind:?}: {status} {body}",
                route.method, route.path
            );
            if route.allowed.contains(&kind) {
                assert!(!matches!(status.as_u16(), 401 | 403), "{what}");
                assert_ne!(body["error"]["code"], "member_not_found", "{what}");
                assert!(status.as_u16() < 500, "{what}");
            } else {
                // Alice's token on a route of hers it may not use is 403 too: it is hers,
                // so there is nothing to hide.
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                assert_eq!(body["error"]["code"], "insufficient_scope", "{what}");
            }
        }
    }
}

#[tokio::test]
async fn a_member_token_finds_no_other_member_on_any_route_and_writes_nothing() {
    let app = spawn_app().await;
    app.fund(BRUNO, "BK-FUND-B", 1_000).await;
    let alice = Kind::Alice.token();
    let before = app.footprint().await;
    let unknown = Uuid::new_v4();
    for route in routes().into_iter().filter(is_about_a_member) {
        let (status, body) = call(&app, Some(&alice), &route, BRUNO).await;
        let what = format!(
            "{} {} for Bruno with Alice's token: {status} {body}",
            route.method, route.path
        );
        assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
        assert_eq!(body["error"]["code"], "member_not_found", "{what}");
        // Indistinguishable from a member that does not exist, as support sees it.
        let (status, body) = call(&app, Some(&Kind::Support.token()), &route, unknown).await;
        if route.method == "GET" && route.allowed.contains(&Kind::Support) {
            assert_eq!(
                (status, body["error"]["code"].clone()),
                (StatusCode::NOT_FOUND, json!("member_not_found"))
            );
        }
    }
    let quote = json!({"product": "hotel", "spend": {"amount_minor": 1_000, "currency": "EUR"}, "member_id": BRUNO});
    let res = app.with_token(Some(&alice)).post("/v1/quote", quote).await;
    assert_eq!(
        (res.status, res.code()),
        (StatusCode::NOT_FOUND, "member_not_found"),
        "a quote for Bruno's tier"
    );
    assert_eq!(
        app.footprint().await,
        before,
        "a refused request wrote something"
    );
}
