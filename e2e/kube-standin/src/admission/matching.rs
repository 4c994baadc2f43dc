//! Which requests a policy and its binding apply to: the policy's `matchConstraints`, narrowed
//! by the binding's `matchResources` (resource rules with their `*` forms and subresources,
//! `excludeResourceRules`, `namespaceSelector`, `objectSelector`).

use super::Request;
use crate::selectors::Selector;
use serde_json::Value;

/// Whether `policy` bound by `binding` applies to `request`.
pub fn applies(policy: &Value, binding: &Value, request: &Request) -> bool {
    constraints_match(&policy["spec"]["matchConstraints"], request, true)
        && constraints_match(&binding["spec"]["matchResources"], request, false)
}

/// A policy must name the resources it constrains; a binding without `resourceRules` keeps
/// all of the policy's.
fn constraints_match(constraints: &Value, request: &Request, rules_required: bool) -> bool {
    let included = match constraints["resourceRules"].as_array() {
        Some(rules) => rules.iter().any(|rule| rule_matches(rule, request)),
        None => !rules_required,
    };
    let excluded = constraints["excludeResourceRules"]
        .as_array()
        .is_some_and(|rules| rules.iter().any(|rule| rule_matches(rule, request)));
    included
        && !excluded
        && namespace_matches(&constraints["namespaceSelector"], request)
        && object_matches(&constraints["objectSelector"], request)
}

fn rule_matches(rule: &Value, request: &Request) -> bool {
    let any = |key: &str, want: &str| {
        rule[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|have| have == "*" || have == want)
    };
    let scope = match rule["scope"].as_str().unwrap_or("*") {
        "Cluster" => !request.namespaced,
        "Namespaced" => request.namespaced,
        _ => true,
    };
    scope
        && any("apiGroups", request.group)
        && any("apiVersions", request.version)
        && any("operations", request.operation)
        && rule["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|have| resource_matches(have, request))
}

/// `plural`, `plural/sub`, `*` (every resource, no subresource), `*/*`, `plural/*`, `*/sub`.
fn resource_matches(have: &str, request: &Request) -> bool {
    let (resource, sub) = have.split_once('/').unwrap_or((have, ""));
    let resource_ok = resource == "*" || resource == request.resource;
    let sub_ok = match (sub, request.subresource) {
        ("", want) => want.is_empty(),
        ("*", _) => true,
        (have, want) => have == want,
    };
    resource_ok && sub_ok
}

/// Namespaced objects are matched by their namespace's labels, a Namespace by its own, and
/// other cluster-scoped objects always, as on a real server.
fn namespace_matches(selector: &Value, request: &Request) -> bool {
    if request.group.is_empty() && request.resource == "namespaces" {
        return selector_matches(selector, request.object);
    }
    !request.namespaced || selector_matches(selector, request.namespace_object)
}

/// An update matches when either the new or the old object does.
fn object_matches(selector: &Value, request: &Request) -> bool {
    selector_matches(selector, request.object)
        || request
            .old
            .is_some_and(|old| selector_matches(selector, old))
}

/// An absent selector matches everything; one that does not parse matches nothing (the real
/// server refuses it when the policy or binding is written).
fn selector_matches(selector: &Value, object: &Value) -> bool {
    if selector.is_null() {
        return true;
    }
    Selector::from_label_selector(selector).is_ok_and(|s| s.matches(object))
}
