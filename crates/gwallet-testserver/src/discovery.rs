//! Google's discovery document for walletobjects v1, and a check of JSON against its schemas.
//!
//! The document (`discovery/walletobjects.v1.json`, see the README there for its source) describes
//! every resource as a JSON schema of its own dialect: `type` (`object`, `array`, `string`,
//! `integer`, `number`, `boolean`, `any`), `format` (`int32`, `uint32`, `int64`, `uint64`,
//! `double`, `byte`), `$ref` to another schema, `items`, `properties`, `additionalProperties`,
//! `enum` with `enumDeprecated`, and `deprecated`. [`Discovery::validate`] walks a value through
//! them and reports every member the schema does not have, every wrong type, every value outside an
//! enum, every deprecated field (flagged, or described as "Deprecated") or enum value, and (with [`Check::Full`]) every property whose
//! description starts with "Required." that is missing.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The vendored document's text.
pub const DOCUMENT: &str = include_str!("../discovery/walletobjects.v1.json");

/// How much to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Types, names, enums, deprecations and required properties: a resource sent whole (insert,
    /// update).
    Full,
    /// As `Full` without required properties: a patch, which carries only what changes.
    Partial,
}

/// One thing wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where, as a JSON path from the resource (`textModulesData[0].header`).
    pub path: String,
    /// What.
    pub problem: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(resource)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.problem)
    }
}

/// A parsed discovery document.
#[derive(Debug)]
pub struct Discovery {
    schemas: Map<String, Value>,
    revision: String,
}

impl Discovery {
    /// The vendored walletobjects v1 document, parsed once.
    ///
    /// # Panics
    /// Never for the vendored file (a test parses it).
    #[must_use]
    pub fn bundled() -> &'static Self {
        static DOC: OnceLock<Discovery> = OnceLock::new();
        DOC.get_or_init(|| Self::parse(DOCUMENT).expect("the vendored discovery document parses"))
    }

    /// Parses a discovery document.
    ///
    /// # Errors
    /// When it is not JSON or has no `schemas`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let schemas = doc
            .get("schemas")
            .and_then(Value::as_object)
            .cloned()
            .ok_or("the document has no \"schemas\"")?;
        let revision = doc
            .get("revision")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Self { schemas, revision })
    }

    /// The document's `revision` (a date, `20260806`).
    #[must_use]
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// Whether the document has a schema of that name (`EventTicketClass`).
    #[must_use]
    pub fn has_schema(&self, name: &str) -> bool {
        self.schemas.contains_key(name)
    }

    /// Every problem with `value` as an instance of schema `schema`.
    #[must_use]
    pub fn validate(&self, schema: &str, value: &Value, check: Check) -> Vec<Finding> {
        let mut out = Vec::new();
        match self.schemas.get(schema) {
            Some(def) => self.walk(def, value, String::new(), check, &mut out),
            None => out.push(Finding {
                path: String::new(),
                problem: format!("the discovery document has no schema {schema}"),
            }),
        }
        out
    }

    fn walk(&self, def: &Value, value: &Value, path: String, check: Check, out: &mut Vec<Finding>) {
        let mut say = |problem: String| {
            out.push(Finding {
                path: path.clone(),
                problem,
            })
        };
        if let Some(name) = def.get("$ref").and_then(Value::as_str) {
            match self.schemas.get(name) {
                Some(target) => self.walk(target, value, path, check, out),
                None => say(format!("refers to {name}, which the document does not define")),
            }
            return;
        }
        let kind = def.get("type").and_then(Value::as_str).unwrap_or("any");
        let format = def.get("format").and_then(Value::as_str);
        match kind {
            "object" => {
                let Some(map) = value.as_object() else {
                    say(format!("must be an object, not {}", json_type(value)));
                    return;
                };
                let properties = def.get("properties").and_then(Value::as_object);
                let additional = def.get("additionalProperties");
                for (key, member) in map {
                    let member_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if let Some(prop) = properties.and_then(|p| p.get(key)) {
                        if is_deprecated(prop) {
                            out.push(Finding {
                                path: member_path.clone(),
                                problem: "is deprecated".into(),
                            });
                        }
                        self.walk(prop, member, member_path, check, out);
                    } else if let Some(additional) = additional {
                        self.walk(additional, member, member_path, check, out);
                    } else {
                        out.push(Finding {
                            path: member_path,
                            problem: "is not a field of this resource (unknown name)".into(),
                        });
                    }
                }
                if check == Check::Full
                    && let Some(properties) = properties
                {
                    for (key, prop) in properties {
                        let required = prop
                            .get("description")
                            .and_then(Value::as_str)
                            .is_some_and(|d| d.starts_with("Required."));
                        if required && !map.contains_key(key) {
                            out.push(Finding {
                                path: if path.is_empty() {
                                    key.clone()
                                } else {
                                    format!("{path}.{key}")
                                },
                                problem: "is required".into(),
                            });
                        }
                    }
                }
            }
            "array" => {
                let Some(items) = value.as_array() else {
                    say(format!("must be an array, not {}", json_type(value)));
                    return;
                };
                let Some(item_def) = def.get("items") else {
                    return;
                };
                for (i, item) in items.iter().enumerate() {
                    self.walk(item_def, item, format!("{path}[{i}]"), check, out);
                }
            }
            "string" => {
                let Some(s) = value.as_str() else {
                    say(format!("must be a string, not {}", json_type(value)));
                    return;
                };
                match format {
                    Some("int64") if s.parse::<i64>().is_err() => say(format!("\"{s}\" is not an int64")),
                    Some("uint64") if s.parse::<u64>().is_err() => say(format!("\"{s}\" is not a uint64")),
                    Some("byte") if !is_base64(s) => say(format!("\"{s}\" is not base64")),
                    _ => {}
                }
                if let Some(allowed) = def.get("enum").and_then(Value::as_array) {
                    match allowed.iter().position(|a| a.as_str() == Some(s)) {
                        None => say(format!("\"{s}\" is not one of the values Google defines")),
                        Some(i) => {
                            let deprecated = def
                                .get("enumDeprecated")
                                .and_then(Value::as_array)
                                .and_then(|d| d.get(i))
                                .and_then(Value::as_bool);
                            if deprecated == Some(true) {
                                say(format!("\"{s}\" is a deprecated value"));
                            }
                        }
                    }
                }
            }
            "integer" => {
                let ok = match format {
                    Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                    Some("uint32") => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
                    _ => value.is_i64() || value.is_u64(),
                };
                if !ok {
                    say(format!(
                        "must be an integer ({}), not {value}",
                        format.unwrap_or("integer")
                    ));
                }
            }
            "number" if !value.is_number() => say(format!("must be a number, not {}", json_type(value))),
            "boolean" if !value.is_boolean() => {
                say(format!("must be true or false, not {}", json_type(value)));
            }
            _ => {}
        }
    }
}

/// Marked `deprecated`, or described as such (some fields are only described: "Deprecated. Use
/// textModulesData instead.").
fn is_deprecated(prop: &Value) -> bool {
    prop.get("deprecated").and_then(Value::as_bool) == Some(true)
        || prop
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.starts_with("Deprecated"))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_base64(s: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        || base64::engine::general_purpose::URL_SAFE.decode(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_vendored_document_parses_and_has_every_type_passmint_writes() {
        let doc = Discovery::bundled();
        assert_eq!(doc.revision(), "20260806");
        for kind in ["EventTicket", "Flight", "Transit", "Loyalty", "Offer", "Generic"] {
            assert!(doc.has_schema(&format!("{kind}Class")), "{kind}Class");
            assert!(doc.has_schema(&format!("{kind}Object")), "{kind}Object");
        }
    }

    #[test]
    fn finds_unknown_names_wrong_types_bad_enums_deprecations_and_missing_required_fields() {
        let doc = Discovery::bundled();
        let object = json!({
            "id": "1.a",
            "classId": 7,
            "state": "HALF_ACTIVE",
            "barcode": {"type": "qrCode", "value": "x", "colour": "red"},
            "textModulesData": [{"header": "h", "body": ["not", "a", "string"]}],
            "infoModuleData": {},
            "loyaltyPoints": {"balance": {"int": 3_000_000_000_i64, "money": {"micros": "1.5"}}},
        });
        let findings = doc.validate("LoyaltyObject", &object, Check::Full);
        let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
        let expected = [
            "classId: must be a string",
            "state: \"HALF_ACTIVE\" is not one of the values",
            "barcode.type: \"qrCode\" is a deprecated value",
            "barcode.colour: is not a field",
            "textModulesData[0].body: must be a string",
            "infoModuleData: is deprecated",
            "loyaltyPoints.balance.int: must be an integer (int32)",
            "loyaltyPoints.balance.money.micros: \"1.5\" is not an int64",
        ];
        for want in expected {
            assert!(
                text.iter().any(|t| t.starts_with(want)),
                "missing {want:?} in {text:#?}"
            );
        }
        assert_eq!(text.len(), expected.len(), "{text:#?}");

        let missing = doc.validate(
            "GenericObject",
            &json!({"id": "1.a", "classId": "1.c"}),
            Check::Full,
        );
        let paths: Vec<&str> = missing.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.contains(&"cardTitle") && paths.contains(&"header"),
            "{paths:?}"
        );
        assert!(
            doc.validate("GenericObject", &json!({"state": "ACTIVE"}), Check::Partial)
                .is_empty()
        );
    }
}
