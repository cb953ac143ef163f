//! Push end to end over HTTP: issue a pass, register a device through /passkit, PATCH the pass,
//! and see exactly one push at the test APNs server; a 410 then removes the registration.
mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use apns_testserver::Reply;
use common::server::{ADMIN_TOKEN, BASE, TestServer, Upload, chain, settings};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const PUSH_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn pass_json(pkpass: &[u8]) -> Value {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(pkpass)).unwrap();
    let mut text = String::new();
    zip.by_name("pass.json")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn wait_for_registrations(server: &TestServer, pass_id: &str, expected: i64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let body: Value = server
            .get(&format!("{BASE}/passes/{pass_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["registrations"] == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "registrations still {}",
            body["registrations"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_pass_update_pushes_each_registered_device_once_and_a_410_unregisters_it() {
    let apns = apns_testserver::TestServer::builder()
        .accept_any_client_certificate()
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("apns-ca.pem");
    std::fs::write(&ca_file, apns.ca_pem()).unwrap();
    let mut s = settings(&dir.path().join("data"));
    s.apns_url = apns.url();
    s.apns_ca_file = Some(ca_file);
    let server = TestServer::start(s).await;

    let chain = chain();
    let template = server.create(&Upload::valid(&chain)).await;
    let payload =
        json!({ "member": { "id": "M-1", "name": "Ada", "tier": "Gold" }, "points": 120, "balance": 1.5 });
    let issued = server
        .client
        .post(server.at(BASE))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "templateId": template["id"], "payload": payload }))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 201);
    let location = issued.headers()["location"].to_str().unwrap().to_string();
    let pass_id = location.rsplit('/').next().unwrap().to_string();
    let first = pass_json(&issued.bytes().await.unwrap());
    let topic = first["passTypeIdentifier"].as_str().unwrap().to_string();
    let serial = first["serialNumber"].as_str().unwrap().to_string();
    let auth = format!("ApplePass {}", first["authenticationToken"].as_str().unwrap());

    let registered = server
        .client
        .post(server.at(&format!(
            "/passkit/v1/devices/device-1/registrations/{topic}/{serial}"
        )))
        .header("authorization", &auth)
        .json(&json!({ "pushToken": PUSH_TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    wait_for_registrations(&server, &pass_id, 1).await;

    let changed = server
        .client
        .patch(server.at(&format!("{BASE}/passes/{pass_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "payload": { "member": { "id": "M-1", "name": "Ada", "tier": "Gold" }, "points": 121, "balance": 1.5 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    let requests = apns.wait_for_requests(1, WAIT).await.unwrap();
    let push = &requests[0];
    assert_eq!(push.path, format!("/3/device/{PUSH_TOKEN}"));
    assert_eq!(push.header("apns-topic"), Some(topic.as_str()));
    assert_eq!(&push.body[..], b"{}");
    let signer_der = openssl::x509::X509::from_pem(&chain.signer_cert_pem)
        .unwrap()
        .to_der()
        .unwrap();
    assert_eq!(push.client_certificate.as_ref().unwrap().der, signer_der);
    // Drained: the push was recorded, so no second one will follow.
    let deadline = Instant::now() + WAIT;
    while server.state.store.push_queue_depth().await.unwrap() != 0 {
        assert!(Instant::now() < deadline, "push still queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(apns.request_count(), 1, "exactly one push");
    let metrics = server.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("passmint_push_sent_total 1"), "{metrics}");

    // The device asks what changed and fetches the new version.
    let serials: Value = server
        .client
        .get(server.at(&format!("/passkit/v1/devices/device-1/registrations/{topic}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(serials["serialNumbers"], json!([serial]));
    let fetched = server
        .client
        .get(server.at(&format!("/passkit/v1/passes/{topic}/{serial}")))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    let updated = pass_json(&fetched.bytes().await.unwrap());
    assert!(
        updated.to_string().contains("121"),
        "the new points are in the pass"
    );

    // APNs says the token is gone: the registration goes, and the pass JSON shows it.
    apns.reply_for(
        PUSH_TOKEN,
        Reply::unregistered(passmint::store::now_millis() + 1000),
    );
    let changed = server
        .client
        .patch(server.at(&format!("{BASE}/passes/{pass_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "voided": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    apns.wait_for_requests(2, WAIT).await.unwrap();
    wait_for_registrations(&server, &pass_id, 0).await;
    let events: Value = server
        .get("/v2/events?type=APNS_PUSH_FAIL")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"][0]["data"]["reason"], "Unregistered");
    server.stop().await;
}

#[tokio::test]
async fn a_template_put_that_changes_the_passes_pushes_every_registered_token() {
    let apns = apns_testserver::TestServer::builder()
        .accept_any_client_certificate()
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("apns-ca.pem");
    std::fs::write(&ca_file, apns.ca_pem()).unwrap();
    let mut s = settings(&dir.path().join("data"));
    s.apns_url = apns.url();
    s.apns_ca_file = Some(ca_file);
    let server = TestServer::start(s).await;

    let chain = chain();
    let upload = Upload::valid(&chain);
    let template = server.create(&upload).await;
    let template_id = template["id"].as_str().unwrap().to_string();
    let token_a = "aa".repeat(32);
    let token_b = "bb".repeat(32);
    // Three passes; the first and third are on devices sharing one push token.
    for (n, push_token) in [(1, &token_a), (2, &token_b), (3, &token_a)] {
        let payload = json!({ "member": { "id": format!("M-{n}"), "name": "Ada", "tier": "Gold" }, "points": n, "balance": 1.5 });
        let issued = server
            .client
            .post(server.at(BASE))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "templateId": template_id, "payload": payload }))
            .send()
            .await
            .unwrap();
        assert_eq!(issued.status(), 201);
        let pass = pass_json(&issued.bytes().await.unwrap());
        let registered = server
            .client
            .post(server.at(&format!(
                "/passkit/v1/devices/device-{n}/registrations/{}/{}",
                pass["passTypeIdentifier"].as_str().unwrap(),
                pass["serialNumber"].as_str().unwrap()
            )))
            .header(
                "authorization",
                format!("ApplePass {}", pass["authenticationToken"].as_str().unwrap()),
            )
            .json(&json!({ "pushToken": push_token }))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
    }
    assert_eq!(apns.request_count(), 0, "registering pushes nothing");

    // A new background colour changes every rendered pass.
    let mut entries = Vec::new();
    let root = common::server::examples_dir();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            for sub in std::fs::read_dir(&path).unwrap() {
                let sub = sub.unwrap().path();
                let sub_name = sub.file_name().unwrap().to_string_lossy().to_string();
                entries.push((format!("{name}/{sub_name}"), std::fs::read(&sub).unwrap()));
            }
        } else if name == "pass.json" {
            let text = std::fs::read_to_string(&path).unwrap();
            let changed = text.replace("rgb(60, 65, 76)", "rgb(10, 20, 30)");
            assert_ne!(text, changed);
            entries.push((name, changed.into_bytes()));
        } else {
            entries.push((name, std::fs::read(&path).unwrap()));
        }
    }
    let mut replacement = upload.clone();
    replacement.template = Some(common::server::zip_entries(&entries));
    let put = server
        .put_form(&format!("{BASE}/templates/{template_id}"), replacement.form())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);

    let deadline = Instant::now() + WAIT;
    loop {
        let tokens: std::collections::BTreeSet<String> = apns
            .requests()
            .into_iter()
            .filter_map(|r| r.device_token)
            .collect();
        if tokens.len() == 2 && server.state.store.push_queue_depth().await.unwrap() == 0 {
            assert_eq!(tokens, [token_a.clone(), token_b.clone()].into_iter().collect());
            break;
        }
        assert!(Instant::now() < deadline, "pushes so far: {tokens:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for r in apns.requests() {
        assert_eq!(r.header("apns-topic"), Some("pass.com.example.test"));
        assert_eq!(r.reply, Reply::Success);
    }
    server.stop().await;
}
