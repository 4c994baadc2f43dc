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

use Scope::{Admin, Bookings, Earn, Member, Support};

const READ_MEMBER: &[Scope] = &[Member, Support];
const ANYONE: &[Scope] = &[Member, Earn, Bookings, Support, Admin];

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
    /// 403: none of the route's scopes.
    Forbidden(&'static [Scope]),
}

/// Decides on a route open to `any_of`, about `path_member` if its path names one.
pub fn decide(any_of: &'static [Scope], caller: &Caller, path_member: Option<Uuid>) -> Decision {
    if let Some(member) = path_member
        && caller.reaches(member).is_err()
    {
        return Decision::NotFound;
    }
    any_of
        .iter()
        .find(|scope| caller.has(**scope))
        .map_or(Decision::Forbidden(any_of), |scope| Decision::Allow(*scope))
}

/// The member id in `path` where `route` has `{member_id}`; none when the route names no
/// member or the segment is not an id (the handler answers that with a 400).
pub fn path_member(route: &str, path: &str) -> Option<Uuid> {
    let at = route
        .split('/')
        .position(|segment| segment == "{member_id}")?;
    path.split('/').nth(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);

    fn caller(sub: Uuid, scopes: &[Scope]) -> Caller {
        Caller::new(sub.to_string(), None, scopes.to_vec())
    }

    #[test]
    fn a_member_reaches_only_itself_and_only_through_member_routes() {
        let a = caller(A, &[Member]);
        assert_eq!(decide(READ_MEMBER, &a, Some(A)), Decision::Allow(Member));
        assert_eq!(decide(READ_MEMBER, &a, Some(B)), Decision::NotFound);
        assert_eq!(decide(&[Bookings], &a, Some(B)), Decision::NotFound);
        assert_eq!(
            decide(&[Bookings], &a, Some(A)),
            Decision::Forbidden(&[Bookings])
        );
        assert_eq!(decide(&[Admin], &a, None), Decision::Forbidden(&[Admin]));
    }

    #[test]
    fn a_service_scope_reaches_every_member() {
        let support = caller(A, &[Support]);
        assert_eq!(
            decide(READ_MEMBER, &support, Some(B)),
            Decision::Allow(Support)
        );
        assert_eq!(
            decide(&[Earn], &support, Some(B)),
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
    fn the_member_id_is_read_where_the_route_has_it() {
        let route = "/v1/members/{member_id}/holds/{hold_id}/void";
        assert_eq!(
            path_member(route, &format!("/v1/members/{A}/holds/x/void")),
            Some(A)
        );
        assert_eq!(
            path_member(route, "/v1/members/not-an-id/holds/x/void"),
            None
        );
        assert_eq!(path_member("/v1/leaderboard", "/v1/leaderboard"), None);
    }
}
