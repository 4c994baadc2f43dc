//! The authenticated caller of a request, as the middleware established it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use super::Scope;
use crate::domain::{Actor, Refusal};
use crate::routes::ApiError;

/// Who is calling: the token's subject, its OAuth2 client, and the scopes this service knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub client: Option<String>,
    scopes: Vec<Scope>,
}

impl Caller {
    /// `scopes` in any order; duplicates are dropped.
    pub fn new(subject: String, client: Option<String>, mut scopes: Vec<Scope>) -> Self {
        scopes.sort();
        scopes.dedup();
        Self {
            subject,
            client,
            scopes,
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.binary_search(&scope).is_ok()
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The member this token acts for, when it is a member's own token.
    pub fn member_id(&self) -> Option<Uuid> {
        self.has(Scope::Member)
            .then(|| self.subject.parse().ok())
            .flatten()
    }

    /// True when the only thing this token may do is act for its own member: every other
    /// member is invisible to it.
    pub fn is_member_only(&self) -> bool {
        self.scopes == [Scope::Member]
    }

    /// Refuses, exactly like an unknown member, a member-only token that names another
    /// member (OWASP API1: the answer must not tell "exists" from "not yours").
    pub fn reaches(&self, member: Uuid) -> Result<(), ApiError> {
        if self.is_member_only() && self.member_id() != Some(member) {
            return Err(Refusal::MemberNotFound.into());
        }
        Ok(())
    }

    /// What the ledger records as the author of this caller's entries.
    pub fn actor(&self) -> Actor {
        Actor::new(self.subject.clone(), self.client.clone())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Only a route the policy leaves public has no caller, and such a route does not ask.
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "missing_token",
                "this route needs a bearer token",
            )
        })
    }
}
