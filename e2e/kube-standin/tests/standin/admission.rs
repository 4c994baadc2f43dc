//! The project's admission policies (`policies/`), enforced by the stand-in and driven by the
//! real kubectl: every rule refuses an object that breaks it with the policy's own message, in
//! the words of a real API server, and the examples that keep the rules are admitted.

use crate::kubectl::Kubectl;
use kube_standin::StandIn;
use std::path::PathBuf;

/// A path in the repository, from its root.
fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .display()
        .to_string()
}

/// The text of a repository file with each `(from, to)` edit made; every `from` must be there,
/// so that a changed example fails the test instead of quietly testing nothing.
fn variant(path: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(repo(path)).expect("example readable");
    for (from, to) in edits {
        assert!(text.contains(from), "{path} no longer contains {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}

/// A stand-in with the CRDs, the policies and the example namespaces applied by kubectl.
async fn with_policies() -> (StandIn, Kubectl) {
    let server = StandIn::start().await.expect("stand-in started");
    let kubectl = Kubectl::new(&server);
    kubectl.ok(&["apply", "-k", &repo("manifests/crds")]).await;
    let out = kubectl.ok(&["apply", "-k", &repo("policies")]).await;
    assert_eq!(out.matches("created").count(), 6, "{out}");
    let namespaces = repo("manifests/examples/platform/namespaces.yaml");
    kubectl.ok(&["apply", "-f", &namespaces]).await;
    (server, kubectl)
}

/// A policy's refusal: the validation's reason, the resource, the object's name, the policy
/// (each binding is named after its policy) and the message.
type Refusal<'a> = [&'a str; 5];

/// What kubectl prints when a policy refuses to create an object from `file`. A 422 Invalid
/// status is printed from its cause, with the empty field before the colon, as a real
/// kubectl prints a real API server's.
fn printed(file: &str, [reason, resource, name, policy, message]: Refusal) -> String {
    let denial = format!(
        "ValidatingAdmissionPolicy '{policy}' with binding '{policy}' denied request: {message}"
    );
    match reason {
        "Invalid" => format!("The {resource} \"{name}\" is invalid: : {denial}\n"),
        _ => format!(
            "Error from server ({reason}): error when creating \"{file}\": \
             {resource}.loyalty.travel.example \"{name}\" is forbidden: {denial}\n"
        ),
    }
}

/// Applies `text` (in `namespace`) and asserts the policy's refusal.
async fn assert_refused(kubectl: &Kubectl, namespace: &str, text: &str, expected: Refusal<'_>) {
    let name = expected[2];
    let file = kubectl
        .write(&format!("{name}.yaml"), text)
        .display()
        .to_string();
    let ran = kubectl.run(&["apply", "-n", namespace, "-f", &file]).await;
    assert!(!ran.ok, "{name} was admitted: {}", ran.stdout);
    assert_eq!(ran.stderr, printed(&file, expected));
}

const REGION: &str = "loyalty-region-residency";
const CAMPAIGN: &str = "loyalty-campaign-residency";
const PARTNER: &str = "loyalty-partner-https";

/// The example region in `file`, renamed to `name` (its `spec.region` too), with `edits` made.
fn region(file: &str, name: &str, edits: &[(&str, &str)]) -> String {
    let example = file.trim_end_matches(".yaml");
    let renames = [
        (format!("name: {example}"), format!("name: {name}")),
        (format!("  region: {example}"), format!("  region: {name}")),
    ];
    let mut all: Vec<(&str, &str)> = renames
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    all.extend_from_slice(edits);
    variant(&format!("manifests/examples/platform/{file}"), &all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_residency_refuses_unknown_groups_and_eu_countries_on_the_wrong_side() {
    let (_server, kubectl) = with_policies().await;
    let eu_countries = "[FR, BE, NL, LU, IE, ES, PT, IT, MT]";
    let cases = [
        (
            region(
                "us-east-1.yaml",
                "mars-1",
                &[("residencyGroup: us", "residencyGroup: mars")],
            ),
            "mars-1",
            "residencyGroup mars is not one of eu, us, apac, latam",
        ),
        (
            region(
                "eu-west-1.yaml",
                "eu-west-9",
                &[(eu_countries, "[FR, US, CA]")],
            ),
            "eu-west-9",
            "an eu residency group region may only serve EU/EEA countries, not US, CA",
        ),
        (
            region(
                "us-east-1.yaml",
                "us-east-9",
                &[("[US, PR]", "[US, DE, IS]")],
            ),
            "us-east-9",
            "EU/EEA countries must be served by an eu residency group region, not us: DE, IS",
        ),
    ];
    for (text, name, message) in cases {
        let refusal = ["Forbidden", "loyaltyregions", name, REGION, message];
        assert_refused(&kubectl, "default", &text, refusal).await;
    }
    let out = kubectl
        .ok(&["apply", "-k", &repo("manifests/examples/platform")])
        .await;
    assert_eq!(
        out.matches("loyaltyregion.loyalty.travel.example/").count(),
        3,
        "{out}"
    );
    // An update that breaks a rule is refused too, and changes nothing.
    let patch = r#"{"spec":{"countries":["US","IE"]}}"#;
    let ran = kubectl
        .run(&[
            "patch",
            "loyaltyregion",
            "us-east-1",
            "--type=merge",
            "-p",
            patch,
        ])
        .await;
    assert_eq!(
        ran.stderr,
        "Error from server (Forbidden): loyaltyregions.loyalty.travel.example \"us-east-1\" is forbidden: \
         ValidatingAdmissionPolicy 'loyalty-region-residency' with binding 'loyalty-region-residency' denied \
         request: EU/EEA countries must be served by an eu residency group region, not us: IE\n"
    );
    let countries = [
        "get",
        "loyaltyregion",
        "us-east-1",
        "-o",
        "jsonpath={.spec.countries}",
    ];
    assert_eq!(kubectl.ok(&countries).await, r#"["US","PR"]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_residency_binds_only_in_labelled_namespaces_and_names_their_group() {
    let (_server, kubectl) = with_policies().await;
    let weekend = "manifests/examples/marketing/campaigns/2x-weekend.yaml";
    let untargeted = variant(weekend, &[("    residencyGroups: [eu]\n", "")]);
    let too_wide = variant(
        weekend,
        &[("residencyGroups: [eu]", "residencyGroups: [eu, us]")],
    );
    let cases = [
        (
            untargeted.clone(),
            "Invalid",
            "must list eligibility.residencyGroups: [eu]",
        ),
        (too_wide, "Forbidden", "may only target residency group eu"),
    ];
    for (text, reason, rule) in cases {
        let message = format!("campaigns in namespace marketing-eu {rule}");
        let refusal = [
            reason,
            "campaigns",
            "2x-weekend",
            CAMPAIGN,
            message.as_str(),
        ];
        assert_refused(&kubectl, "marketing-eu", &text, refusal).await;
    }
    kubectl
        .ok(&["apply", "-n", "marketing-eu", "-f", &repo(weekend)])
        .await;
    // `default` carries no residency-group label, so the binding does not select it.
    let global = kubectl
        .write("global.yaml", &untargeted)
        .display()
        .to_string();
    kubectl.ok(&["apply", "-n", "default", "-f", &global]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_https_refuses_plain_http_and_loopback_or_metadata_hosts() {
    let (_server, kubectl) = with_policies().await;
    let partner = "manifests/examples/partners/air-france.yaml";
    let endpoint = "https://partners.airfrance.example/loyalty/v1";
    let blocked = "Partner endpoint must not be a loopback or metadata address";
    for (name, host) in [
        ("p-localhost", "https://localhost:8443/v1"),
        ("p-loopback", "https://127.0.0.1/v1"),
        ("p-ipv6", "https://[::1]/v1"),
        ("p-metadata", "https://169.254.169.254/latest"),
    ] {
        let name_line = format!("name: {name}");
        let text = variant(
            partner,
            &[("name: air-france", name_line.as_str()), (endpoint, host)],
        );
        assert_refused(
            &kubectl,
            "default",
            &text,
            ["Forbidden", "partners", name, PARTNER, blocked],
        )
        .await;
    }
    // The policy holds the https rule even when the CRD no longer does.
    let loosen = r#"[{"op":"remove","path":"/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/endpoint/x-kubernetes-validations"}]"#;
    kubectl
        .ok(&[
            "patch",
            "crd",
            "partners.loyalty.travel.example",
            "--type=json",
            "-p",
            loosen,
        ])
        .await;
    let plain = variant(partner, &[("https://partners", "http://partners")]);
    assert_refused(
        &kubectl,
        "default",
        &plain,
        [
            "Forbidden",
            "partners",
            "air-france",
            PARTNER,
            "Partner endpoint must use https://",
        ],
    )
    .await;
    kubectl.ok(&["apply", "-f", &repo(partner)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_its_binding_does_not_bite() {
    let (_server, kubectl) = with_policies().await;
    kubectl
        .ok(&["delete", "validatingadmissionpolicybinding", REGION])
        .await;
    let text = region(
        "us-east-1.yaml",
        "mars-1",
        &[("residencyGroup: us", "residencyGroup: mars")],
    );
    let file = kubectl.write("mars.yaml", &text).display().to_string();
    let out = kubectl.ok(&["apply", "-f", &file]).await;
    assert_eq!(
        out.trim(),
        "loyaltyregion.loyalty.travel.example/mars-1 created"
    );
}
