//! Shared by the gwallet tests: templates read and rendered with pkpass as the server does, and
//! the discovery-document check.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};

use gwallet::{GoogleTemplate, Localizations, MappedObject, TemplateInput};
use gwallet_testserver::discovery::{Check, Discovery};
use pkpass::{Limits, PassIdentity, PreparedTemplate, RenderInput, Template};
use serde_json::{Value, json};

pub const ISSUER: &str = "3388000000012345678";
pub const TEMPLATE_ID: &str = "0190f3a2-7c1d-7e2f-8a9b-0c1d2e3f4a5b";
pub const PASS_ID: &str = "0190f3a2-0000-7000-8000-00000000002a";
pub const PUBLIC_URL: &str = "https://passes.example.com";

/// A test template folder by name (`event`) or a path relative to the workspace root.
pub fn template_dir(name: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let local = here.join("tests/data/templates").join(format!("{name}.pass"));
    if local.is_dir() {
        local
    } else {
        here.join("../..").join(name)
    }
}

/// A template as the server holds it: the pkpass template, its prepared form and its Google
/// mapping.
pub struct Fixture {
    pub template: Template,
    pub prepared: PreparedTemplate,
    pub google: GoogleTemplate,
}

impl Fixture {
    pub fn load(name: &str) -> Self {
        let template = Template::from_dir(&template_dir(name), &Limits::default())
            .unwrap_or_else(|e| panic!("template {name}: {e:?}"));
        Self::from_template(template)
    }

    pub fn from_zip(path: &str) -> Self {
        let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)).unwrap();
        Self::from_template(Template::from_zip(&bytes, &Limits::default()).unwrap())
    }

    pub fn from_template(template: Template) -> Self {
        let (localizations, warnings) =
            Localizations::from_files(template.files().iter().map(|(n, b)| (n.as_str(), b.as_slice())));
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<String> = template.files().keys().cloned().collect();
        let google = GoogleTemplate::new(&TemplateInput {
            issuer_id: ISSUER,
            template_id: TEMPLATE_ID,
            revision: 3,
            pass_json: template.pass_json(),
            localizations: &localizations,
            file_names: &names,
            public_url: PUBLIC_URL,
            default_language: "en",
        });
        let prepared = PreparedTemplate::new(template.clone());
        Self {
            template,
            prepared,
            google,
        }
    }

    /// The pass's rendered pass.json, as the server renders it (`"voided": true` merged in for a
    /// voided pass).
    pub fn render(&self, payload: &Value, voided: bool) -> Value {
        let overrides = if voided {
            json!({ "voided": true })
        } else {
            Value::Null
        };
        let input = RenderInput {
            payload,
            overrides: &overrides,
            identity: PassIdentity {
                pass_type_identifier: "pass.com.example.test",
                team_identifier: "TEAM123456",
                serial_number: "SERIAL-1",
                web_service: Some(("https://passes.example.com/passkit", "0123456789abcdef0123")),
            },
        };
        self.prepared
            .render_pass_json(&input)
            .unwrap_or_else(|e| panic!("render: {e}"))
    }

    pub fn object(&self, payload: &Value, voided: bool) -> MappedObject {
        self.google.object(PASS_ID, &self.render(payload, voided))
    }

    pub fn warning_messages(&self) -> Vec<String> {
        self.google.warnings().iter().map(ToString::to_string).collect()
    }
}

/// Fails with every finding when `value` does not fit Google's schema.
pub fn assert_fits(schema: &str, value: &Value) {
    let findings = Discovery::bundled().validate(schema, value, Check::Full);
    assert!(
        findings.is_empty(),
        "{schema} does not fit Google's discovery document:\n{}\n{}",
        findings
            .iter()
            .map(|f| format!("  {f}"))
            .collect::<Vec<_>>()
            .join("\n"),
        serde_json::to_string_pretty(value).unwrap()
    );
}

/// The payload used for each test template.
pub fn payload(name: &str) -> Value {
    match name {
        "event" => {
            json!({"ticket": {"code": "TKT-0001"}, "seat": {"section": "A", "row": "12", "number": "7"}, "holder": "Ada Lovelace"})
        }
        "flight" => {
            json!({"bcbp": "M1LOVELACE/ADA EABC123 SFOLHREX 0123 121Y012A0007 100", "passenger": "Ada Lovelace", "gate": "G12", "seat": "12A", "group": "3", "pnr": "ABC123"})
        }
        "train" => {
            json!({"ticket": "RAIL-77", "departs": "2026-06-01T08:04:00+02:00", "passenger": "Ada Lovelace", "platform": "7", "car": "21", "seat": "55"})
        }
        "coupon" => json!({"code": "SUMMER25"}),
        "generic" => json!({"name": "Ada Lovelace", "number": "G-1815", "since": "2019"}),
        "examples/storecard.pass" => {
            json!({"member": {"id": "M-0042", "name": "Ada Lovelace", "tier": "Gold"}, "points": 120, "balance": 21.75})
        }
        _ => json!({}),
    }
}
