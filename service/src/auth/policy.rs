//! Who may call which route: one rule per routed operation, spelled once, here. The
//! middleware enforces it, the OpenAPI document declares it, and a test checks that every
//! routed operation has exactly one rule (a new route without one is refused by default).

use axum::http::Method;
use uuid::Uuid;

use super::{Caller, Scope};

/// How a route is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Probes, scrapers and the API description: no token.
    Public,
    /// A token with any of these scopes. [`Scope::Member`] grants only the token's own
    /// member: on a route about another member, a member token gets 404.
    AnyOf(&'static [Scope]),
}

use Scope::{Admin, Bookings, Earn, Member, Partner, Support};

const READ_MEMBER: &[Scope] = &[Member, Support];
const ANYONE: &[Scope] = &[Member, Earn, Bookings, Support, Admin];
/// Who works the fraud review queue (docs/fraud.md).
const REVIEWERS: &[Scope] = &[Support, Admin];

/// (method, route as routed, access).
pub const RULES: &[(Method, &str, Access)] = &[
    (Method::GET, "/healthz", Access::Public),
    (Method::GET, "/readyz", Access::Public),
    (Method::GET, "/metrics", Access::Public),
    (Method::GET, "/openapi.json", Access::Public),
    (Method::POST, "/v1/members", Access::AnyOf(&[Earn, Support])),
    (
        Method::GET,
        "/v1/members/{member_id}",
        Access::AnyOf(READ_MEMBER),
    ),
    (
        Method::GET,
        "/v1/members/{member_id}/balance",
        Access::AnyOf(&[Member, Support, Bookings]),
    ),
    (
        Method::GET,
        "/v1/members/{member_id}/history",
        Access::AnyOf(READ_MEMBER),
    ),
    (
        Method::GET,
        "/v1/members/{member_id}/expiring",
        Access::AnyOf(READ_MEMBER),
    ),
    (
        Method::GET,
        "/v1/members/{member_id}/statement",
        Access::AnyOf(READ_MEMBER),
    ),
    (
        Method::GET,
        "/v1/members/{member_id}/export",
        Access::AnyOf(READ_MEMBER),
    ),
    // Erasure is the privacy team's (support), never the member's own token (a stolen one
    // must not be able to destroy an account) nor the platform operators' (admin).
    (
        Method::POST,
        "/v1/members/{member_id}/erasure",
        Access::AnyOf(&[Support]),
    ),
    (
        Method::GET,
        "/v1/members/{member_id}/rank",
        Access::AnyOf(READ_MEMBER),
    ),
    (
        Method::POST,
        "/v1/members/{member_id}/earn",
        Access::AnyOf(&[Earn]),
    ),
    (
        Method::POST,
        "/v1/members/{member_id}/reversals",
        Access::AnyOf(&[Earn]),
    ),
    (
        Method::POST,
        "/v1/members/{member_id}/activities",
        Access::AnyOf(&[Earn]),
    ),
    (
        Method::POST,
        "/v1/quote",
        Access::AnyOf(&[Member, Earn, Bookings, Support]),
    ),
    (
        Method::POST,
        "/v1/valuation",
        Access::AnyOf(&[Member, Bookings, Support]),
    ),
    (
        Method::POST,
        "/v1/members/{member_id}/holds",
        Access::AnyOf(&[Member, Bookings]),
    ),
    (
        Method::POST,
        "/v1/members/{member_id}/holds/{hold_id}/capture",
        Access::AnyOf(&[Bookings]),
    ),
    (
        Method::POST,
        "/v1/members/{member_id}/holds/{hold_id}/void",
        Access::AnyOf(&[Member, Bookings]),
    ),
    (
        Method::POST,
        "/v1/members/{member_id}/redeem",
        Access::AnyOf(&[Member, Bookings]),
    ),
    (
        Method::POST,
        "/v1/members/{member_id}/transfers",
        Access::AnyOf(&[Member]),
    ),
    (Method::GET, "/v1/leaderboard", Access::AnyOf(ANYONE)),
    (Method::GET, "/v1/admin/audit", Access::AnyOf(&[Admin])),
    (
        Method::POST,
        "/v1/admin/jobs/sweep",
        Access::AnyOf(&[Admin]),
    ),
    (Method::GET, "/v1/admin/reviews", Access::AnyOf(REVIEWERS)),
    (
        Method::POST,
        "/v1/admin/reviews/{review_id}/approve",
        Access::AnyOf(REVIEWERS),
    ),
    (
        Method::POST,
        "/v1/admin/reviews/{review_id}/reject",
        Access::AnyOf(REVIEWERS),
    ),
    (
        Method::GET,
        "/v1/admin/partners/{partner_code}/dead-letters",
        Access::AnyOf(&[Admin]),
    ),
    (
        Method::POST,
        "/v1/admin/partners/{partner_code}/dead-letters/replay",
        Access::AnyOf(&[Admin]),
    ),
    (
        Method::POST,
        "/v1/admin/partners/{partner_code}/dead-letters/{event_id}/replay",
        Access::AnyOf(&[Admin]),
    ),
    (
        Method::POST,
        "/v1/partners/{partner_code}/bonuses",
        Access::AnyOf(&[Partner]),
    ),
];

/// The rule of `method` on `route` (the routed pattern, e.g. `/v1/members/{member_id}`).
pub fn rule(method: &Method, route: &str) -> Option<Access> {
    RULES
        .iter()
        .find(|(m, r, _)| m == method && *r == route)
        .map(|(_, _, access)| *access)
}

/// What the middleware does with a caller on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on; the scope that grants it (its rate limit applies).
    Allow(Scope),
    /// A member token on a route about another member: 404, as if there were no such member.
    NotFound,
    /// A partner token on another partner's route: 404, as if there were no such partner.
    PartnerNotFound,
    /// 403: none of the route's scopes.
    Forbidden(&'static [Scope]),
}

/// What a route's path names: a member, a partner, neither or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathObjects<'a> {
    pub member: Option<Uuid>,
    pub partner: Option<&'a str>,
}

/// Decides on a route open to `any_of`, about the objects its path names.
pub fn decide(any_of: &'static [Scope], caller: &Caller, path: PathObjects<'_>) -> Decision {
    if let Some(member) = path.member
        && caller.reaches(member).is_err()
    {
        return Decision::NotFound;
    }
    let Some(scope) = any_of.iter().find(|scope| caller.has(**scope)) else {
        return Decision::Forbidden(any_of);
    };
    // A partner's token acts for its own partner code only.
    if *scope == Partner && path.partner.is_some_and(|code| !caller.acts_for(code)) {
        return Decision::PartnerNotFound;
    }
    Decision::Allow(*scope)
}

/// The objects `path` names where `route` has `{member_id}` and `{partner_code}`. A
/// member segment that is not an id names none (the handler answers that with a 400).
pub fn path_objects<'a>(route: &str, path: &'a str) -> PathObjects<'a> {
    PathObjects {
        member: path_segment(route, path, "{member_id}").and_then(|s| s.parse().ok()),
        partner: path_segment(route, path, "{partner_code}"),
    }
}

fn path_segment<'a>(route: &str, path: &'a str, name: &str) -> Option<&'a str> {
    let at = route.split('/').position(|segment| segment == name)?;
    path.split('/').nth(at)
}

#[cfg(test)]
mod tests {
    use loyalty_crds::common::PartnerCode;

    use super::*;

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);

    fn caller(sub: Uuid, scopes: &[Scope]) -> Caller {
        Caller::new(sub.to_string(), None, scopes.to_vec())
    }

    fn about(member: Uuid) -> PathObjects<'static> {
        PathObjects {
            member: Some(member),
            partner: None,
        }
    }

    #[test]
    fn a_member_reaches_only_itself_and_only_through_member_routes() {
        let a = caller(A, &[Member]);
        assert_eq!(decide(READ_MEMBER, &a, about(A)), Decision::Allow(Member));
        assert_eq!(decide(READ_MEMBER, &a, about(B)), Decision::NotFound);
        assert_eq!(decide(&[Bookings], &a, about(B)), Decision::NotFound);
        assert_eq!(
            decide(&[Bookings], &a, about(A)),
            Decision::Forbidden(&[Bookings])
        );
        assert_eq!(
            decide(&[Admin], &a, PathObjects::default()),
            Decision::Forbidden(&[Admin])
        );
    }

    #[test]
    fn a_service_scope_reaches_every_member() {
        let support = caller(A, &[Support]);
        assert_eq!(
            decide(READ_MEMBER, &support, about(B)),
            Decision::Allow(Support)
        );
        assert_eq!(
            decide(&[Earn], &support, about(B)),
            Decision::Forbidden(&[Earn])
        );
    }

    /// Every documented (so routed: ADR 0012) operation has exactly one rule, and every rule
    /// an operation: a new route cannot be left open by forgetting it here.
    #[test]
    fn every_routed_operation_has_exactly_one_rule() {
        let spec = serde_json::to_value(crate::routes::openapi::spec()).unwrap();
        let mut documented = Vec::new();
        for (route, item) in spec["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.to_uppercase(), route.clone()));
            }
        }
        for (method, route) in &documented {
            let rules = RULES
                .iter()
                .filter(|(m, r, _)| m.as_str() == method && r == route)
                .count();
            assert_eq!(rules, 1, "{method} {route} has {rules} rules");
        }
        for (method, route, _) in RULES {
            let routed = documented
                .iter()
                .any(|(m, r)| m == method.as_str() && r == route);
            assert!(routed, "the rule for {method} {route} matches no operation");
        }
    }

    #[test]
    fn a_partner_token_acts_only_for_its_own_partner_code() {
        let af = caller(A, &[Partner]).for_partner(PartnerCode::new("AF").unwrap());
        let on = |code| PathObjects {
            member: None,
            partner: Some(code),
        };
        assert_eq!(decide(&[Partner], &af, on("AF")), Decision::Allow(Partner));
        assert_eq!(decide(&[Partner], &af, on("HI")), Decision::PartnerNotFound);
        let admin = caller(A, &[Admin]);
        assert_eq!(
            decide(&[Partner], &admin, on("AF")),
            Decision::Forbidden(&[Partner])
        );
    }

    #[test]
    fn the_member_id_is_read_where_the_route_has_it() {
        let route = "/v1/members/{member_id}/holds/{hold_id}/void";
        let member = |path: &str| path_objects(route, path).member;
        let of_a = format!("/v1/members/{A}/holds/x/void");
        assert_eq!(member(&of_a), Some(A));
        assert_eq!(member("/v1/members/not-an-id/holds/x/void"), None);
        assert_eq!(
            path_objects("/v1/leaderboard", "/v1/leaderboard"),
            PathObjects::default()
        );
        let partner = "/v1/partners/{partner_code}/bonuses";
        assert_eq!(
            path_objects(partner, "/v1/partners/AF/bonuses").partner,
            Some("AF")
        );
    }
}
