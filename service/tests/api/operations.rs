//! Health, readiness, metrics, request ids and the API description.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ALICE, TestApp, spawn_app};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["region_state"], "active");
    app.fund(ALICE, "BK-1", 120).await;
    app.post(
        &format!("/v1/members/{ALICE}/redeem"),
        json!({"points": 20, "reference": "R-1"}),
    )
    .await;
    let metrics = app.get("/metrics").await.body;
    let text = metrics.as_str().unwrap();
    assert!(text.contains("loyalty_points_earned_total 120"), "{text}");
    assert!(text.contains("loyalty_points_redeemed_total 20"), "{text}");
    assert!(text.contains("loyalty_http_requests_total{method=\"POST\",route=\"/v1/members/{member_id}/redeem\",status=\"201\"} 1"), "{text}");
    assert!(
        text.contains("loyalty_db_pool_wait_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_echoed() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("x-request-id").is_some());
    let res = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

/// The methods a route may answer; HEAD and OPTIONS follow from these.
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The documented operations as (method, path template).
fn documented(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, ops)| {
            let ops = ops.as_object().expect("a path item is an object");
            ops.keys().map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// The path templates the router serves. axum lists its routes only in its `Debug` form
/// (`path_router: … RouteId(n): "/path" …, fallback_router: …`), so they are read from
/// there, up to the fallback's own paths; a change of that form leaves the set empty or
/// wrong, which the callers assert against.
fn routed_paths() -> BTreeSet<String> {
    let debug = format!("{:?}", loyalty_service::routes::router());
    let (routes, _fallback) = debug
        .split_once("fallback_router")
        .expect("axum's Router debug form names its fallback router");
    routes
        .split("RouteId(")
        .skip(1)
        .filter_map(|part| part.split_once("): \"")?.1.split_once('"'))
        .map(|(path, _)| path.to_owned())
        .collect()
}

/// A path template with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{member_id}", &ALICE.to_string())
        .replace("{hold_id}", "00000000-0000-4000-8000-00000000ffff")
}

/// Whether the service routes `method` on `path`: anything but the fallback's 404 and the
/// method fallback's 405 means a handler answered.
async fn is_routed(app: &TestApp, method: &Method, path: &str) -> bool {
    let url = format!("{}{}", app.base, concrete(path));
    let res = app.send(app.http.request(method.clone(), url)).await;
    res.code() != "route_not_found" && res.status != StatusCode::METHOD_NOT_ALLOWED
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let spec = app.get("/openapi.json").await.body;
    let documented = documented(&spec);
    assert!(documented.len() >= 21, "{documented:?}");
    for (method, path) in documented {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        assert!(is_routed(&app, &method, &path).await, "{method} {path}");
    }
}

#[tokio::test]
async fn every_routed_operation_is_documented() {
    let app = spawn_app().await;
    let documented = documented(&app.get("/openapi.json").await.body);
    let routed = routed_paths();
    let documented_paths: BTreeSet<String> = documented.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(routed, documented_paths, "routed paths vs documented paths");
    for path in &routed {
        for method in &METHODS {
            if is_routed(&app, method, path).await {
                let op = (method.to_string(), path.clone());
                assert!(
                    documented.contains(&op),
                    "{method} {path} is routed but not documented"
                );
            }
        }
    }
}

/// The `{name}` parameters of a path template.
fn template_params(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name)
        .collect()
}

/// Whether an operation declares `name` as a required path parameter.
fn declares_path_param(op: &Value, name: &str) -> bool {
    op["parameters"].as_array().is_some_and(|params| {
        params
            .iter()
            .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
    })
}

/// A response's JSON schema, when it has a JSON body.
fn json_schema(response: &Value) -> Option<&Value> {
    response["content"]["application/json"].get("schema")
}

/// Checks one response: a JSON body with a named schema, and for a refusal the error
/// schema of its status with a non-empty enum of codes. `/readyz`'s 503 is its own body.
fn check_response(spec: &Value, op: &str, status: &str, response: &Value) {
    let Some(schema) = json_schema(response) else {
        assert!(op.ends_with("/metrics"), "{op} {status} has no JSON body");
        return;
    };
    if op.ends_with("/openapi.json") {
        return;
    }
    let name = schema["$ref"].as_str().unwrap_or_default();
    let name = name.trim_start_matches("#/components/schemas/");
    let component = &spec["components"]["schemas"][name];
    assert!(
        component.is_object(),
        "{op} {status}: {schema} is not a named schema"
    );
    if status.starts_with('2') || op.ends_with("/readyz") {
        return;
    }
    let codes = &component["properties"]["error"]["properties"]["code"]["enum"];
    assert!(
        codes.as_array().is_some_and(|c| !c.is_empty()),
        "{op} {status}: {name} lists no codes"
    );
}

#[tokio::test]
async fn the_document_declares_every_path_parameter_and_a_real_schema_for_every_response() {
    let app = spawn_app().await;
    let spec = app.get("/openapi.json").await.body;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for name in template_params(path) {
                assert!(declares_path_param(op, name), "{method} {path}: {name}");
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                check_response(&spec, &format!("{method} {path}"), status, response);
            }
        }
    }
}
