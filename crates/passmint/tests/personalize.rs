//! Rewards enrollment (SPEC 14) end to end over real HTTP: a personalizable template is
//! checked, a pass issued from it, Wallet's personalize request answered with a token signature
//! `openssl cms -verify` accepts, and the next fetch is the personalized pass, pushed to the
//! pass's device, with its webhook and its event.
mod common;

use std::path::Path;

use common::db::TestDb;
use common::passes::{Fixture, Issued, example_payload, unzip, verify_pass};
use common::receiver::Receiver;
use common::server::{ADMIN_TOKEN, BASE, Upload, zip_dir, zip_entries};
use serde_json::{Value, json};

/// The sample rewards template (`examples/rewards.pass`), zipped.
fn rewards_zip() -> Vec<u8> {
    zip_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rewards.pass"))
}

/// The rewards template with `personalization.json` replaced by `json` (or left out).
fn rewards_with(personalization: Option<&Value>, edit_pass: impl Fn(&mut Value)) -> Vec<u8> {
    let entries: Vec<(String, Vec<u8>)> = unzip(&rewards_zip())
        .into_iter()
        .filter_map(|(name, bytes)| match name.as_str() {
            "personalization.json" => personalization.map(|p| (name, serde_json::to_vec(p).unwrap())),
            "pass.json" => {
                let mut pass: Value = serde_json::from_slice(&bytes).unwrap();
                edit_pass(&mut pass);
                Some((name, serde_json::to_vec(&pass).unwrap()))
            }
            _ => Some((name, bytes)),
        })
        .collect();
    zip_entries(&entries)
}

fn rewards_upload(f: &Fixture, zip: Vec<u8>) -> Upload {
    let mut upload = Upload::valid(&f.chain);
    upload.template = Some(zip);
    upload.name = Some("Example Coffee rewards".into());
    upload
}

/// Creates the rewards template; its id.
async fn rewards_template(f: &Fixture) -> String {
    let body = f.server.create(&rewards_upload(f, rewards_zip())).await;
    body["id"].as_str().unwrap().to_string()
}

/// Issues a pass of `template_id` with the example payload; asserts 201.
async fn issue(f: &Fixture, template_id: &str) -> (Issued, std::collections::BTreeMap<String, Vec<u8>>) {
    let response = f
        .post_pass(&json!({ "templateId": template_id, "payload": example_payload() }))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let files = verify_pass(&response.bytes().await.unwrap(), &f.chain.root_pem);
    let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    let issued = Issued {
        id: location.rsplit('/').next().unwrap().to_string(),
        location,
        serial: pass_json["serialNumber"].as_str().unwrap().to_string(),
        pass_type: pass_json["passTypeIdentifier"].as_str().unwrap().to_string(),
        token: pass_json["authenticationToken"].as_str().unwrap().to_string(),
        pass_json,
    };
    (issued, files)
}

fn personalize_path(pass_type: &str, serial: &str) -> String {
    format!("/passkit/v1/passes/{pass_type}/{serial}/personalize")
}

/// Wallet's personalize request (no `Authorization`, as Apple sends it): status and body.
async fn personalize_raw(
    f: &Fixture,
    pass_type: &str,
    serial: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>, String) {
    let r = f
        .server
        .client
        .post(f.server.at(&personalize_path(pass_type, serial)))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, r.bytes().await.unwrap().to_vec(), content_type)
}

async fn personalize(f: &Fixture, pass: &Issued, body: &Value) -> (u16, Vec<u8>, String) {
    personalize_raw(f, &pass.pass_type, &pass.serial, body.to_string().into_bytes()).await
}

fn ada(token: &str) -> Value {
    json!({
        "personalizationToken": token,
        "requiredPersonalizationInfo": {
            "fullName": "Ada Lovelace",
            "givenName": "Ada",
            "familyName": "Lovelace",
            "emailAddress": "ada@example.com"
        }
    })
}

/// `openssl cms -verify -binary -content <token> -inform DER -CAfile <test root>` on the
/// signature: its output (the verified content).
fn cms_verify_token(token: &str, signature: &[u8], root_pem: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token"), token).unwrap();
    std::fs::write(d.join("signature"), signature).unwrap();
    std::fs::write(d.join("root.pem"), root_pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any"])
        .arg("-in")
        .arg(d.join("signature"))
        .arg("-content")
        .arg(d.join("token"))
        .arg("-CAfile")
        .arg(d.join("root.pem"))
        .arg("-out")
        .arg(d.join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl cms -verify refused the token signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(d.join("out")).unwrap()
}

fn secondary_value(pass_json: &Value, key: &str) -> Value {
    pass_json["storeCard"]["secondaryFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap()["value"]
        .clone()
}

async fn events_of(f: &Fixture, event_type: &str) -> Vec<Value> {
    let body: Value = f
        .server
        .get(&format!("/v2/events?type={event_type}&limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

async fn the_holder_enrolls_and_wallet_gets_the_personalized_pass(db: &TestDb) {
    let f = Fixture::start_configured(&db.url, |s| s.webhook_retry_base_ms = 50).await;
    let receiver = Receiver::start().await;
    let r = f
        .server
        .client
        .post(f.server.at("/v2/webhooks"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "url": receiver.url, "events": ["pass.personalized"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let template_id = rewards_template(&f).await;

    // The personalizable pass carries the signup form and renders the holder blank.
    let (pass, files) = issue(&f, &template_id).await;
    assert!(files.contains_key("personalization.json"));
    assert!(files.contains_key("personalizationLogo@2x.png"));
    assert_eq!(secondary_value(&pass.pass_json, "member"), "");
    assert_eq!(f.register("device-1", &pass, "push-1").await, 201);
    let (_, _, tag) = f.serials("device-1", &pass.pass_type, None).await;
    let before = f.fetch(&pass, None).await;
    assert_eq!(before.status(), 200);
    let last_modified = before.headers()["last-modified"].to_str().unwrap().to_string();

    // Wallet posts the holder's data with its token.
    let token = "wallet-token-4f9a1c";
    let (status, signature, content_type) = personalize(&f, &pass, &ada(token)).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/octet-stream");
    assert_eq!(
        cms_verify_token(token, &signature, &f.chain.root_pem),
        token.as_bytes()
    );

    // The device learns of the change (push, then the changed serials) and fetches it with
    // If-Modified-Since: the personalized pass, without the signup form.
    f.wait_for_pushes("push-1", 1).await;
    let (status, serials, _) = f.serials("device-1", &pass.pass_type, tag.as_deref()).await;
    assert_eq!((status, serials), (200, vec![pass.serial.clone()]));
    let after = f.fetch(&pass, Some(&last_modified)).await;
    assert_eq!(after.status(), 200);
    let new_last_modified = after.headers()["last-modified"].to_str().unwrap().to_string();
    let files = verify_pass(&after.bytes().await.unwrap(), &f.chain.root_pem);
    assert!(!files.contains_key("personalization.json"), "{:?}", files.keys());
    assert!(!files.keys().any(|n| n.starts_with("personalizationLogo")));
    let personalized: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(secondary_value(&personalized, "member"), "Ada Lovelace");
    let email = personalized["storeCard"]["backFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "email")
        .unwrap()["value"]
        .clone();
    assert_eq!(email, "ada@example.com");

    // The holder's data is in the pass's payload, for the issuer.
    let stored: Value = f
        .server
        .get(&pass.location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["payload"]["personalization"]["emailAddress"],
        "ada@example.com"
    );
    assert_eq!(stored["payload"]["points"], 120);

    // The webhook names the pass and the members given, never their values.
    let deliveries = receiver
        .wait_until("pass.personalized", |d| {
            d.iter().any(|d| d.event_type() == "pass.personalized")
        })
        .await;
    let delivery = deliveries
        .iter()
        .find(|d| d.event_type() == "pass.personalized")
        .unwrap();
    let text = String::from_utf8_lossy(&delivery.raw).to_string();
    assert!(text.contains(&pass.id), "{text}");
    assert!(
        text.contains("emailAddress") && !text.contains("ada@example.com"),
        "{text}"
    );

    // The event is recorded, with the members given and not their values.
    let events = events_of(&f, "PASSKIT_PASS_PERSONALIZE_SUCCESS").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let data = events[0]["data"].to_string();
    assert!(
        data.contains(&pass.serial) && !data.contains("Lovelace"),
        "{data}"
    );

    // Wallet retrying the same request gets a valid answer again, and nothing changes.
    let (status, signature, _) = personalize(&f, &pass, &ada("wallet-token-retry")).await;
    assert_eq!(status, 200);
    cms_verify_token("wallet-token-retry", &signature, &f.chain.root_pem);
    assert_eq!(f.fetch(&pass, Some(&new_last_modified)).await.status(), 304);
    // Other data for a personalized pass is refused.
    let mut other = ada("t");
    other["requiredPersonalizationInfo"]["fullName"] = json!("Someone Else");
    assert_eq!(personalize(&f, &pass, &other).await.0, 409);
    assert_eq!(f.fetch(&pass, Some(&new_last_modified)).await.status(), 304);

    // An issuer's payload change keeps the holder's data (the pass stays personalized).
    let (status, body) = f
        .patch(&pass.id, &json!({ "payload": { "member": { "id": "M-0042", "tier": "Gold" }, "points": 130, "balance": 3 } }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"]["personalization"]["fullName"], "Ada Lovelace");
    let (_, pass_json) = f.fetch_pass_json(&pass).await;
    assert_eq!(secondary_value(&pass_json, "member"), "Ada Lovelace");

    // The route is in the metrics like the other PassKit routes.
    let metrics = f
        .server
        .client
        .get(f.server.at("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("/passkit/v1/passes/{pass_type}/{serial}/personalize"),
        "personalize route missing from /metrics"
    );
    receiver.stop();
    f.stop().await;
}

async fn hostile_personalize_requests_get_4xx_and_change_nothing(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let template_id = rewards_template(&f).await;
    let (pass, _) = issue(&f, &template_id).await;
    let (pt, serial) = (pass.pass_type.clone(), pass.serial.clone());
    let body_of = |v: Value| v.to_string().into_bytes();
    let long = "x".repeat(300);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("huge body", vec![b' '; 64 * 1024], 413),
        ("not JSON", b"{\"personalizationToken\": ".to_vec(), 400),
        ("empty", Vec::new(), 400),
        ("an array", b"[]".to_vec(), 400),
        (
            "unknown member",
            body_of(
                json!({ "personalizationToken": "t", "requiredPersonalizationInfo": { "fullName": "A", "emailAddress": "a@b" }, "x": 1 }),
            ),
            400,
        ),
        (
            "unknown info member",
            body_of(
                json!({ "personalizationToken": "t", "requiredPersonalizationInfo": { "fullName": "A", "emailAddress": "a@b", "shoeSize": "9" } }),
            ),
            400,
        ),
        (
            "token of the wrong type",
            body_of(
                json!({ "personalizationToken": 5, "requiredPersonalizationInfo": { "fullName": "A", "emailAddress": "a@b" } }),
            ),
            400,
        ),
        (
            "info of the wrong type",
            body_of(json!({ "personalizationToken": "t", "requiredPersonalizationInfo": ["A"] })),
            400,
        ),
        (
            "over-long value",
            body_of(
                json!({ "personalizationToken": "t", "requiredPersonalizationInfo": { "fullName": long, "emailAddress": "a@b" } }),
            ),
            400,
        ),
        (
            "a required field missing",
            body_of(
                json!({ "personalizationToken": "t", "requiredPersonalizationInfo": { "fullName": "A" } }),
            ),
            400,
        ),
    ];
    for (what, body, expected) in cases {
        let (status, _, _) = personalize_raw(&f, &pt, &serial, body).await;
        assert_eq!(status, expected, "{what}");
    }
    // Unknown pass, a path segment too long, and a pass whose template offers no enrollment.
    assert_eq!(
        personalize_raw(&f, &pt, "no-such-serial", body_of(ada("t")))
            .await
            .0,
        404
    );
    assert_eq!(
        personalize_raw(&f, "other.type", &serial, body_of(ada("t")))
            .await
            .0,
        404
    );
    assert_eq!(
        personalize_raw(&f, &pt, &"s".repeat(400), body_of(ada("t")))
            .await
            .0,
        400
    );
    let plain = f.issue(None).await;
    assert_eq!(personalize(&f, &plain, &ada("t")).await.0, 404);

    // None of it touched the pass; refusals are recorded (reason, never content).
    let (_, pass_json) = f.fetch_pass_json(&pass).await;
    assert_eq!(secondary_value(&pass_json, "member"), "");
    let refused = events_of(&f, "PASSKIT_PASS_PERSONALIZE_FAIL").await;
    assert!(!refused.is_empty());
    assert!(!refused.iter().any(|e| e["data"].to_string().contains("shoeSize")));
    // It still personalizes afterwards.
    assert_eq!(personalize(&f, &pass, &ada("t")).await.0, 200);
    f.stop().await;
}

/// `POST /templates` with the rewards upload of `zip`: status and body.
async fn post_template(f: &Fixture, zip: Vec<u8>) -> (u16, Value) {
    let r = f
        .server
        .post_form(&format!("{BASE}/templates"), rewards_upload(f, zip).form())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap())
}

async fn templates_with_a_broken_personalization_json_are_refused_naming_the_member(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "description": "Join" }),
            "personalization.json: requiredPersonalizationFields",
        ),
        (
            json!({ "requiredPersonalizationFields": [], "description": "Join" }),
            "personalization.json: requiredPersonalizationFields",
        ),
        (
            json!({ "requiredPersonalizationFields": ["PKPassPersonalizationFieldShoeSize"], "description": "Join" }),
            "personalization.json: requiredPersonalizationFields[0]",
        ),
        (
            json!({ "requiredPersonalizationFields": ["PKPassPersonalizationFieldName"] }),
            "personalization.json: description",
        ),
        (
            json!({ "requiredPersonalizationFields": ["PKPassPersonalizationFieldName"], "description": "Join", "termsAndConditions": 1 }),
            "personalization.json: termsAndConditions",
        ),
    ];
    for (personalization, member) in cases {
        let (status, body) = post_template(&f, rewards_with(Some(&personalization), |_| {})).await;
        assert_eq!(status, 400, "{body}");
        let msgs: Vec<&str> = body["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["msg"].as_str().unwrap())
            .collect();
        assert!(msgs.iter().any(|m| m.starts_with(member)), "{member}: {body}");
    }
    // Rewards enrollment needs NFC.
    let good =
        json!({ "requiredPersonalizationFields": ["PKPassPersonalizationFieldName"], "description": "Join" });
    let (status, body) = post_template(
        &f,
        rewards_with(Some(&good), |p| {
            p.as_object_mut().unwrap().remove("nfc");
        }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("pass.json: nfc"), "{body}");
    // A missing signup logo is a warning, not a refusal.
    let entries: Vec<(String, Vec<u8>)> = unzip(&rewards_zip())
        .into_iter()
        .filter(|(n, _)| !n.starts_with("personalizationLogo"))
        .collect();
    let body = f.server.create(&rewards_upload(&f, zip_entries(&entries))).await;
    assert!(
        body["warnings"].to_string().contains("personalizationLogo.png"),
        "{body}"
    );
    f.stop().await;
}

on_both_backends! {
    the_holder_enrolls_and_wallet_gets_the_personalized_pass => the_holder_enrolls_and_wallet_gets_the_personalized_pass;
    hostile_personalize_requests_get_4xx_and_change_nothing => hostile_personalize_requests_get_4xx_and_change_nothing;
    templates_with_a_broken_personalization_json_are_refused_naming_the_member => templates_with_a_broken_personalization_json_are_refused_naming_the_member;
}

/// The personalize route takes no token, so the per-client limit is what stops one client
/// hammering it: beyond the burst, 429.
#[tokio::test]
async fn personalize_requests_are_under_the_public_rate_limit() {
    let db = TestDb::sqlite().await;
    let f = Fixture::start_configured(&db.url, |s| {
        s.public_rate_limit = Some(passmint::config::RateLimit {
            per_second: 0.01,
            burst: 5,
        });
    })
    .await;
    let body = ada("t").to_string().into_bytes();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (status, _, _) = personalize_raw(&f, "pass.com.example.test", "nobody", body.clone()).await;
        statuses.push(status);
    }
    assert_eq!(statuses[..5], [404; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    f.stop().await;
}
