//! Request bodies in `application/vnd.kubernetes.protobuf`, for the kinds kubectl's `create`
//! subcommands send that way.
//!
//! client-go's generated clients for built-in kinds always encode requests as protobuf (only a
//! CBOR request falls back to JSON on 415 Unsupported Media Type), so `kubectl create namespace`,
//! `create configmap`, `create secret` and `create serviceaccount` can only work if the server
//! reads protobuf. Bodies are `k8s\0` followed by a `runtime.Unknown` envelope (`typeMeta`,
//! `raw`), whose `raw` is the object's message. This module decodes the wire format with a small
//! schema per supported kind (field numbers from the `generated.proto` files of k8s.io/api and
//! apimachinery) into the JSON form the rest of the server works with. Responses stay JSON, which
//! those clients also accept. Other kinds are answered with 415 Unsupported Media Type.

use crate::error::{ApiError, Result};
use crate::ops::base64_encode;
use serde_json::{Map, Value, json};

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// How a field's value is encoded and turned into JSON.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    /// `bytes`, shown base64-encoded as in JSON.
    Bytes,
    Bool,
    Int,
    /// `metav1.Time`: seconds and nanos, shown as RFC 3339.
    Time,
    Msg(&'static [Field]),
    /// `map<string, string>`.
    StrMap,
    /// `map<string, bytes>`.
    BytesMap,
}

/// One field of a message: its number, JSON name, type and whether it repeats.
type Field = (u32, &'static str, Ty, bool);

const OWNER_REFERENCE: &[Field] = &[
    (1, "kind", Ty::Str, false),
    (3, "name", Ty::Str, false),
    (4, "uid", Ty::Str, false),
    (5, "apiVersion", Ty::Str, false),
    (6, "controller", Ty::Bool, false),
    (7, "blockOwnerDeletion", Ty::Bool, false),
];

/// `metav1.ObjectMeta`, without managedFields (the server records its own).
const OBJECT_META: &[Field] = &[
    (1, "name", Ty::Str, false),
    (2, "generateName", Ty::Str, false),
    (3, "namespace", Ty::Str, false),
    (5, "uid", Ty::Str, false),
    (6, "resourceVersion", Ty::Str, false),
    (7, "generation", Ty::Int, false),
    (8, "creationTimestamp", Ty::Time, false),
    (9, "deletionTimestamp", Ty::Time, false),
    (10, "deletionGracePeriodSeconds", Ty::Int, false),
    (11, "labels", Ty::StrMap, false),
    (12, "annotations", Ty::StrMap, false),
    (13, "ownerReferences", Ty::Msg(OWNER_REFERENCE), true),
    (14, "finalizers", Ty::Str, true),
];

const NAMESPACE: &[Field] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (
        2,
        "spec",
        Ty::Msg(&[(1, "finalizers", Ty::Str, true)]),
        false,
    ),
    (3, "status", Ty::Msg(&[(1, "phase", Ty::Str, false)]), false),
];

const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "data", Ty::StrMap, false),
    (3, "binaryData", Ty::BytesMap, false),
    (4, "immutable", Ty::Bool, false),
];

const SECRET: &[Field] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "data", Ty::BytesMap, false),
    (3, "type", Ty::Str, false),
    (4, "stringData", Ty::StrMap, false),
    (5, "immutable", Ty::Bool, false),
];

const OBJECT_REFERENCE: &[Field] = &[
    (1, "kind", Ty::Str, false),
    (2, "namespace", Ty::Str, false),
    (3, "name", Ty::Str, false),
    (4, "uid", Ty::Str, false),
    (5, "apiVersion", Ty::Str, false),
    (6, "resourceVersion", Ty::Str, false),
    (7, "fieldPath", Ty::Str, false),
];

const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", Ty::Msg(OBJECT_META), false),
    (2, "secrets", Ty::Msg(OBJECT_REFERENCE), true),
    (
        3,
        "imagePullSecrets",
        Ty::Msg(&[(1, "name", Ty::Str, false)]),
        true,
    ),
    (4, "automountServiceAccountToken", Ty::Bool, false),
];

/// The kinds whose protobuf form is understood, by (apiVersion, kind).
const KINDS: &[(&str, &str, &[Field])] = &[
    ("v1", "Namespace", NAMESPACE),
    ("v1", "ConfigMap", CONFIG_MAP),
    ("v1", "Secret", SECRET),
    ("v1", "ServiceAccount", SERVICE_ACCOUNT),
];

/// Whether a Content-Type header names the Kubernetes protobuf encoding.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().map(str::trim) == Some(MEDIA_TYPE)
}

fn malformed() -> ApiError {
    ApiError::bad_request("the request body is not a valid Kubernetes protobuf message")
}

/// Decodes a protobuf request body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value> {
    let envelope = body.strip_prefix(MAGIC).ok_or_else(malformed)?;
    let mut type_meta = Value::Null;
    let mut raw: &[u8] = &[];
    for item in Reader(envelope) {
        match item? {
            (1, Wire::Len(b)) => {
                type_meta = message(
                    b,
                    &[
                        (1, "apiVersion", Ty::Str, false),
                        (2, "kind", Ty::Str, false),
                    ],
                )?
            }
            (2, Wire::Len(b)) => raw = b,
            _ => {}
        }
    }
    let api_version = type_meta["apiVersion"].as_str().unwrap_or_default();
    let kind = type_meta["kind"].as_str().unwrap_or_default();
    let Some((_, _, fields)) = KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
    else {
        return Err(ApiError::unsupported_body_type(&format!(
            "{MEDIA_TYPE} for {api_version} {kind}; the stand-in reads protobuf only for {}",
            KINDS
                .iter()
                .map(|(v, k, _)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let mut object = message(raw, fields)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

/// A field's value on the wire.
enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed,
}

/// Iterates over the (field number, value) pairs of one message.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or_else(malformed)?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed())
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if n > self.0.len() {
            return Err(malformed());
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<(u32, Wire<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let mut item = || -> Result<(u32, Wire<'a>)> {
            let key = self.varint()?;
            let number = u32::try_from(key >> 3).map_err(|_| malformed())?;
            let value = match key & 7 {
                0 => Wire::Varint(self.varint()?),
                1 => {
                    self.take(8)?;
                    Wire::Fixed
                }
                2 => {
                    let n = usize::try_from(self.varint()?).map_err(|_| malformed())?;
                    let data: &'a [u8] = self.0;
                    if n > data.len() {
                        return Err(malformed());
                    }
                    self.0 = &data[n..];
                    Wire::Len(&data[..n])
                }
                5 => {
                    self.take(4)?;
                    Wire::Fixed
                }
                _ => return Err(malformed()),
            };
            Ok((number, value))
        };
        let result = item();
        if result.is_err() {
            // Stop after the first error.
            self.0 = &[];
        }
        Some(result)
    }
}

fn text(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed())
}

/// Decodes one message. Empty strings, zero numbers, zero times and empty messages are left
/// out, as the JSON encoding's `omitempty` does; unknown fields are skipped.
fn message(bytes: &[u8], fields: &[Field]) -> Result<Value> {
    let mut out = Map::new();
    for item in Reader(bytes) {
        let (number, wire) = item?;
        let Some(&(_, name, ty, repeated)) = fields.iter().find(|f| f.0 == number) else {
            continue;
        };
        let value = match (ty, wire) {
            (Ty::Str, Wire::Len(b)) => json!(text(b)?),
            (Ty::Bytes, Wire::Len(b)) => json!(base64_encode(b)),
            (Ty::Bool, Wire::Varint(v)) => json!(v != 0),
            // Two's complement, as int64 fields are encoded.
            (Ty::Int, Wire::Varint(v)) => json!(v as i64),
            (Ty::Time, Wire::Len(b)) => time(b)?,
            (Ty::Msg(inner), Wire::Len(b)) => message(b, inner)?,
            (Ty::StrMap | Ty::BytesMap, Wire::Len(b)) => {
                let value_ty = if matches!(ty, Ty::StrMap) {
                    Ty::Str
                } else {
                    Ty::Bytes
                };
                let entry = message(b, &[(1, "k", Ty::Str, false), (2, "v", value_ty, false)])?;
                let key = entry["k"].as_str().unwrap_or_default().to_owned();
                let value = entry.get("v").cloned().unwrap_or_else(|| json!(""));
                let map = out.entry(name).or_insert_with(|| json!({}));
                map[key] = value;
                continue;
            }
            _ => return Err(malformed()),
        };
        let empty = match &value {
            Value::String(s) => s.is_empty() && !repeated,
            Value::Number(n) => n.as_i64() == Some(0),
            Value::Object(m) => m.is_empty() && !repeated,
            Value::Null => true,
            _ => false,
        };
        if repeated {
            let list = out.entry(name).or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                list.push(value);
            }
        } else if !empty {
            out.insert(name.into(), value);
        }
    }
    Ok(Value::Object(out))
}

fn time(bytes: &[u8]) -> Result<Value> {
    let mut seconds = 0i64;
    for item in Reader(bytes) {
        if let (1, Wire::Varint(v)) = item? {
            seconds = v as i64;
        }
    }
    if seconds == 0 {
        return Ok(Value::Null);
    }
    let time = chrono::DateTime::from_timestamp(seconds, 0).ok_or_else(malformed)?;
    Ok(json!(time.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_kubectl_create_sends_decodes_to_its_json_form() {
        // `kubectl create namespace x`, as captured with -v=9.
        let body = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x19\x0a\x11\x0a\x01x\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
        assert_eq!(
            decode(body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
        );
    }

    #[test]
    fn maps_bytes_and_repeated_fields_decode() {
        // Secret{metadata{name "s", labels{a: b}, finalizers ["f"]}, data{k: "hi"}, type "Opaque"}
        let meta = b"\x0a\x01s\x5a\x06\x0a\x01a\x12\x01b\x72\x01f";
        let data = b"\x0a\x01k\x12\x02hi";
        let mut raw = vec![0x0a, meta.len() as u8];
        raw.extend_from_slice(meta);
        raw.extend_from_slice(&[0x12, data.len() as u8]);
        raw.extend_from_slice(data);
        raw.extend_from_slice(b"\x1a\x06Opaque");
        let mut body = b"k8s\0\x0a\x0c\x0a\x02v1\x12\x06Secret\x12".to_vec();
        body.push(raw.len() as u8);
        body.extend_from_slice(&raw);
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "s", "labels": {"a": "b"}, "finalizers": ["f"]},
                   "data": {"k": "aGk="}})
        );
    }

    #[test]
    fn other_kinds_and_garbage_are_refused() {
        let pod = b"k8s\0\x0a\x09\x0a\x02v1\x12\x03Pod\x12\x00";
        assert_eq!(decode(pod).unwrap_err().code, 415);
        assert_eq!(decode(b"{}").unwrap_err().code, 400);
        assert_eq!(decode(b"k8s\0\x0a\xff").unwrap_err().code, 400);
    }
}
