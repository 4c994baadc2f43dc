//! The API as shipped: the committed CRD YAML matches the code, every example is accepted or
//! rejected as documented, every kustomization renders with the real kubectl, and the
//! admission policies decide as their README says.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::core::cel::{AdmissionRequest, VapEvaluator, VapExpression};
use loyalty_crds::generate::{OUTPUT_DIR, REGENERATE_COMMAND, crd_files};
use serde_json::{Value, json};
use support::{is_platform_kind, read_documents, verdict, workspace, yaml_files};

fn examples_dir() -> PathBuf {
    workspace().join("manifests/examples")
}

#[test]
fn the_committed_crd_yaml_matches_what_the_code_generates() {
    for (name, generated) in crd_files() {
        let path = workspace().join(OUTPUT_DIR).join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is stale or missing; regenerate it with `{REGENERATE_COMMAND}`",
            path.display()
        );
    }
}

#[test]
fn the_generated_crds_declare_the_documented_names_scopes_and_subresources() {
    let crds: Vec<Value> = crd_files()
        .iter()
        .map(|(_, yaml)| serde_yaml::from_str(yaml).expect("generated YAML parses"))
        .collect();
    let scopes: Vec<(&str, &str)> = crds
        .iter()
        .map(|c| {
            (
                c["spec"]["names"]["kind"].as_str().unwrap(),
                c["spec"]["scope"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scopes,
        [
            ("LoyaltyRegion", "Cluster"),
            ("Campaign", "Namespaced"),
            ("Partner", "Namespaced")
        ]
    );
    for crd in &crds {
        assert_eq!(crd["spec"]["group"], loyalty_crds::API_GROUP);
        assert_eq!(
            crd["spec"]["names"]["categories"],
            json!([loyalty_crds::CATEGORY])
        );
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], loyalty_crds::API_VERSION);
        assert_eq!(version["subresources"]["status"], json!({}));
        let status = &version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
        assert!(status["observedGeneration"].is_object() && status["conditions"].is_object());
    }
}

#[test]
fn every_valid_example_is_accepted_and_validates() {
    let mut checked = 0;
    for path in yaml_files(&examples_dir(), &["invalid"]) {
        for doc in read_documents(&path) {
            if !is_platform_kind(doc["kind"].as_str().unwrap_or_default()) {
                continue;
            }
            let verdict = verdict(&doc);
            assert!(
                verdict.accepted(),
                "{} is rejected: {verdict:#?}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} examples found");
}

#[test]
fn every_invalid_example_is_rejected_with_the_message_it_documents() {
    let files = yaml_files(&examples_dir().join("invalid"), &[]);
    assert!(files.len() >= 3, "invalid examples are missing");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()));
        for doc in read_documents(&path) {
            let verdict = verdict(&doc);
            assert!(
                verdict.admission.iter().any(|e| e.contains(expected)),
                "{}: expected the API server to reject it with {expected:?}, got {verdict:#?}",
                path.display()
            );
            assert!(
                !verdict.operator.is_empty(),
                "{}: the operator must reject it too, in case it bypassed admission",
                path.display()
            );
        }
    }
}

/// Every folder with a kustomization.yaml under manifests/ and policies/.
fn kustomizations() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["manifests", "policies"]
        .iter()
        .flat_map(|d| yaml_files(&workspace().join(d), &[]))
        .filter(|p| p.file_name().is_some_and(|n| n == "kustomization.yaml"))
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs
}

fn kustomize(dir: &Path) -> String {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl (with kustomize) must be installed to run these tests");
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kustomize prints UTF-8")
}

#[test]
fn the_crd_rules_reject_what_their_messages_describe() {
    let mut campaign = example("marketing/campaigns/2x-weekend.yaml");
    campaign["spec"]["window"]["recurrence"] = json!({ "startTime": "20:00", "endTime": "08:00" });
    campaign["spec"]["effect"] = json!({ "bonusPoints": 0 });
    campaign["spec"]["caps"] = json!({ "budgetPoints": 0 });
    let admission = verdict(&campaign).admission.join("\n");
    for expected in [
        "recurrence.endTime must be after recurrence.startTime",
        "effect needs multiplierMilli or a positive bonusPoints",
        "spec.caps.budgetPoints in body should be greater than or equal to 1",
    ] {
        assert!(
            admission.contains(expected),
            "{expected:?} missing from:\n{admission}"
        );
    }

    let mut region = example("platform/eu-west-1.yaml");
    region["metadata"]["name"] = json!("paris");
    region["spec"]["failover"]["stabilizationWindowSeconds"] = json!(5);
    region["spec"]["countries"] = json!([]);
    let admission = verdict(&region).admission.join("\n");
    assert!(
        admission.contains("stabilizationWindowSeconds must be at least probeIntervalSeconds"),
        "{admission}"
    );
    assert!(
        admission.contains("should have at least 1 items"),
        "{admission}"
    );

    let mut partner = example("partners/air-france.yaml");
    partner["spec"]["retryPolicy"]["maxBackoffMs"] = json!(100);
    partner["spec"]["bonusRules"] = json!([{ "productTypes": ["hotel"] }]);
    let admission = verdict(&partner).admission.join("\n");
    assert!(
        admission.contains("maxBackoffMs must be at least initialBackoffMs"),
        "{admission}"
    );
    assert!(
        admission.contains("exactly one of pointsPerBooking and multiplierMilli"),
        "{admission}"
    );
}

#[test]
fn a_window_written_with_different_offsets_compares_as_instants_in_cel() {
    // 2026-06-01T01:00+02:00 is 2026-05-31T23:00Z: before the start, though it sorts after it
    // as a string.
    let mut campaign = example("marketing/campaigns/2x-weekend.yaml");
    campaign["spec"]["window"]["start"] = json!("2026-06-01T00:00:00Z");
    campaign["spec"]["window"]["end"] = json!("2026-06-01T01:00:00+02:00");
    let verdict = verdict(&campaign);
    assert!(
        verdict
            .admission
            .iter()
            .any(|e| e.contains("window.end must be after window.start")),
        "{verdict:#?}"
    );
}

#[test]
fn every_kustomization_renders_with_the_real_kubectl() {
    let dirs = kustomizations();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.strip_prefix(workspace()).unwrap().display().to_string())
        .collect();
    for expected in [
        "manifests/base",
        "manifests/crds",
        "manifests/overlays/eu-west-1",
        "manifests/overlays/us-east-1",
        "manifests/overlays/ap-southeast-1",
        "manifests/examples/platform",
        "manifests/examples/marketing",
        "manifests/examples/partners",
        "policies",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} has no kustomization"
        );
    }
    assert!(
        !names.iter().any(|n| n.contains("invalid")),
        "invalid examples must stay out of every kustomization"
    );
    for dir in dirs {
        let rendered = kustomize(&dir);
        assert!(
            !rendered.contains("examples/invalid"),
            "{} pulls in invalid examples",
            dir.display()
        );
    }
}

#[test]
fn each_overlay_installs_the_crds_the_policies_and_an_operator_that_knows_its_region() {
    for region in ["eu-west-1", "us-east-1", "ap-southeast-1"] {
        let rendered = kustomize(&workspace().join("manifests/overlays").join(region));
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&rendered)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let count = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).count();
        assert_eq!(count("CustomResourceDefinition"), 3, "{region}");
        assert_eq!(count("ValidatingAdmissionPolicy"), 3, "{region}");
        assert_eq!(count("ValidatingAdmissionPolicyBinding"), 3, "{region}");
        let deployment = docs
            .iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("the operator");
        let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
        let region_env = env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "LOYALTY_REGION");
        assert_eq!(region_env.map(|e| &e["value"]), Some(&json!(region)));
    }
}

/// The expressions of the ValidatingAdmissionPolicy matching `resource`.
fn policy_expressions(resource: &str) -> Vec<VapExpression> {
    let policies: Vec<Value> = yaml_files(&workspace().join("policies"), &[])
        .iter()
        .flat_map(|p| read_documents(p))
        .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .collect();
    policies
        .iter()
        .filter(|p| {
            p["spec"]["matchConstraints"]["resourceRules"]
                .as_array()
                .is_some_and(|rules| {
                    rules.iter().any(|r| {
                        r["resources"]
                            .as_array()
                            .unwrap()
                            .contains(&json!(resource))
                    })
                })
        })
        .flat_map(|p| p["spec"]["validations"].as_array().unwrap().clone())
        .map(|v| VapExpression {
            expression: escape_label_keys(v["expression"].as_str().unwrap()),
            message: v["message"].as_str().map(String::from),
            message_expression: v["messageExpression"].as_str().map(escape_label_keys),
        })
        .collect()
}

/// kube-cel's admission evaluator has no schema for `namespaceObject`, so it escapes every
/// map key as if it were a declared field name (`.` becomes `__dot__`, and so on), where the
/// API server leaves label keys as they are. The tests look labels up by the escaped key; the
/// policies, written for the API server, use the real one.
fn escape_label_keys(expression: &str) -> String {
    expression.replace(
        "'loyalty.travel.example/residency-group'",
        "'loyalty__dot__travel__dot__example__slash__residency__dash__group'",
    )
}

/// The messages of every policy expression `object` fails.
fn policy_denials(object: Value, namespace: Option<Value>) -> Vec<String> {
    let resource = match object["kind"].as_str().unwrap() {
        "LoyaltyRegion" => "loyaltyregions",
        "Campaign" => "campaigns",
        _ => "partners",
    };
    let mut builder = VapEvaluator::builder()
        .object(object)
        .request(AdmissionRequest {
            operation: "CREATE".into(),
            ..Default::default()
        });
    if let Some(ns) = namespace {
        builder = builder.namespace_object(ns);
    }
    builder
        .build()
        .evaluate(&policy_expressions(resource))
        .into_iter()
        .filter(|r| !r.passed)
        .map(|r| r.message.unwrap_or_else(|| r.expression.clone()))
        .collect()
}

fn marketing_eu() -> Value {
    json!({ "metadata": { "name": "marketing-eu", "labels": { "loyalty.travel.example/residency-group": "eu" } } })
}

fn example(relative: &str) -> Value {
    read_documents(&examples_dir().join(relative)).remove(0)
}

#[test]
fn the_admission_policies_admit_every_valid_example() {
    for path in yaml_files(&examples_dir(), &["invalid"]) {
        for doc in read_documents(&path) {
            if is_platform_kind(doc["kind"].as_str().unwrap_or_default()) {
                let denials = policy_denials(doc, Some(marketing_eu()));
                assert!(denials.is_empty(), "{}: {denials:?}", path.display());
            }
        }
    }
}

#[test]
fn region_policies_keep_eu_countries_in_eu_regions_and_groups_in_the_allowed_list() {
    let mut region = example("platform/eu-west-1.yaml");
    region["spec"]["countries"] = json!(["FR", "US"]);
    let denials = policy_denials(region.clone(), None);
    assert_eq!(
        denials,
        ["an eu residency group region may only serve EU/EEA countries, not US"]
    );

    let mut us = example("platform/us-east-1.yaml");
    us["spec"]["countries"] = json!(["US", "DE"]);
    assert_eq!(
        policy_denials(us.clone(), None),
        ["EU/EEA countries must be served by an eu residency group region, not us: DE"]
    );

    us["spec"]["countries"] = json!(["US"]);
    us["spec"]["residencyGroup"] = json!("mars");
    assert_eq!(
        policy_denials(us, None),
        ["residencyGroup mars is not one of eu, us, apac, latam"]
    );
}

#[test]
fn campaign_policy_requires_the_namespaces_residency_group_and_only_it() {
    let mut campaign = example("marketing/campaigns/2x-weekend.yaml");
    campaign["spec"]["eligibility"]["residencyGroups"] = json!(["eu", "us"]);
    assert_eq!(
        policy_denials(campaign.clone(), Some(marketing_eu())),
        ["campaigns in namespace marketing-eu may only target residency group eu"]
    );
    campaign["spec"]["eligibility"] = json!({ "productTypes": ["hotel"] });
    assert_eq!(
        policy_denials(campaign, Some(marketing_eu())),
        ["campaigns in namespace marketing-eu must list eligibility.residencyGroups: [eu]"]
    );
}

#[test]
fn partner_policy_denies_plain_http_and_loopback_endpoints() {
    let http = example("invalid/partner-http-endpoint.yaml");
    assert_eq!(
        policy_denials(http, None),
        ["Partner endpoint must use https://"]
    );
    let mut loopback = example("partners/air-france.yaml");
    loopback["spec"]["endpoint"] = json!("https://localhost:8443/loyalty");
    assert_eq!(
        policy_denials(loopback, None),
        ["Partner endpoint must not be a loopback or metadata address"]
    );
}
