//! OpenAPI v3 documents, just enough for kubectl: its `--validate=strict` (the default) first
//! asks `/openapi/v3` whether the server supports the `fieldValidation` query parameter for a
//! kind's PATCH operation, and then leaves validation to the server. Without that answer it
//! falls back to client-side validation with `/openapi/v2` (protobuf) and fails.
//!
//! Each group version's document lists, for every resource, the item path with a PATCH
//! operation carrying `x-kubernetes-group-version-kind` and the `fieldValidation` parameter.
//! Schemas are not published (custom resources' schemas are enforced server-side), so kubectl
//! falls back to its built-in knowledge for strategic merge patches and `kubectl explain` has
//! nothing to show. `/openapi/v2` answers 404.

use crate::registry::ResourceType;
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

pub fn serve(
    resources: &[Arc<ResourceType>],
    segments: &[&str],
    _query: &HashMap<String, String>,
) -> Response {
    let docs = documents(resources);
    match segments {
        ["v3"] => {
            let paths: Map<String, Value> = docs
                .iter()
                .map(|(path, doc)| (path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", hash(doc))})))
                .collect();
            Json(json!({"paths": paths})).into_response()
        }
        ["v3", rest @ ..] => match docs.get(&rest.join("/")) {
            Some(doc) => Json(doc.clone()).into_response(),
            None => crate::error::ApiError::not_found_path().into_response(),
        },
        _ => crate::error::ApiError::not_found_path().into_response(),
    }
}

fn hash(doc: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    doc.to_string().hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// One document per group version, keyed by `api/v1` or `apis/{group}/{version}`.
fn documents(resources: &[Arc<ResourceType>]) -> BTreeMap<String, Value> {
    let mut docs: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for rt in resources {
        for v in &rt.versions {
            let prefix = if rt.group.is_empty() {
                format!("api/{}", v.name)
            } else {
                format!("apis/{}/{}", rt.group, v.name)
            };
            let item = if rt.namespaced {
                format!("/{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
            } else {
                format!("/{prefix}/{}/{{name}}", rt.plural)
            };
            let operation = json!({
                "operationId": format!("patch{}", rt.kind),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": rt.group, "version": v.name, "kind": rt.kind},
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
                ],
                "responses": {"200": {"description": "OK"}},
            });
            docs.entry(prefix)
                .or_default()
                .insert(item, json!({"patch": operation}));
        }
    }
    docs.into_iter()
        .map(|(prefix, paths)| {
            let doc = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": "v1.32.0-standin"},
                "paths": paths,
                "components": {"schemas": {}},
            });
            (prefix, doc)
        })
        .collect()
}
