//! The part of the Kubernetes CEL URL library that rules use: `isURL(string)`, `url(string)`
//! and `URL.getHostname()`, so that a rule can refuse an endpoint by its host.
//!
//! Kubernetes parses with Go's `url.ParseRequestURI`: an absolute URL (`scheme:...`) or an
//! absolute path. This reads the same two shapes, and takes the host as Go's `URL.Hostname()`
//! does: without user info and port, an IPv6 address without its brackets, case kept.

use cel::common::types::{CelBool, CelString, Type};
use cel::common::value::{StaticVal, Val};
use cel::{DeclarationError, Env, ExecutionError};
use std::sync::LazyLock;

/// The CEL type's name, as Kubernetes names it.
const URL_TYPE_NAME: &str = "kubernetes.URL";

static URL_TYPE: LazyLock<Type> = LazyLock::new(|| Type::new_opaque_type(URL_TYPE_NAME));

/// A parsed URL: the text it came from and its host.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeUrl {
    text: String,
    hostname: String,
}

impl KubeUrl {
    /// Parses `text` as `url.ParseRequestURI` accepts it, or `None`.
    fn parse(text: &str) -> Option<KubeUrl> {
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        if text.starts_with('/') {
            return Some(KubeUrl {
                text: text.to_owned(),
                hostname: String::new(),
            });
        }
        let (scheme, rest) = text.split_once(':')?;
        let mut chars = scheme.chars();
        let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return None;
        }
        Some(KubeUrl {
            text: text.to_owned(),
            hostname: rest.strip_prefix("//").map(hostname).unwrap_or_default(),
        })
    }
}

/// The host of an authority-and-path, as Go's `URL.Hostname()` reports it.
fn hostname(after_slashes: &str) -> String {
    let authority = after_slashes
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default().to_owned();
    }
    host_port.split(':').next().unwrap_or_default().to_owned()
}

impl Val for KubeUrl {
    fn get_type(&self) -> &Type {
        &URL_TYPE
    }

    fn cel_type() -> &'static Type {
        &URL_TYPE
    }

    fn equals(&self, other: &dyn Val) -> bool {
        other.downcast_ref::<KubeUrl>() == Some(self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl StaticVal for KubeUrl {}

fn is_url(text: &CelString<'_>) -> CelBool {
    CelBool::from(KubeUrl::parse(text.inner()).is_some())
}

fn url(text: &CelString<'_>) -> Result<KubeUrl, ExecutionError> {
    KubeUrl::parse(text.inner()).ok_or_else(|| {
        ExecutionError::function_error(
            "url",
            format!(
                "URL parse error during conversion from string: {}",
                text.inner()
            ),
        )
    })
}

fn get_hostname(this: &KubeUrl) -> CelString<'static> {
    CelString::from(this.hostname.clone())
}

/// Registers `isURL`, `url` and `URL.getHostname` on `env`.
pub fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_type(Type::new_opaque_type(URL_TYPE_NAME))?;
    cel::add_overload!(env, fn is_url: (CelString) -> CelBool, name = "isURL")?;
    cel::add_overload!(env, fn url: (CelString) -> Result<KubeUrl>)?;
    cel::add_member_overload!(env, fn get_hostname: (KubeUrl) -> CelString)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_as_go_reads_them() {
        let cases = [
            ("https://partners.example/v1?x=1", Some("partners.example")),
            ("https://user:pw@127.0.0.1:8443/", Some("127.0.0.1")),
            ("https://[::1]:443/api", Some("::1")),
            ("https://LOCALHOST", Some("LOCALHOST")),
            ("/just/a/path", Some("")),
            ("mailto:someone", Some("")),
            ("not a url", None),
            ("partners.example/v1", None),
        ];
        for (text, host) in cases {
            let parsed = KubeUrl::parse(text);
            assert_eq!(
                parsed.map(|u| u.hostname),
                host.map(str::to_owned),
                "{text}"
            );
        }
    }
}
