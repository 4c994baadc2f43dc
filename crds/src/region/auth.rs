//! `spec.auth`: the identity provider whose bearer tokens a region's service accepts.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::ValidationIssue;
use crate::common::is_https_url;

/// How the region's service validates bearer tokens (JWT): who issues them, for which
/// audience, and where the issuer's public keys are. None of it is secret, so the operator
/// passes it to the service as plain settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegionAuth {
    /// The `iss` claim every accepted token carries, compared exactly, e.g.
    /// `https://login.travel.example/`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = ("!self.contains(' ')", "issuer must not contain spaces"))]
    pub issuer: String,
    /// The `aud` claim every accepted token must include, e.g. `loyalty-api`.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = ("!self.contains(' ')", "audience must not contain spaces"))]
    pub audience: String,
    /// The https URL of the issuer's JSON Web Key Set, which the service fetches and caches.
    #[schemars(length(min = 9, max = 2048))]
    // Standard CEL only, as for `endpoint`; `validate` checks the host as well.
    #[x_kube(validation = (
        "self.startsWith('https://') && !self.contains(' ')",
        "jwksUrl must be an absolute https:// URL"
    ))]
    pub jwks_url: String,
}

impl RegionAuth {
    /// What is wrong with these settings, as issues of `spec.auth.*`.
    pub fn issues(&self) -> Vec<ValidationIssue> {
        let mut issues = Vec::new();
        for (field, value) in [("issuer", &self.issuer), ("audience", &self.audience)] {
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                issues.push(ValidationIssue::new(
                    format!("spec.auth.{field}"),
                    format!("{field} must be non-empty and without whitespace"),
                ));
            }
        }
        if !is_https_url(&self.jwks_url) {
            issues.push(ValidationIssue::new(
                "spec.auth.jwksUrl",
                "jwksUrl must be an absolute https:// URL",
            ));
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::RegionAuth;

    fn auth(issuer: &str, audience: &str, jwks_url: &str) -> RegionAuth {
        RegionAuth {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: jwks_url.into(),
        }
    }

    #[test]
    fn auth_needs_a_plain_issuer_and_audience_and_an_https_jwks_url() {
        let jwks = "https://login.travel.example/.well-known/jwks.json";
        let cases = [
            (
                auth("https://login.travel.example/", "loyalty-api", jwks),
                vec![],
            ),
            (
                auth(
                    "https://login.travel.example/",
                    "loyalty-api",
                    "http://login/jwks",
                ),
                vec!["spec.auth.jwksUrl"],
            ),
            (
                auth("", "loyalty api", jwks),
                vec!["spec.auth.issuer", "spec.auth.audience"],
            ),
        ];
        for (auth, fields) in cases {
            let found: Vec<String> = auth.issues().into_iter().map(|i| i.field).collect();
            assert_eq!(found, fields, "{auth:?}");
        }
    }
}
