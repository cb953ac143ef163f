//! The published OpenAPI document against an independent fuzzer: schemathesis (PyPI) runs
//! every check it has against `/openapi.json` of a real server and must find nothing: every
//! request the document calls valid is accepted, every invalid one refused, every answer
//! matches the document, no 5xx.
//!
//! What JSON Schema cannot express is handed to the fuzzer as data, the way schemathesis's
//! authors recommend: valid pagination cursors (they are signed), a template id, a payload that
//! fills the template's placeholders, and real signing material for uploads. Ids of things the
//! run creates come from the document's OpenAPI links. The config is written below, with the
//! reason for each of its two per-operation settings.
//! `.ci/run` installs schemathesis; without it this test fails and says so.
mod common;

use std::process::Command;

use common::passes::{Fixture, example_payload};
use common::server::{ADMIN_TOKEN, BASE, Upload};
use serde_json::Value;

fn schemathesis() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("st"))
        .find(|p| p.is_file())
}

async fn cursor_of(f: &Fixture, path: &str) -> String {
    let body: Value = f
        .server
        .get(&format!("{path}?limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["nextCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has a second page: {body}"))
        .to_string()
}

/// A TOML string literal.
fn toml_str(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_the_published_api() {
    let st = schemathesis()
        .expect("schemathesis (`st`) is not on PATH: `pip install schemathesis` (.ci/run installs it)");
    let f = Fixture::start().await;
    // Enough of everything for a second page of each list.
    let upload = Upload::valid(&f.chain);
    f.server.create(&upload).await;
    f.issue(Some("ST-1")).await;
    f.issue(Some("ST-2")).await;
    let templates_cursor = cursor_of(&f, &format!("{BASE}/templates")).await;
    let passes_cursor = cursor_of(&f, &format!("{BASE}/passes")).await;
    let events_cursor = cursor_of(&f, "/v2/events").await;

    let dir = tempfile::tempdir().unwrap();
    let payload = toml::Value::try_from(example_payload()).unwrap();
    let inline = |v: &toml::Value| v.to_string();
    let config = format!(
        r#"# Written by tests/openapi_conformance.rs.
headers = {{ Authorization = {auth} }}
workers = 1
seed = 20261202
generation.max-examples = {examples}
continue-on-failure = true
# The document declares its links; guessing them from Location headers maps a pass's Location
# onto the template routes.
phases.stateful.inference.algorithms = ["dependency-analysis"]

[checks]
enabled = true

[parameters]
"query.cursor" = {passes_cursor}
"query.templateId" = {template_id}
"body.templateId" = {template_id}
"body.payload" = {payload}
"body.items[*].payload" = {payload}
"body.teamIdentifier" = {team}
"body.passTypeIdentifier" = {pass_type}
"body.wwdr" = {wwdr}
"body.signerCert" = {cert}
"body.signerKey" = {key}
"body.signerKeyPassphrase" = {passphrase}

[[operations]]
include-name = "GET /v2/credentials/compact/digital-pass/apple/templates"
parameters = {{ "query.cursor" = {templates_cursor} }}

[[operations]]
include-name = "GET /v2/events"
parameters = {{ "query.cursor" = {events_cursor} }}

# A template is accepted only as a real pass template .zip whose pass.json Wallet would take:
# JSON Schema can say "a binary file", not that, so a fuzzed upload is refused with 400 naming
# what is wrong in it. Every other check stays on.
[[operations]]
include-name-regex = "^(POST|PUT) .*/templates"
phases.coverage.enabled = false
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409", "413"]

# A pass's payload must fill its template's placeholders: the payload above does; the coverage
# phase builds its cases without it, so these are fuzzed and walked statefully, not covered.
[[operations]]
include-name-regex = "^(POST .*/apple|PATCH .*/passes/[{{]passId[}}])$"
phases.coverage.enabled = false
"#,
        auth = toml_str(&format!("Bearer {ADMIN_TOKEN}")),
        examples = std::env::var("PASSMINT_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "40".into()),
        passes_cursor = toml_str(&passes_cursor),
        templates_cursor = toml_str(&templates_cursor),
        events_cursor = toml_str(&events_cursor),
        template_id = toml_str(&f.template_id),
        payload = inline(&payload),
        team = toml_str(upload.team_identifier.as_deref().unwrap()),
        pass_type = toml_str(upload.pass_type_identifier.as_deref().unwrap()),
        wwdr = toml_str(upload.wwdr.as_deref().unwrap()),
        cert = toml_str(upload.signer_cert.as_deref().unwrap()),
        key = toml_str(upload.signer_key.as_deref().unwrap()),
        passphrase = toml_str(upload.signer_key_passphrase.as_deref().unwrap()),
    );
    let config_path = dir.path().join("schemathesis.toml");
    std::fs::write(&config_path, config).unwrap();
    let url = format!("{}/openapi.json", f.server.url);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .arg("--config-file")
            .arg(&config_path)
            .args(["--no-color", "run", &url, "--checks", "all"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "schemathesis found problems (exit {:?}); its report is above",
        output.status.code()
    );
    f.stop().await;
}
