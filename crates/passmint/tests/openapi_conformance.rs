//! The published OpenAPI document against an independent fuzzer: schemathesis (PyPI) runs
//! every check it has against `/openapi.json` of a real server and must find nothing: every
//! request the document calls valid is accepted, every invalid one refused, every answer
//! matches the document, no 5xx.
//!
//! What JSON Schema cannot express is handed to the fuzzer as data, the way schemathesis's
//! authors recommend: valid pagination cursors (they are signed), a template id, a payload that
//! fills the template's placeholders, and real signing material for uploads. Ids of things the
//! run creates come from the document's OpenAPI links. The config is written below, with the
//! reason for each of its per-operation settings.
//! `.ci/run` installs schemathesis; without it this test fails and says so.
mod common;

use std::process::Command;

use common::passes::{Fixture, example_payload};
use common::server::{ADMIN_TOKEN, BASE, Upload};
use serde_json::{Value, json};

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
    // Two webhooks, one receiving the passes below on loopback: two pages of deliveries.
    let receiver = common::receiver::Receiver::start().await;
    let mut webhook_id = String::new();
    for events in [json!(["pass.created"]), json!(["template.certificate.expired"])] {
        let created: Value = f
            .server
            .client
            .post(f.server.at("/v2/webhooks"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "url": receiver.url, "events": events }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if webhook_id.is_empty() {
            webhook_id = created["id"].as_str().unwrap().to_string();
        }
    }
    let first = f.issue(Some("ST-1")).await;
    f.issue(Some("ST-2")).await;
    // A second timeline entry for ST-1 (its update), so its timeline has a second page.
    let mut changed = example_payload();
    changed["points"] = json!(7);
    assert_eq!(f.patch(&first.id, &json!({ "payload": changed })).await.0, 200);
    receiver.wait_until("two deliveries", |d| d.len() == 2).await;
    let deliveries_path = format!("/v2/webhooks/{webhook_id}/deliveries");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let log: Value = f
            .server
            .get(&deliveries_path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if log["data"].as_array().is_some_and(|d| d.len() == 2) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries not logged: {log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let webhooks_cursor = cursor_of(&f, "/v2/webhooks").await;
    let deliveries_cursor = cursor_of(&f, &deliveries_path).await;
    let templates_cursor = cursor_of(&f, &format!("{BASE}/templates")).await;
    let passes_cursor = cursor_of(&f, &format!("{BASE}/passes")).await;
    let events_cursor = cursor_of(&f, "/v2/events").await;
    let timeline_cursor = cursor_of(&f, &format!("{BASE}/passes/{}/timeline", first.id)).await;

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
include-name = "GET /v2/credentials/compact/digital-pass/apple/passes/{{passId}}/timeline"
parameters = {{ "query.cursor" = {timeline_cursor}, "path.passId" = {timeline_pass} }}

[[operations]]
include-name = "GET /v2/events"
parameters = {{ "query.cursor" = {events_cursor} }}

[[operations]]
include-name = "GET /v2/webhooks"
parameters = {{ "query.cursor" = {webhooks_cursor} }}

[[operations]]
include-name = "GET /v2/webhooks/{{id}}/deliveries"
parameters = {{ "query.cursor" = {deliveries_cursor}, "path.id" = {webhook_id} }}

# A webhook's templateId must name a template that exists and its URL one an HTTP client can
# parse: JSON Schema can say "a UUID" and "http(s)://host…", not that, so a fuzzed create may be
# refused with 400 naming the member. Every other check stays on.
[[operations]]
include-name = "POST /v2/webhooks"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "413"]

# A template is accepted only as a real pass template .zip whose pass.json Wallet would take:
# JSON Schema can say "a binary file", not that, so a fuzzed upload is refused with 400 naming
# what is wrong in it. Every other check stays on.
[[operations]]
include-name-regex = "^(POST|PUT) .*/templates"
phases.coverage.enabled = false
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409", "413"]

# A bundle's ids must name passes that exist: JSON Schema can say "UUIDs", not that (nor that they differ), so
# a fuzzed bundle is refused with 400 naming the id (SPEC 9). Every other check stays on.
[[operations]]
include-name = "POST /v2/credentials/compact/digital-pass/apple/bundles"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "413"]

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
        timeline_cursor = toml_str(&timeline_cursor),
        timeline_pass = toml_str(&first.id),
        webhooks_cursor = toml_str(&webhooks_cursor),
        deliveries_cursor = toml_str(&deliveries_cursor),
        webhook_id = toml_str(&webhook_id),
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
