//! JSON request bodies, checked against the very schema `/openapi.json` publishes for them.
//!
//! Each body is a typed struct that derives both `Deserialize` and `ToSchema`. At start the
//! published document's component schemas are compiled into validators (JSON Schema 2020-12,
//! formats checked), and a request body is validated against its type's schema before it is
//! deserialized: every problem is reported at once, each with the member at fault
//! (`items[3].serialNumber`), and what the document calls valid is exactly what is accepted.
//! There is no second, hand-written copy of the rules to drift from the document.
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiError, Detail};

/// Compiled validators of the request bodies, by schema name.
pub struct Schemas {
    validators: HashMap<String, jsonschema::Validator>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("names", &self.validators.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Schemas {
    /// Compiles the named component schemas of `document` (an OpenAPI 3.1 document as JSON).
    pub fn compile(document: &Value, names: &[&str]) -> Result<Self, String> {
        let components = document
            .pointer("/components/schemas")
            .cloned()
            .ok_or("the OpenAPI document has no component schemas")?;
        let mut validators = HashMap::new();
        for name in names {
            if components.get(name).is_none() {
                return Err(format!("the OpenAPI document has no schema {name}"));
            }
            let root = serde_json::json!({
                "$ref": format!("#/components/schemas/{name}"),
                "components": { "schemas": components },
            });
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .map_err(|e| format!("schema {name} does not compile: {e}"))?;
            validators.insert((*name).to_string(), validator);
        }
        Ok(Self { validators })
    }

    /// Reads a JSON body of type `T` (whose schema is named `name`): 413 over the route's cap,
    /// 400 for anything that isn't JSON or breaks the schema, with one detail per problem.
    pub fn parse<T: DeserializeOwned>(
        &self,
        name: &str,
        body: Result<Bytes, BytesRejection>,
        max_bytes: usize,
    ) -> Result<T, ApiError> {
        let bytes = body.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(format!("the body must be at most {max_bytes} bytes"))
            } else {
                ApiError::bad_request(e.body_text(), Vec::new())
            }
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(
                "the body must be a JSON object",
                vec![Detail::body("body", format!("not JSON: {e}"))],
            )
        })?;
        let details = self.validate(name, &value)?;
        if !details.is_empty() {
            return Err(ApiError::bad_request("the request body is invalid", details));
        }
        // Valid against its schema, so this only fails if the type and its schema disagree.
        serde_json::from_value(value).map_err(|e| {
            tracing::error!(schema = name, error = %e, "a body valid against its schema did not deserialize");
            ApiError::bad_request(
                "the request body is invalid",
                vec![Detail::body("body", e.to_string())],
            )
        })
    }

    /// Every way `value` breaks the schema named `name`, one detail per member (empty when it is
    /// valid); 500 if no such schema was compiled.
    pub fn validate(&self, name: &str, value: &Value) -> Result<Vec<Detail>, ApiError> {
        let validator = self.validators.get(name).ok_or_else(|| {
            tracing::error!(schema = name, "no validator compiled for this body");
            ApiError::internal()
        })?;
        // One detail per member: an empty serial number breaks both its length and its
        // pattern, and saying it once is enough.
        let mut details: Vec<Detail> = Vec::new();
        for detail in validator.iter_errors(value).flat_map(|e| details_of(&e)) {
            if !details.iter().any(|d| d.param == detail.param) {
                details.push(detail);
            }
        }
        Ok(details)
    }
}

/// `/items/3/serialNumber` → `items[3].serialNumber`; the root is `body`.
fn param_of<'a>(segments: impl Iterator<Item = LocationSegment<'a>>, extra: Option<&str>) -> String {
    let mut param = String::new();
    for segment in segments {
        match segment {
            LocationSegment::Index(i) => param.push_str(&format!("[{i}]")),
            LocationSegment::Property(name) => {
                if !param.is_empty() {
                    param.push('.');
                }
                param.push_str(&name);
            }
        }
    }
    if let Some(extra) = extra {
        if !param.is_empty() {
            param.push('.');
        }
        param.push_str(extra);
    }
    if param.is_empty() { "body".into() } else { param }
}

fn type_name(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(ts) => ts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or "),
    }
}

/// The API's details for one schema violation (an unknown-member violation names each member).
fn details_of(error: &jsonschema::ValidationError<'_>) -> Vec<Detail> {
    let segments = || error.instance_path().segments();
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![Detail::body(&param_of(segments(), Some(name)), "is required")]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| Detail::body(&param_of(segments(), Some(name)), "is not a known member"))
            .collect(),
        ValidationErrorKind::Type { kind } => vec![Detail::body(
            &param_of(segments(), None),
            format!("must be of type {}", type_name(kind)),
        )],
        ValidationErrorKind::Format { format } if format == "uuid" => {
            vec![Detail::body(&param_of(segments(), None), "must be a UUID")]
        }
        _ => vec![Detail::body(&param_of(segments(), None), error.to_string())],
    }
}
