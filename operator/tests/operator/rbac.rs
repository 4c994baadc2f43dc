//! The operator's RBAC (manifests/base/rbac.yaml) against the Secret calls it makes: the
//! namespaced get of Partners' Secrets and the get, create and replace of the projected
//! Secret are granted, under the names the code uses; listing or watching Secrets is granted
//! nowhere.

use loyalty_operator::controller::Settings;
use loyalty_operator::controller::region::service_config::PARTNER_SECRETS;
use serde::Deserialize;
use serde_json::Value;

use crate::helpers::repo_root;

/// The operator's ServiceAccount, as the bindings name it.
const SUBJECT: (&str, &str) = ("loyalty-system", "loyalty-operator");

/// One request: verb, core-group resource, namespace, object name (`None` for create and
/// collection verbs).
struct Call<'a> {
    verb: &'a str,
    resource: &'a str,
    namespace: &'a str,
    name: Option<&'a str>,
}

fn documents() -> Vec<Value> {
    let text = std::fs::read_to_string(repo_root().join("manifests/base/rbac.yaml")).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn contains(list: &Value, item: &str) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|v| v == item || v == "*"))
}

fn rule_allows(rule: &Value, call: &Call<'_>) -> bool {
    let names = &rule["resourceNames"];
    contains(&rule["apiGroups"], "")
        && contains(&rule["resources"], call.resource)
        && contains(&rule["verbs"], call.verb)
        && (names.is_null() || call.name.is_some_and(|n| contains(names, n)))
}

/// Whether a binding to the operator's ServiceAccount grants `call`: a ClusterRoleBinding
/// everywhere, a RoleBinding in its own namespace.
fn allowed(docs: &[Value], call: &Call<'_>) -> bool {
    let binds_operator = |b: &Value| {
        b["subjects"].as_array().into_iter().flatten().any(|s| {
            s["kind"] == "ServiceAccount" && s["namespace"] == SUBJECT.0 && s["name"] == SUBJECT.1
        })
    };
    let role = |kind: &Value, name: &Value, ns: &Value| {
        docs.iter().find(|d| {
            d["kind"] == *kind
                && d["metadata"]["name"] == *name
                && (*kind == "ClusterRole" || d["metadata"]["namespace"] == *ns)
        })
    };
    docs.iter()
        .filter(|b| b["kind"] == "ClusterRoleBinding" || b["kind"] == "RoleBinding")
        .filter(|b| binds_operator(b))
        .filter(|b| {
            b["kind"] == "ClusterRoleBinding" || b["metadata"]["namespace"] == call.namespace
        })
        .filter_map(|b| {
            role(
                &b["roleRef"]["kind"],
                &b["roleRef"]["name"],
                &b["metadata"]["namespace"],
            )
        })
        .flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default())
        .any(|rule| rule_allows(&rule, call))
}

/// Asserts that each `(verb, namespace, name)` on Secrets is granted (`granted`) or not.
fn check(docs: &[Value], calls: &[(&str, &str, Option<&str>)], granted: bool) {
    for &(verb, namespace, name) in calls {
        let call = Call {
            verb,
            resource: "secrets",
            namespace,
            name,
        };
        let verdict = if granted { "not granted" } else { "granted" };
        assert_eq!(
            allowed(docs, &call),
            granted,
            "{verb} secrets {namespace}/{name:?} is {verdict}"
        );
    }
}

#[test]
fn the_operator_may_make_every_secret_call_it_makes_and_may_not_list_or_watch_secrets() {
    let docs = documents();
    let service_ns = Settings::default().service_namespace;
    let ns = service_ns.as_str();
    let projected = Some(PARTNER_SECRETS);
    let made = [
        ("get", "loyalty-partners", Some("air-france-credentials")),
        ("get", ns, projected),
        ("update", ns, projected),
        ("create", ns, None),
    ];
    check(&docs, &made, true);
    let never = [
        ("get", ns, Some("loyalty-service-database")),
        ("update", "loyalty-partners", Some("air-france-credentials")),
        ("create", "loyalty-partners", None),
        ("list", "loyalty-partners", None),
        ("watch", "loyalty-partners", None),
        ("list", ns, None),
        ("watch", ns, None),
        ("delete", ns, projected),
    ];
    check(&docs, &never, false);
}
