//! The middleware in front of every routed operation: the per-address limit, the bearer
//! token, the route's rule, the object-level check, the per-subject limit; then the
//! [`Caller`] goes into the request's extensions for the handler.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::policy::{self, Access, Decision};
use super::{Auth, Caller, Refusal, Scope};
use crate::metrics::Metrics;
use crate::routes::ApiError;
use crate::routes::AppState;

pub async fn authorize(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    // Unrouted requests fall through to the 404 fallback without a look at their token.
    let Some(route) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let any_of = match policy::rule(req.method(), &route) {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::AnyOf(scopes)) => scopes,
        // Deny by default: a method without a rule is not allowed, whether or not it is routed
        // (a test checks that every routed operation has a rule).
        None => {
            return ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
            .into_response();
        }
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let path_member = policy::path_member(&route, req.uri().path());
    match admit(&app, peer, req.headers(), path_member, any_of).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(refused) => refused,
    }
}

async fn admit(
    app: &AppState,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    path_member: Option<uuid::Uuid>,
    any_of: &'static [Scope],
) -> Result<Caller, Response> {
    let (auth, metrics) = (&app.auth, app.db.metrics());
    if let Some(peer) = peer {
        auth.limits
            .check_address(peer.ip())
            .map_err(|wait| limited(metrics, "address", "any", wait))?;
    }
    let caller = authenticate(auth, headers).await.map_err(|refusal| {
        metrics
            .auth_failures
            .with_label_values(&[refusal.code()])
            .inc();
        refusal.into_response()
    })?;
    match policy::decide(any_of, &caller, path_member) {
        Decision::Allow(scope) => {
            auth.limits
                .check_subject(scope, &caller.subject)
                .map_err(|wait| limited(metrics, "subject", scope.label(), wait))?;
            Ok(caller)
        }
        Decision::NotFound => {
            metrics
                .auth_failures
                .with_label_values(&["other_member"])
                .inc();
            Err(ApiError::from(crate::domain::Refusal::MemberNotFound).into_response())
        }
        Decision::Forbidden(scopes) => {
            let refusal = Refusal::InsufficientScope(scopes);
            metrics
                .auth_failures
                .with_label_values(&[refusal.code()])
                .inc();
            Err(refusal.into_response())
        }
    }
}

async fn authenticate(auth: &Auth, headers: &HeaderMap) -> Result<Caller, Refusal> {
    let token = bearer(headers)?;
    auth.verifier.verify(token).await
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Result<&str, Refusal> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(Refusal::MissingToken)?;
    let text = value
        .to_str()
        .map_err(|_| Refusal::MalformedToken("the Authorization header is not ASCII".into()))?;
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(Refusal::MalformedToken(
            "the Authorization header is not `Bearer <token>`".into(),
        )),
    }
}

fn limited(metrics: &Metrics, limit: &str, scope: &str, wait: std::time::Duration) -> Response {
    metrics
        .rate_limited
        .with_label_values(&[limit, scope])
        .inc();
    Refusal::RateLimited(wait).into_response()
}
