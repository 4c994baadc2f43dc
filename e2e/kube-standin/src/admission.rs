//! Validating admission policies (`admissionregistration.k8s.io/v1` ValidatingAdmissionPolicy
//! and ValidatingAdmissionPolicyBinding), run on create and update after schema validation, as
//! the real API server's admission chain does.
//!
//! Each binding names its policy by `policyName`; a binding without its policy, or a policy
//! without a binding, does nothing. When both match the request (`matching.rs`), the policy's
//! `matchConditions` must all hold, then each of its `validations` is evaluated with `object`,
//! `oldObject` (null on create), `request` and `namespaceObject` (null for cluster-scoped
//! objects). The first validation that is false denies the request with its `messageExpression`,
//! `message` or expression, and its `reason`, if the binding's `validationActions` include
//! `Deny`. An expression that fails to evaluate denies under `failurePolicy: Fail` (the default)
//! and is skipped under `Ignore`.
//!
//! Not modelled: `paramKind`/`paramRef` (a policy with `paramKind` is skipped), `variables`,
//! `auditAnnotations`, `authorizer`, the `Warn` and `Audit` actions (neither denies, so both are
//! ignored), DELETE and CONNECT, and type-checking expressions when a policy is written. None of
//! the project's policies use them.

mod matching;

use crate::cel::{self, json_to_cel};
use crate::error::{ApiError, Result};
use crate::ops::{Part, Target};
use crate::registry::ResKey;
use ::cel::Value as Cel;
use serde_json::{Value, json};

/// The policies and bindings in force, and the namespace of the request, read before a write
/// takes the store's lock. Like the real server's informer caches, this is a snapshot: a policy
/// written concurrently with a request may or may not apply to it.
pub struct Admission {
    /// (policy, binding) pairs, by binding name.
    bound: Vec<(Value, Value)>,
    namespace_object: Value,
}

/// What is being admitted, as `matching.rs` and the `request` variable see it.
pub struct Request<'a> {
    group: &'a str,
    version: &'a str,
    resource: &'a str,
    subresource: &'a str,
    kind: &'a str,
    namespaced: bool,
    operation: &'static str,
    object: &'a Value,
    old: Option<&'a Value>,
    namespace_object: &'a Value,
}

/// Why a policy denied a request.
struct Denial {
    message: String,
    reason: String,
}

fn admission_key(plural: &str) -> ResKey {
    ResKey {
        group: "admissionregistration.k8s.io".into(),
        plural: plural.into(),
    }
}

impl Admission {
    /// Reads the bound policies and the namespace that `t` addresses.
    pub fn load(t: &Target) -> Admission {
        let (policies, _) = t
            .store
            .list(&admission_key("validatingadmissionpolicies"), None);
        let (bindings, _) = t
            .store
            .list(&admission_key("validatingadmissionpolicybindings"), None);
        let bound = bindings
            .into_iter()
            .filter_map(|binding| {
                let name = &binding["spec"]["policyName"];
                let policy = policies.iter().find(|p| &p["metadata"]["name"] == name)?;
                Some((policy.clone(), binding))
            })
            .collect();
        let namespaces = ResKey {
            group: String::new(),
            plural: "namespaces".into(),
        };
        let namespace_object = match t.rt.namespaced {
            true => t
                .store
                .get(&namespaces, "", t.namespace)
                .unwrap_or_default(),
            false => Value::Null,
        };
        Admission {
            bound,
            namespace_object,
        }
    }

    /// Admits `object` (replacing `old` on an update) or returns the first denial.
    pub fn admit(&self, t: &Target, part: Part, object: &Value, old: Option<&Value>) -> Result<()> {
        let request = Request {
            group: &t.rt.group,
            version: t.version,
            resource: &t.rt.plural,
            subresource: if part == Part::Status { "status" } else { "" },
            kind: &t.rt.kind,
            namespaced: t.rt.namespaced,
            operation: if old.is_some() { "UPDATE" } else { "CREATE" },
            object,
            old,
            namespace_object: &self.namespace_object,
        };
        for (policy, binding) in &self.bound {
            if !denies(binding) || !matching::applies(policy, binding, &request) {
                continue;
            }
            if let Some(denial) = evaluate(policy, &request) {
                return Err(refusal(t, object, policy, binding, denial));
            }
        }
        Ok(())
    }
}

fn denies(binding: &Value) -> bool {
    binding["spec"]["validationActions"]
        .as_array()
        .is_some_and(|actions| actions.contains(&json!("Deny")))
}

/// The first denial of `policy` for `request`, if any.
fn evaluate(policy: &Value, request: &Request) -> Option<Denial> {
    let spec = &policy["spec"];
    if !spec["paramKind"].is_null() {
        return None;
    }
    let fail_closed = spec["failurePolicy"].as_str() != Some("Ignore");
    let variables = request.variables();
    for condition in spec["matchConditions"].as_array().into_iter().flatten() {
        let expression = condition["expression"].as_str().unwrap_or_default();
        match cel::evaluate(expression, &variables) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => return None,
            outcome => return fail_closed.then(|| evaluation_error(expression, outcome)),
        }
    }
    for validation in spec["validations"].as_array().into_iter().flatten() {
        let expression = validation["expression"].as_str().unwrap_or_default();
        match cel::evaluate(expression, &variables) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => return Some(failed_validation(validation, &variables)),
            outcome if fail_closed => return Some(evaluation_error(expression, outcome)),
            _ => {}
        }
    }
    None
}

/// The message of a false validation: its `messageExpression` if that yields a non-empty
/// string, else its `message`, else the expression itself.
fn failed_validation(validation: &Value, variables: &[(&str, Cel)]) -> Denial {
    let expression = validation["expression"].as_str().unwrap_or_default();
    let from_expression = validation["messageExpression"].as_str().and_then(|source| {
        match cel::evaluate(source, variables) {
            Ok(Cel::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        }
    });
    let message = from_expression
        .or_else(|| validation["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("failed expression: {}", expression.trim()));
    Denial {
        message,
        reason: validation["reason"]
            .as_str()
            .unwrap_or("Invalid")
            .to_owned(),
    }
}

fn evaluation_error(expression: &str, outcome: Result<Cel, String>) -> Denial {
    let error = match outcome {
        Ok(other) => format!("expected a bool, got {other:?}"),
        Err(e) => e,
    };
    Denial {
        message: format!("expression '{expression}' resulted in error: {error}"),
        reason: "Invalid".to_owned(),
    }
}

/// The real server's refusal: `<resource> "<name>" is forbidden: ValidatingAdmissionPolicy
/// '<policy>' with binding '<binding>' denied request: <message>`, with the validation's reason.
fn refusal(
    t: &Target,
    object: &Value,
    policy: &Value,
    binding: &Value,
    denial: Denial,
) -> ApiError {
    let name_of = |v: &Value| {
        v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let message = format!(
        "ValidatingAdmissionPolicy '{}' with binding '{}' denied request: {}",
        name_of(policy),
        name_of(binding),
        denial.message
    );
    ApiError::admission_denied(
        &t.rt.qualified_plural(),
        &name_of(object),
        &message,
        &denial.reason,
    )
}

impl Request<'_> {
    /// The variables every expression sees.
    fn variables(&self) -> Vec<(&'static str, Cel)> {
        vec![
            ("object", json_to_cel(self.object)),
            ("oldObject", json_to_cel(self.old.unwrap_or(&Value::Null))),
            ("namespaceObject", json_to_cel(self.namespace_object)),
            ("params", Cel::Null),
            ("request", json_to_cel(&self.attributes())),
        ]
    }

    /// The `request` variable: an `admission.k8s.io/v1` AdmissionRequest, less user info.
    fn attributes(&self) -> Value {
        let meta = &self.object["metadata"];
        json!({
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version, "resource": self.resource},
            "subResource": self.subresource,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "operation": self.operation,
            "userInfo": {"username": "system:anonymous"},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(spec_extra: Value) -> Value {
        let mut policy = json!({
            "metadata": {"name": "p"},
            "spec": {
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": ["g"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["things"]
                }]},
                "validations": [{"expression": "object.spec.size < 10", "message": "too big", "reason": "Forbidden"}]
            }
        });
        for (key, value) in spec_extra.as_object().into_iter().flatten() {
            policy["spec"][key] = value.clone();
        }
        policy
    }

    fn request<'a>(object: &'a Value, subresource: &'a str) -> Request<'a> {
        Request {
            group: "g",
            version: "v1",
            resource: "things",
            subresource,
            kind: "Thing",
            namespaced: false,
            operation: "CREATE",
            object,
            old: None,
            namespace_object: &Value::Null,
        }
    }

    fn message(policy: &Value, size: Value) -> Option<String> {
        let object =
            json!({"metadata": {"name": "t", "labels": {"tier": "web"}}, "spec": {"size": size}});
        evaluate(policy, &request(&object, "")).map(|d| format!("{}: {}", d.reason, d.message))
    }

    #[test]
    fn a_false_validation_denies_with_its_message_expression_message_or_expression() {
        assert_eq!(message(&policy(json!({})), json!(3)), None);
        assert_eq!(
            message(&policy(json!({})), json!(30)).unwrap(),
            "Forbidden: too big"
        );
        let with_expression = policy(json!({"validations": [{
            "expression": "object.spec.size < 10", "message": "too big",
            "messageExpression": "'size ' + string(object.spec.size) + ' is over 9'"
        }]}));
        assert_eq!(
            message(&with_expression, json!(30)).unwrap(),
            "Invalid: size 30 is over 9"
        );
        let broken_expression = policy(json!({"validations": [{
            "expression": "object.spec.size < 10", "message": "too big", "messageExpression": "object.nope"
        }]}));
        assert_eq!(
            message(&broken_expression, json!(30)).unwrap(),
            "Invalid: too big"
        );
        let bare = policy(json!({"validations": [{"expression": " object.spec.size < 10 "}]}));
        assert_eq!(
            message(&bare, json!(30)).unwrap(),
            "Invalid: failed expression: object.spec.size < 10"
        );
    }

    #[test]
    fn match_conditions_select_and_evaluation_errors_follow_the_failure_policy() {
        let conditional = policy(
            json!({"matchConditions": [{"name": "web", "expression": "object.metadata.labels.tier == 'db'"}]}),
        );
        assert_eq!(message(&conditional, json!(30)), None);
        let erring = json!({"validations": [{"expression": "object.spec.size > 'x'"}]});
        let denied = message(&policy(erring.clone()), json!(3)).unwrap();
        assert!(
            denied.starts_with("Invalid: expression 'object.spec.size > 'x'' resulted in error: "),
            "{denied}"
        );
        let mut ignoring = policy(erring);
        ignoring["spec"]["failurePolicy"] = json!("Ignore");
        assert_eq!(message(&ignoring, json!(3)), None);
        assert_eq!(
            message(
                &policy(json!({"paramKind": {"kind": "ConfigMap"}})),
                json!(30)
            ),
            None
        );
    }

    #[test]
    fn rules_selectors_and_actions_decide_which_bindings_apply() {
        let policy = policy(json!({}));
        let object = json!({"metadata": {"labels": {"tier": "web"}}});
        let binding = |spec: Value| json!({"metadata": {"name": "b"}, "spec": spec});
        let cases = [
            (binding(json!({})), "", true),
            (binding(json!({})), "status", false),
            (
                binding(
                    json!({"matchResources": {"objectSelector": {"matchLabels": {"tier": "db"}}}}),
                ),
                "",
                false,
            ),
            (
                binding(json!({"matchResources": {"excludeResourceRules": [{
                    "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"]
                }]}})),
                "",
                false,
            ),
        ];
        for (binding, subresource, expected) in cases {
            let applies = matching::applies(&policy, &binding, &request(&object, subresource));
            assert_eq!(applies, expected, "{binding} {subresource}");
        }
        assert!(denies(&binding(
            json!({"validationActions": ["Warn", "Deny"]})
        )));
        assert!(!denies(&binding(
            json!({"validationActions": ["Audit", "Warn"]})
        )));
    }
}
