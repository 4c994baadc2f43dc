//! The life cycle of an object: what create, replace, patch and delete do to metadata, status,
//! generation and finalizers before the store commits the result.

use crate::admission::Admission;
use crate::error::{ApiError, FieldError, Result};
use crate::managed;
use crate::patch::{self, PatchType};
use crate::registry::ResourceType;
use crate::store::{Store, Write};
use crate::validation;
use serde_json::{Map, Value, json};

/// Query options shared by every write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    /// `fieldValidation=Strict`: unknown fields are an error instead of being pruned.
    pub strict: bool,
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

/// The resource and version a request addresses, and its namespace ("" when cluster-scoped).
pub struct Target<'a> {
    pub store: &'a Store,
    pub rt: &'a ResourceType,
    pub version: &'a str,
    pub namespace: &'a str,
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Sets the apiVersion and kind the client asked for: versions of a resource share one stored
/// form (no conversion webhooks here).
pub fn present(t: &Target, mut object: Value) -> Value {
    object["apiVersion"] = Value::String(t.rt.api_version(t.version));
    object["kind"] = Value::String(t.rt.kind.clone());
    object
}

/// Standard base64 with padding, as JSON carries `bytes` fields such as a Secret's `data`.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What the real server's conversion and defaulting do to a built-in kind on every write: a
/// Secret's `stringData` is merged into `data` (base64-encoded; a key in both takes the
/// `stringData` value) and is never stored or returned, and its `type` defaults to `Opaque`.
fn normalize(t: &Target, object: &mut Value) {
    if !(t.rt.group.is_empty() && t.rt.plural == "secrets") {
        return;
    }
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if map
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        map.insert("type".into(), json!("Opaque"));
    }
    let Some(string_data) = map.remove("stringData") else {
        return;
    };
    let Value::Object(string_data) = string_data else {
        return;
    };
    if string_data.is_empty() {
        return;
    }
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (key, value) in string_data {
        let text = value.as_str().unwrap_or_default();
        data[key] = json!(base64_encode(text.as_bytes()));
    }
}

fn meta(object: &Value) -> &Value {
    &object["metadata"]
}

pub(crate) fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

fn check_kind(t: &Target, object: &Value) -> Result<()> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let kind = object["kind"].as_str().unwrap_or(&t.rt.kind);
    let api_version = object["apiVersion"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| t.rt.api_version(t.version));
    if kind != t.rt.kind || api_version != t.rt.api_version(t.version) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            t.rt.api_version(t.version)
        )));
    }
    Ok(())
}

fn tracks_generation(rt: &ResourceType, object: &Value) -> bool {
    rt.custom || object.get("spec").is_some()
}

/// Creates an object from a POST body (or from a server-side apply of a missing object).
pub fn create(
    t: &Target,
    mut object: Value,
    opts: &WriteOptions,
    operation: &str,
) -> Result<Value> {
    check_kind(t, &object)?;
    let body = object.clone();
    object["apiVersion"] = json!(t.rt.api_version(t.version));
    object["kind"] = json!(t.rt.kind);
    let meta = meta_mut(&mut object);
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        let Some(prefix) = meta.get("generateName").and_then(Value::as_str) else {
            let e = FieldError {
                field: "metadata.name".into(),
                reason: "FieldValueRequired",
                detail: "Required value: name or generateName is required".into(),
            };
            return Err(ApiError::invalid(&t.rt.qualified_kind(), "", &[e]));
        };
        let suffix: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(5)
            .collect();
        meta.insert("name".into(), json!(format!("{prefix}{suffix}")));
    }
    if t.rt.namespaced {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != t.namespace => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(t.namespace));
            }
        }
    } else {
        meta.remove("namespace");
    }
    for key in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
    ] {
        meta.remove(key);
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now()));
    let name = meta["name"].as_str().unwrap_or_default().to_owned();
    if t.rt.namespaced && t.store.get(&namespaces(), "", t.namespace).is_none() {
        return Err(ApiError::not_found("namespaces", t.namespace));
    }
    if let Some(map) = object
        .as_object_mut()
        .filter(|_| t.rt.has_status(t.version))
    {
        map.remove("status");
    }
    if tracks_generation(t.rt, &object) {
        meta_mut(&mut object).insert("generation".into(), json!(1));
    }
    normalize(t, &mut object);
    validation::check(t.rt, t.version, &mut object, None, opts.strict)?;
    special_on_create(t, &mut object)?;
    Admission::load(t).admit(t, Part::Main, &object, None)?;
    let manager = opts
        .field_manager
        .clone()
        .unwrap_or_else(|| "unknown".into());
    managed::record_manager(t, &mut object, &manager, operation, Part::Main, &body);
    let stored = t
        .store
        .write(t.rt, t.namespace, &name, opts.dry_run, |current| {
            if current.is_some() {
                return Err(ApiError::already_exists(&t.rt.qualified_plural(), &name));
            }
            Ok(Write::Put(object))
        })?;
    Ok(present(t, stored.unwrap_or_default()))
}

fn namespaces() -> crate::registry::ResKey {
    crate::registry::ResKey {
        group: String::new(),
        plural: "namespaces".into(),
    }
}

/// Status the real server's controllers would set right away: namespaces are Active, and a
/// CRD's names are accepted and it is Established.
fn special_on_create(t: &Target, object: &mut Value) -> Result<()> {
    match (t.rt.group.as_str(), t.rt.plural.as_str()) {
        ("", "namespaces") => object["status"] = json!({"phase": "Active"}),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let rt = crate::registry::from_crd(object).map_err(|msg| {
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let e = FieldError {
                    field: "spec".into(),
                    reason: "FieldValueInvalid",
                    detail: msg,
                };
                ApiError::invalid(&t.rt.qualified_kind(), name, &[e])
            })?;
            let expected = format!("{}.{}", rt.plural, rt.group);
            if object["metadata"]["name"] != json!(expected) {
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let e = FieldError::invalid(
                    "metadata.name",
                    &json!(name),
                    "must be spec.names.plural+\".\"+spec.group",
                );
                return Err(ApiError::invalid(&t.rt.qualified_kind(), name, &[e]));
            }
            let time = now();
            let condition = |type_: &str, reason: &str, message: &str| json!({"type": type_, "status": "True", "lastTransitionTime": time, "reason": reason, "message": message});
            object["status"] = json!({
                "acceptedNames": object["spec"]["names"].clone(),
                "storedVersions": [rt.versions[0].name],
                "conditions": [
                    condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                    condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                ],
            });
        }
        _ => {}
    }
    Ok(())
}

/// Turns the object a client wants (`new`) into the object to store, given what is stored
/// (`old`): the shared rules of PUT and PATCH.
fn finish_update(
    t: &Target,
    old: &Value,
    mut new: Value,
    part: Part,
    opts: &WriteOptions,
    require_rv: bool,
) -> Result<Value> {
    check_kind(t, &new)?;
    let name = meta(old)["name"].as_str().unwrap_or_default().to_owned();
    if meta(&new)["name"].as_str().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta(&new)["name"].as_str().unwrap_or_default()
        )));
    }
    match meta(&new)["resourceVersion"].as_str() {
        Some(rv) if Some(rv) != meta(old)["resourceVersion"].as_str() => {
            return Err(ApiError::conflict(&t.rt.qualified_plural(), &name));
        }
        None if require_rv && t.rt.custom => {
            let e = FieldError::invalid(
                "metadata.resourceVersion",
                &json!("0x0"),
                "must be specified for an update",
            );
            return Err(ApiError::invalid(&t.rt.qualified_kind(), &name, &[e]));
        }
        _ => {}
    }
    new["apiVersion"] = old["apiVersion"].clone();
    new["kind"] = old["kind"].clone();
    // Identity and life-cycle fields belong to the server.
    let old_meta = meta(old).clone();
    let new_meta = meta_mut(&mut new);
    for key in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
    ] {
        match old_meta.get(key) {
            Some(v) => new_meta.insert(key.into(), v.clone()),
            None => new_meta.remove(key),
        };
    }
    if t.rt.has_status(t.version) {
        new = match part {
            // A status write changes only status.
            Part::Status => {
                let mut merged = old.clone();
                match new.get("status") {
                    Some(status) => merged["status"] = status.clone(),
                    None => {
                        merged.as_object_mut().map(|m| m.remove("status"));
                    }
                }
                merged
            }
            // A main write never changes status.
            Part::Main => {
                let map = new.as_object_mut().expect("checked to be an object");
                match old.get("status") {
                    Some(status) => map.insert("status".into(), status.clone()),
                    None => map.remove("status"),
                };
                new
            }
        };
    }
    if meta(old).get("deletionTimestamp").is_some() {
        let old_f = meta(old)["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let added = meta(&new)["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| !old_f.contains(f));
        if added {
            let e = FieldError::forbidden(
                "metadata.finalizers",
                "no new finalizers can be added if the object is being deleted",
            );
            return Err(ApiError::invalid(&t.rt.qualified_kind(), &name, &[e]));
        }
    }
    normalize(t, &mut new);
    validation::check(t.rt, t.version, &mut new, Some(old), opts.strict)?;
    if tracks_generation(t.rt, &new) && spec_changed(t, old, &new) {
        let generation = meta(old)["generation"].as_i64().unwrap_or(0) + 1;
        meta_mut(&mut new).insert("generation".into(), json!(generation));
    }
    Ok(new)
}

/// Whether anything but metadata (and status, when it is a subresource) changed.
fn spec_changed(t: &Target, old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("metadata");
            if t.rt.has_status(t.version) {
                map.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

fn missing(t: &Target, name: &str) -> ApiError {
    ApiError::not_found(&t.rt.qualified_plural(), name)
}

/// PUT: replaces the object (or its status).
pub fn replace(
    t: &Target,
    name: &str,
    body: Value,
    part: Part,
    opts: &WriteOptions,
) -> Result<Value> {
    let admission = Admission::load(t);
    let stored = t
        .store
        .write(t.rt, t.namespace, name, opts.dry_run, |current| {
            let old = current.ok_or_else(|| missing(t, name))?;
            let mut new = finish_update(t, old, body.clone(), part, opts, true)?;
            admission.admit(t, part, &new, Some(old))?;
            let manager = opts.field_manager.as_deref().unwrap_or("unknown");
            managed::record_manager(t, &mut new, manager, "Update", part, &body);
            Ok(Write::Put(new))
        })?;
    Ok(present(t, stored.unwrap_or_default()))
}

/// PATCH in any of the four patch types. A server-side apply of a missing object creates it.
pub fn patch(
    t: &Target,
    name: &str,
    type_: PatchType,
    body: Value,
    part: Part,
    opts: &WriteOptions,
) -> Result<Value> {
    let manager = opts.field_manager.clone();
    if type_ == PatchType::Apply {
        if manager.is_none() {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        if part == Part::Main && t.store.get(&t.rt.key(), t.namespace, name).is_none() {
            let mut object = body;
            meta_mut(&mut object).insert("name".into(), json!(name));
            return create(t, object, opts, "Apply");
        }
    }
    let admission = Admission::load(t);
    let stored = t
        .store
        .write(t.rt, t.namespace, name, opts.dry_run, |current| {
            let old = current.ok_or_else(|| missing(t, name))?;
            let mut new = old.clone();
            match type_ {
                PatchType::Merge | PatchType::Apply => patch::merge(&mut new, &body),
                PatchType::Strategic => patch::strategic(&mut new, &body),
                PatchType::Json => patch::json_patch(&mut new, &body)?,
            }
            let mut new = finish_update(t, old, new, part, opts, false)?;
            admission.admit(t, part, &new, Some(old))?;
            let (operation, fields) = match type_ {
                PatchType::Apply => ("Apply", body.clone()),
                PatchType::Json => ("Update", json!({})),
                _ => ("Update", body.clone()),
            };
            let manager = manager.as_deref().unwrap_or("unknown");
            managed::record_manager(t, &mut new, manager, operation, part, &fields);
            Ok(Write::Put(new))
        })?;
    Ok(present(t, stored.unwrap_or_default()))
}

/// What a DELETE did.
pub enum Deleted {
    /// Removed at once; answered with a `Status` of `Success`.
    Gone(Value),
    /// Kept with a deletionTimestamp until its finalizers are removed; answered with the object.
    Pending(Value),
}

/// DELETE: removes the object, or marks it for deletion while finalizers remain.
pub fn delete(t: &Target, name: &str, options: &Value, dry_run: bool) -> Result<Deleted> {
    let preconditions = &options["preconditions"];
    let mut pending = false;
    let stored = t.store.write(t.rt, t.namespace, name, dry_run, |current| {
        let old = current.ok_or_else(|| missing(t, name))?;
        let precondition_fails = |key: &str| {
            preconditions[key]
                .as_str()
                .is_some_and(|want| Some(want) != meta(old)[key].as_str())
        };
        if precondition_fails("uid") || precondition_fails("resourceVersion") {
            return Err(ApiError::conflict(&t.rt.qualified_plural(), name));
        }
        if meta(old)["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            pending = true;
            let mut marked = old.clone();
            let m = meta_mut(&mut marked);
            if !m.contains_key("deletionTimestamp") {
                m.insert("deletionTimestamp".into(), json!(now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            return Ok(Write::Put(marked));
        }
        Ok(Write::Remove)
    })?;
    if pending {
        return Ok(Deleted::Pending(present(t, stored.unwrap_or_default())));
    }
    if t.rt.group.is_empty() && t.rt.plural == "namespaces" && !dry_run {
        delete_namespace_contents(t.store, name);
    }
    Ok(Deleted::Gone(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": t.rt.group, "kind": t.rt.plural},
    })))
}

/// Deleting a namespace deletes what it contains (objects with finalizers become terminating).
fn delete_namespace_contents(store: &Store, namespace: &str) {
    for rt in store.resources().into_iter().filter(|r| r.namespaced) {
        let version = rt.versions[0].name.clone();
        let t = Target {
            store,
            rt: &rt,
            version: &version,
            namespace,
        };
        let (items, _) = store.list(&rt.key(), Some(namespace));
        for item in items {
            if let Some(name) = item["metadata"]["name"].as_str() {
                // An object deleted concurrently is already gone, which is what we want.
                let _ = delete(&t, name, &Value::Null, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_the_standard_alphabet() {
        let cases: [(&[u8], &str); 5] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"\xff\xfe\xfd\xfc", "//79/A=="),
        ];
        for (bytes, text) in cases {
            assert_eq!(base64_encode(bytes), text);
        }
    }

    #[test]
    fn secret_string_data_wins_over_data_and_is_dropped() {
        let store = Store::new();
        let rt = store.resolve("", "v1", "secrets").unwrap();
        let t = Target {
            store: &store,
            rt: &rt,
            version: "v1",
            namespace: "default",
        };
        let mut secret =
            json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "hi", "c": ""}});
        normalize(&t, &mut secret);
        assert_eq!(
            secret,
            json!({"type": "Opaque", "data": {"a": "eA==", "b": "aGk=", "c": ""}})
        );
    }
}
