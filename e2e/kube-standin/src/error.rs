//! API errors, answered as real `metav1.Status` objects so that kubectl and kube-rs print and
//! classify them exactly as they would for a real API server.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The crate's result alias: every handler step returns an [`ApiError`] on failure.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// One invalid field, as the API server reports it in `details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Dotted path such as `spec.multiplier`.
    pub field: String,
    /// Machine-readable reason such as `FieldValueInvalid`.
    pub reason: &'static str,
    /// The text after the field path, such as `Invalid value: 20: must be at most 10`.
    pub detail: String,
}

impl FieldError {
    pub fn invalid(field: &str, value: &Value, message: &str) -> FieldError {
        FieldError {
            field: field.to_owned(),
            reason: "FieldValueInvalid",
            detail: format!("Invalid value: {}: {message}", render_value(value)),
        }
    }

    pub fn required(field: &str) -> FieldError {
        FieldError {
            field: field.to_owned(),
            reason: "FieldValueRequired",
            detail: "Required value".to_owned(),
        }
    }

    pub fn unsupported(field: &str, value: &Value, allowed: &[Value]) -> FieldError {
        let allowed: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        FieldError {
            field: field.to_owned(),
            reason: "FieldValueNotSupported",
            detail: format!(
                "Unsupported value: {}: supported values: {}",
                value,
                allowed.join(", ")
            ),
        }
    }

    pub fn forbidden(field: &str, message: &str) -> FieldError {
        FieldError {
            field: field.to_owned(),
            reason: "FieldValueForbidden",
            detail: format!("Forbidden: {message}"),
        }
    }

    pub fn type_mismatch(field: &str, value: &Value, expected: &str) -> FieldError {
        let actual = json_type_name(value);
        FieldError {
            field: field.to_owned(),
            reason: "FieldValueTypeInvalid",
            detail: format!(
                "Invalid value: \"{actual}\": {field} in body must be of type {expected}: \"{actual}\""
            ),
        }
    }

    /// The whole line, as the real server formats a `field.Error`.
    pub fn line(&self) -> String {
        format!("{}: {}", self.field, self.detail)
    }
}

/// Renders a value the way apimachinery's `field.Error` does: strings quoted, numbers bare,
/// objects and lists by their type name.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "\"object\"".to_owned(),
        Value::Array(_) => "\"array\"".to_owned(),
        other => other.to_string(),
    }
}

pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A failed request, rendered as a `metav1.Status`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String) -> ApiError {
        ApiError {
            code,
            reason,
            message,
            details: None,
        }
    }

    pub fn not_found(resource: &str, name: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
            .with_details(name, resource)
    }

    pub fn not_found_path() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource".to_owned(),
        )
    }

    pub fn already_exists(resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
        .with_details(name, resource)
    }

    pub fn conflict(resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been \
                 modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(name, resource)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message.into())
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message.into())
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
            ),
        )
    }

    /// 415 for a request body in a media type the stand-in does not read; `what` says which.
    pub fn unsupported_body_type(what: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {what})"
            ),
        )
    }

    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message.into())
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message.into())
    }

    /// 422 Invalid, with the message kubectl prints: `Kind.group "name" is invalid: ...`.
    pub fn invalid(qualified_kind: &str, name: &str, errors: &[FieldError]) -> ApiError {
        let lines: Vec<String> = errors.iter().map(FieldError::line).collect();
        let joined = if lines.len() == 1 {
            lines[0].clone()
        } else {
            format!("[{}]", lines.join(", "))
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.detail, "field": e.field}))
            .collect();
        let (kind, group) = qualified_kind
            .split_once('.')
            .unwrap_or((qualified_kind, ""));
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{qualified_kind} \"{name}\" is invalid: {joined}"),
            details: Some(json!({"name": name, "group": group, "kind": kind, "causes": causes})),
        }
    }

    /// An admission plugin's refusal of `resource` `name`: `... is forbidden: <message>`, with
    /// the status reason the plugin gave (`Forbidden` 403, `Unauthorized` 401,
    /// `RequestEntityTooLarge` 413, anything else `Invalid` 422).
    pub fn admission_denied(resource: &str, name: &str, message: &str, reason: &str) -> ApiError {
        let (code, reason) = match reason {
            "Forbidden" => (403, "Forbidden"),
            "Unauthorized" => (401, "Unauthorized"),
            "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
            _ => (422, "Invalid"),
        };
        let mut error = ApiError::new(
            code,
            reason,
            format!("{resource} \"{name}\" is forbidden: {message}"),
        )
        .with_details(name, resource);
        error.details.as_mut().expect("just set")["causes"] = json!([{"message": message}]);
        error
    }

    fn with_details(mut self, name: &str, resource: &str) -> ApiError {
        let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
        self.details = Some(json!({"name": name, "group": group, "kind": kind}));
        self
    }

    /// The `metav1.Status` body of this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.status())).into_response()
    }
}
