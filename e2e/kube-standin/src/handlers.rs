//! HTTP routing: parses Kubernetes API paths (`/api/v1/namespaces/{ns}/{plural}/{name}/{sub}`,
//! `/apis/{group}/{version}/...`) and query options, and dispatches to discovery, the object
//! operations and watches.

use crate::discovery;
use crate::error::{ApiError, Result};
use crate::events;
use crate::ops::{self, Deleted, Part, Target, WriteOptions};
use crate::patch::PatchType;
use crate::protobuf;
use crate::selectors::Selector;
use crate::store::Store;
use crate::table;
use crate::watch::{self, WATCH_TIMEOUT_DEFAULT_S, WatchRequest};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The largest request body accepted, in bytes (the real server's limit is 3 MiB).
pub const REQUEST_BODY_MAX_BYTES: usize = 3 * 1024 * 1024;

#[derive(Clone)]
pub struct App {
    pub store: Arc<Store>,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Where a resource request points.
#[derive(Debug, Default)]
struct Path {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
}

type Query = HashMap<String, String>;

pub async fn dispatch(State(app): State<App>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let query: Query = parts
        .uri
        .query()
        .map(|q| url_pairs(q).collect())
        .unwrap_or_default();
    let body = match axum::body::to_bytes(body, REQUEST_BODY_MAX_BYTES).await {
        Ok(b) => b,
        Err(_) => return ApiError::bad_request("request body too large").into_response(),
    };
    let path = parts.uri.path().trim_end_matches('/').to_owned();
    match route(&app, &parts.method, &path, &query, &parts.headers, body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Decodes `a=b&c=d` query strings (percent-encoding and `+` for space).
fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(value: Value) -> Response {
    Json(value).into_response()
}

fn route(
    app: &App,
    method: &Method,
    path: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let resources = app.store.resources();
    let get = method == Method::GET;
    match segments.as_slice() {
        ["version"] if get => return Ok(json_response(discovery::version())),
        ["healthz" | "readyz" | "livez"] if get => return Ok("ok".into_response()),
        ["api"] if get => return Ok(json_response(discovery::core_versions())),
        ["apis"] if get => return Ok(json_response(discovery::group_list(&resources))),
        ["apis", group] if get => {
            return discovery::group(&resources, group)
                .map(json_response)
                .ok_or_else(ApiError::not_found_path);
        }
        ["api", version] | ["apis", _, version] if get => {
            let group = if segments[0] == "api" {
                ""
            } else {
                segments[1]
            };
            return discovery::resource_list(&resources, group, version)
                .map(json_response)
                .ok_or_else(ApiError::not_found_path);
        }
        ["openapi", ..] => return Ok(crate::openapi::serve(&resources, &segments[1..], query)),
        _ => {}
    }
    let parsed = parse_path(&segments).ok_or_else(ApiError::not_found_path)?;
    resource_request(app, method, parsed, query, headers, body)
}

fn parse_path(segments: &[&str]) -> Option<Path> {
    let (group, version, rest) = match segments {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let mut path = Path {
        group: group.into(),
        version: version.into(),
        ..Path::default()
    };
    let rest = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            path.namespace = Some((*ns).into());
            path.plural = (*plural).into();
            tail
        }
        [plural, tail @ ..] => {
            path.plural = (*plural).into();
            tail
        }
        [] => return None,
    };
    match rest {
        [] => {}
        [name] => path.name = Some((*name).into()),
        [name, sub] => {
            path.name = Some((*name).into());
            path.subresource = Some((*sub).into());
        }
        _ => return None,
    }
    Some(path)
}

fn include_object(query: &Query) -> &str {
    query
        .get("includeObject")
        .map(String::as_str)
        .unwrap_or("Metadata")
}

fn flag(query: &Query, key: &str) -> bool {
    matches!(query.get(key).map(String::as_str), Some("true" | "1"))
}

/// Reads a request body: JSON, YAML where `yaml` (apply patches), or the Kubernetes protobuf
/// encoding that client-go's typed clients send for built-in kinds.
fn parse_body(body: &Bytes, content_type: &str, yaml: bool) -> Result<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if protobuf::is_protobuf(content_type) {
        return protobuf::decode(body);
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(e) if !yaml => Err(ApiError::bad_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
        Err(_) => serde_norway::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}"))),
    }
}

fn resource_request(
    app: &App,
    method: &Method,
    path: Path,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let rt = app
        .store
        .resolve(&path.group, &path.version, &path.plural)
        .ok_or_else(ApiError::not_found_path)?;
    // A namespaced resource addressed without a namespace is only listed or watched.
    if (path.namespace.is_some() && !rt.namespaced)
        || (path.namespace.is_none() && rt.namespaced && path.name.is_some())
    {
        return Err(ApiError::not_found_path());
    }
    let part = match path.subresource.as_deref() {
        None => Part::Main,
        Some("status") if rt.has_status(&path.version) => Part::Status,
        Some(_) => return Err(ApiError::not_found_path()),
    };
    let namespace = path.namespace.clone().unwrap_or_default();
    let t = Target {
        store: &app.store,
        rt: &rt,
        version: &path.version,
        namespace: &namespace,
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let opts = WriteOptions {
        dry_run: query.get("dryRun").is_some_and(|v| v == "All"),
        field_manager: query.get("fieldManager").cloned(),
        strict: query.get("fieldValidation").is_some_and(|v| v == "Strict"),
    };
    let selector = Selector::parse(
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    )?;
    let created = |v: Value| (StatusCode::CREATED, Json(v)).into_response();
    match (method.as_str(), path.name.as_deref()) {
        ("GET", _) if flag(query, "watch") => {
            let mut selector = selector;
            if let Some(name) = &path.name {
                let fields = format!("metadata.name={name}");
                selector = Selector::parse(
                    query.get("labelSelector").map(String::as_str),
                    Some(&fields),
                )?;
            }
            let timeout_s = query
                .get("timeoutSeconds")
                .and_then(|s| s.parse().ok())
                .unwrap_or(WATCH_TIMEOUT_DEFAULT_S);
            let request = WatchRequest {
                rt: rt.clone(),
                version: path.version.clone(),
                namespace: path.namespace.clone(),
                selector,
                resource_version: query.get("resourceVersion").cloned(),
                bookmarks: flag(query, "allowWatchBookmarks"),
                send_initial_events: flag(query, "sendInitialEvents"),
                timeout: Duration::from_secs(timeout_s),
                table: table::wants_table(accept).then(|| include_object(query).to_owned()),
            };
            Ok(watch::respond(
                app.store.clone(),
                app.shutdown.clone(),
                request,
            ))
        }
        ("GET", None) => {
            let (mut items, rv) = app.store.list(&rt.key(), path.namespace.as_deref());
            events::merge_companions(&app.store, &rt, path.namespace.as_deref(), &mut items);
            let items: Vec<Value> = items
                .into_iter()
                .filter(|i| selector.matches(i))
                .map(|i| ops::present(&t, i))
                .collect();
            if table::wants_table(accept) {
                let include = query
                    .get("includeObject")
                    .map(String::as_str)
                    .unwrap_or("Metadata");
                return Ok(json_response(table::table(
                    &rt,
                    &path.version,
                    &items,
                    &rv.to_string(),
                    include,
                )));
            }
            Ok(json_response(json!({
                "kind": format!("{}List", rt.kind),
                "apiVersion": rt.api_version(&path.version),
                "metadata": {"resourceVersion": rv.to_string()},
                "items": items,
            })))
        }
        ("GET", Some(name)) => {
            let object = app
                .store
                .get(&rt.key(), &namespace, name)
                .or_else(|| events::companion_get(&app.store, &rt, &namespace, name))
                .ok_or_else(|| ApiError::not_found(&rt.qualified_plural(), name))?;
            let object = ops::present(&t, object);
            if table::wants_table(accept) {
                let rv = object["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let include = query
                    .get("includeObject")
                    .map(String::as_str)
                    .unwrap_or("Metadata");
                return Ok(json_response(table::table(
                    &rt,
                    &path.version,
                    &[object],
                    &rv,
                    include,
                )));
            }
            Ok(json_response(object))
        }
        ("POST", None) => Ok(created(ops::create(
            &t,
            parse_body(&body, content_type, false)?,
            &opts,
            "Update",
        )?)),
        ("PUT", Some(name)) => Ok(json_response(ops::replace(
            &t,
            name,
            parse_body(&body, content_type, false)?,
            part,
            &opts,
        )?)),
        ("PATCH", Some(name)) => {
            let type_ = PatchType::from_content_type(content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            let body = parse_body(&body, content_type, type_ == PatchType::Apply)?;
            let existed = app.store.get(&rt.key(), &namespace, name).is_some();
            let object = ops::patch(&t, name, type_, body, part, &opts)?;
            Ok(if existed {
                json_response(object)
            } else {
                created(object)
            })
        }
        ("DELETE", Some(name)) => {
            let options = parse_body(&body, content_type, false)?;
            let dry_run = opts.dry_run
                || options["dryRun"]
                    .as_array()
                    .is_some_and(|d| d.contains(&json!("All")));
            match ops::delete(&t, name, &options, dry_run)? {
                Deleted::Gone(status) => Ok(json_response(status)),
                Deleted::Pending(object) => Ok(json_response(object)),
            }
        }
        ("DELETE", None) => {
            let (items, _) = app.store.list(&rt.key(), path.namespace.as_deref());
            let mut deleted = Vec::new();
            for item in items.into_iter().filter(|i| selector.matches(i)) {
                let name = item["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let ns = item["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let t = Target {
                    namespace: &ns,
                    ..t
                };
                ops::delete(&t, &name, &Value::Null, opts.dry_run)?;
                deleted.push(ops::present(&t, item));
            }
            Ok(json_response(json!({
                "kind": format!("{}List", rt.kind),
                "apiVersion": rt.api_version(&path.version),
                "metadata": {"resourceVersion": app.store.current_rv().to_string()},
                "items": deleted,
            })))
        }
        (m, _) => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on {}",
            rt.qualified_plural()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_resource_namespace_name_and_subresource() {
        let p = parse_path(&[
            "apis",
            "g",
            "v1",
            "namespaces",
            "n",
            "things",
            "a",
            "status",
        ])
        .unwrap();
        assert_eq!(
            (p.group.as_str(), p.namespace.as_deref(), p.plural.as_str()),
            ("g", Some("n"), "things")
        );
        assert_eq!(
            (p.name.as_deref(), p.subresource.as_deref()),
            (Some("a"), Some("status"))
        );
        let p = parse_path(&["api", "v1", "namespaces", "n", "status"]).unwrap();
        assert_eq!(
            (
                p.plural.as_str(),
                p.name.as_deref(),
                p.subresource.as_deref()
            ),
            ("namespaces", Some("n"), Some("status"))
        );
        let p = parse_path(&["api", "v1", "namespaces"]).unwrap();
        assert_eq!((p.plural.as_str(), p.name), ("namespaces", None));
    }

    #[test]
    fn query_strings_are_percent_decoded() {
        let q: Query = url_pairs("labelSelector=app%3Dx%2Ctier+in+(a)&watch=1").collect();
        assert_eq!(q["labelSelector"], "app=x,tier in (a)");
        assert_eq!(q["watch"], "1");
    }
}
