//! Black-box tests of the PassKit web service (SPEC 3) and of what makes a pass "updated"
//! (SPEC 2.2): tags, Last-Modified, 304s, 401s, hostile input.
mod common;

use common::db::TestDb;

use common::passes::{Fixture, Issued, example_payload, push_token_for, registration_path, unzip};
use common::server::{BASE, Upload, template_zip, zip_entries};
use serde_json::{Value, json};

/// A registered pass and the tag the device holds for it.
async fn registered(f: &Fixture, device: &str) -> (Issued, String) {
    let pass = f.issue(None).await;
    assert_eq!(f.register(device, &pass, &format!("token-{device}")).await, 201);
    let (status, serials, tag) = f.serials(device, &pass.pass_type, None).await;
    assert_eq!((status, serials), (200, vec![pass.serial.clone()]));
    (pass, tag.unwrap())
}

/// The device sees `pass` as changed since `tag`; returns the new tag.
async fn assert_changed_since(f: &Fixture, device: &str, pass: &Issued, tag: &str) -> String {
    let (status, serials, new_tag) = f.serials(device, &pass.pass_type, Some(tag)).await;
    assert_eq!(
        status, 200,
        "expected the pass to be listed as updated since {tag}"
    );
    assert_eq!(serials, vec![pass.serial.clone()]);
    let new_tag = new_tag.unwrap();
    assert_ne!(new_tag, tag);
    let (status, _, _) = f.serials(device, &pass.pass_type, Some(&new_tag)).await;
    assert_eq!(status, 204);
    new_tag
}

async fn assert_unchanged_since(f: &Fixture, device: &str, pass: &Issued, tag: &str) {
    let (status, serials, _) = f.serials(device, &pass.pass_type, Some(tag)).await;
    assert_eq!(status, 204, "expected no update since {tag}, got {serials:?}");
}

/// The template with `organizationName` set to `org` in its pass.json.
fn template_with_org(org: &str) -> Vec<u8> {
    let files = unzip(&template_zip());
    let entries: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(name, bytes)| {
            if name.ends_with("pass.json") {
                let mut json: Value = serde_json::from_slice(&bytes).unwrap();
                json["organizationName"] = json!(org);
                (name, serde_json::to_vec_pretty(&json).unwrap())
            } else {
                (name, bytes)
            }
        })
        .collect();
    zip_entries(&entries)
}

async fn put_template(f: &Fixture, upload: &Upload) {
    let r = f
        .server
        .put_form(&format!("{BASE}/templates/{}", f.template_id), upload.form())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    // The PUT answers at once; its rollout brings the passes up to date in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let t: Value = f
            .server
            .get(&format!("{BASE}/templates/{}", f.template_id))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if t["rollout"]["status"] == "done" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rollout not done: {t}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn every_kind_of_change_shows_up_in_passes_updated_since_and_queues_a_push(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let (pass, tag) = registered(&f, "dev-a").await;
    f.assert_pushes_settled("token-dev-a", 0).await;

    let mut payload = example_payload();
    payload["points"] = json!(121);
    let (status, _) = f.patch(&pass.id, &json!({ "payload": payload })).await;
    assert_eq!(status, 200);
    let tag = assert_changed_since(&f, "dev-a", &pass, &tag).await;
    f.wait_for_pushes("token-dev-a", 1).await;

    let (status, _) = f
        .patch(
            &pass.id,
            &json!({ "overrides": { "relevantDate": "2030-01-01T10:00:00Z" } }),
        )
        .await;
    assert_eq!(status, 200);
    let tag = assert_changed_since(&f, "dev-a", &pass, &tag).await;
    f.wait_for_pushes("token-dev-a", 2).await;

    let (status, body) = f.patch(&pass.id, &json!({ "voided": true })).await;
    assert_eq!(status, 200);
    assert_eq!(body["voided"], true);
    let tag = assert_changed_since(&f, "dev-a", &pass, &tag).await;
    f.wait_for_pushes("token-dev-a", 3).await;

    let mut upload = Upload::valid(&f.chain);
    upload.template = Some(template_with_org("Example Tea"));
    put_template(&f, &upload).await;
    assert_changed_since(&f, "dev-a", &pass, &tag).await;
    f.wait_for_pushes("token-dev-a", 4).await;
    let (_, fetched) = f.fetch_pass_json(&pass).await;
    assert_eq!(fetched["organizationName"], "Example Tea");
    assert_eq!(fetched["voided"], true);
    assert_eq!(fetched["relevantDate"], "2030-01-01T10:00:00Z");
    f.stop().await;
}

async fn a_no_op_patch_and_a_template_rename_are_not_updates(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let (pass, tag) = registered(&f, "dev-b").await;
    let (before, _) = f.fetch_pass_json(&pass).await;

    let (status, _) = f.patch(&pass.id, &json!({ "payload": example_payload() })).await;
    assert_eq!(status, 200);
    let (status, _) = f.patch(&pass.id, &json!({})).await;
    assert_eq!(status, 200);
    // A payload member no placeholder uses changes nothing rendered either.
    let mut payload = example_payload();
    payload["unused"] = json!("x");
    let (status, body) = f.patch(&pass.id, &json!({ "payload": payload })).await;
    assert_eq!(status, 200);
    assert_eq!(body["payload"]["unused"], "x");
    assert_unchanged_since(&f, "dev-b", &pass, &tag).await;

    let mut upload = Upload::valid(&f.chain);
    upload.name = Some("Renamed card".into());
    put_template(&f, &upload).await;
    assert_unchanged_since(&f, "dev-b", &pass, &tag).await;
    f.assert_pushes_settled("token-dev-b", 0).await;
    let r = f.fetch(&pass, Some(&before)).await;
    assert_eq!(r.status(), 304);
    f.stop().await;
}

async fn two_updates_within_one_second_are_never_answered_304(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let (pass, _) = registered(&f, "dev-c").await;
    let (first, _) = f.fetch_pass_json(&pass).await;
    let mut payload = example_payload();
    payload["points"] = json!(1);
    assert_eq!(f.patch(&pass.id, &json!({ "payload": payload })).await.0, 200);
    let (second, fetched) = f.fetch_pass_json(&pass).await;
    assert_eq!(fetched["storeCard"]["headerFields"][0]["value"], 1);
    payload["points"] = json!(2);
    assert_eq!(f.patch(&pass.id, &json!({ "payload": payload })).await.0, 200);

    let secs = |d: &str| httpdate::parse_http_date(d).unwrap();
    assert!(secs(&second) > secs(&first), "{first} then {second}");
    // Whatever the clock did, the If-Modified-Since from after the first change is stale.
    let r = f.fetch(&pass, Some(&second)).await;
    assert_eq!(r.status(), 200);
    let third = r.headers()["last-modified"].to_str().unwrap().to_string();
    assert!(secs(&third) > secs(&second), "{second} then {third}");
    assert_eq!(f.fetch(&pass, Some(&third)).await.status(), 304);
    f.stop().await;
}

#[tokio::test]
async fn a_voided_pass_is_still_served_with_voided_true() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    assert!(pass.pass_json.get("voided").is_none());
    let (status, body) = f.patch(&pass.id, &json!({ "voided": true })).await;
    assert_eq!(status, 200);
    assert_eq!(body["voided"], true);
    let (_, fetched) = f.fetch_pass_json(&pass).await;
    assert_eq!(fetched["voided"], true);
    let (status, _) = f.patch(&pass.id, &json!({ "voided": false })).await;
    assert_eq!(status, 200);
    let (_, fetched) = f.fetch_pass_json(&pass).await;
    assert!(fetched.get("voided").is_none(), "{fetched}");
    f.stop().await;
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    let r = f
        .server
        .client
        .head(
            f.server
                .at(&format!("/passkit/v1/passes/{}/{}", pass.pass_type, pass.serial)),
        )
        .header("authorization", format!("ApplePass {}", pass.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("last-modified"));
    let r = f
        .server
        .client
        .head(
            f.server
                .at(&format!("/passkit/v1/passes/{}/{}", pass.pass_type, pass.serial)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    f.stop().await;
}

/// Sends `method` to `path` with `authorization` (if any) and a registration body.
async fn status_with_auth(f: &Fixture, method: reqwest::Method, path: &str, auth: Option<&str>) -> u16 {
    let mut request = f
        .server
        .client
        .request(method, f.server.at(path))
        .json(&json!({ "pushToken": "abc" }));
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn answers_401_to_a_missing_malformed_or_wrong_token_and_an_unknown_pass(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let pass = f.issue(None).await;
    let other = f.issue(None).await;
    let good = format!("ApplePass {}", pass.token);
    let unknown = Issued {
        serial: "no-such-serial".into(),
        ..pass.clone()
    };
    let cases: Vec<(&str, Option<String>, &Issued)> = vec![
        ("missing", None, &pass),
        ("empty", Some(String::new()), &pass),
        ("scheme only", Some("ApplePass".into()), &pass),
        ("scheme and blank", Some("ApplePass   ".into()), &pass),
        ("bearer scheme", Some(format!("Bearer {}", pass.token)), &pass),
        (
            "lowercase scheme",
            Some(format!("applepass {}", pass.token)),
            &pass,
        ),
        (
            "wrong token",
            Some("ApplePass not-the-token-0123456789abcdef".into()),
            &pass,
        ),
        (
            "another pass's token",
            Some(format!("ApplePass {}", other.token)),
            &pass,
        ),
        (
            "token prefix",
            Some(format!("ApplePass {}", &pass.token[..20])),
            &pass,
        ),
        ("unknown pass", Some(good.clone()), &unknown),
    ];
    for (label, auth, target) in cases {
        let paths = [
            (reqwest::Method::POST, registration_path("dev-x", target)),
            (reqwest::Method::DELETE, registration_path("dev-x", target)),
            (
                reqwest::Method::GET,
                format!("/passkit/v1/passes/{}/{}", target.pass_type, target.serial),
            ),
        ];
        for (method, path) in paths {
            let status = status_with_auth(&f, method.clone(), &path, auth.as_deref()).await;
            assert_eq!(status, 401, "{label}: {method} {path}");
        }
    }
    // The right token works, on the same routes.
    assert_eq!(f.register("dev-x", &pass, "abc").await, 201);
    let (status, _, _) = f.serials("dev-x", &pass.pass_type, None).await;
    assert_eq!(status, 200);
    // Management tokens don't open the device API, nor pass tokens the management API.
    let r = f
        .server
        .client
        .get(f.server.at(&pass.location))
        .header("authorization", format!("Bearer {}", pass.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    f.stop().await;
}

#[tokio::test]
async fn registration_is_idempotent_and_refreshes_the_push_token() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    assert_eq!(f.register("dev-r", &pass, "first").await, 201);
    assert_eq!(f.register("dev-r", &pass, "second").await, 200);
    assert_eq!(f.register("dev-r", &pass, "second").await, 200);
    assert_eq!(f.register("dev-r2", &pass, "third").await, 201);
    let tokens = f.server.state.store.push_tokens_for_pass(&pass.id).await.unwrap();
    let mut expected = vec![push_token_for("second"), push_token_for("third")];
    expected.sort();
    assert_eq!(tokens, expected);
    let (status, body) = f.patch(&pass.id, &json!({ "voided": true })).await;
    assert_eq!(status, 200);
    assert_eq!(body["registrations"], 2);
    f.wait_for_pushes("second", 1).await;
    f.wait_for_pushes("third", 1).await;
    f.assert_pushes_settled("first", 0).await;
    f.stop().await;
}

#[tokio::test]
async fn refuses_hostile_registration_bodies_and_path_segments() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    let auth = format!("ApplePass {}", pass.token);
    let post = |path: String, body: Vec<u8>| {
        f.server
            .client
            .post(f.server.at(&path))
            .header("authorization", auth.clone())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let path = registration_path("dev-h", &pass);
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(post(path.clone(), b"{not json".to_vec()).await.unwrap()),
        400
    );
    assert_eq!(status(post(path.clone(), b"{}".to_vec()).await.unwrap()), 400);
    assert_eq!(
        status(post(path.clone(), br#"{"pushToken": 5}"#.to_vec()).await.unwrap()),
        400
    );
    assert_eq!(
        status(
            post(path.clone(), br#"{"pushToken": ""}"#.to_vec())
                .await
                .unwrap()
        ),
        400
    );
    let long_token = format!(r#"{{"pushToken": "{}"}}"#, "a".repeat(300));
    assert_eq!(
        status(post(path.clone(), long_token.into_bytes()).await.unwrap()),
        400
    );
    let huge = format!(r#"{{"pushToken": "abc", "x": "{}"}}"#, "a".repeat(8 * 1024));
    assert_eq!(status(post(path.clone(), huge.into_bytes()).await.unwrap()), 413);

    let long_device = registration_path(&"d".repeat(5000), &pass);
    assert_eq!(
        status(
            post(long_device, br#"{"pushToken": "abc"}"#.to_vec())
                .await
                .unwrap()
        ),
        400
    );
    let long_serial = format!(
        "/passkit/v1/devices/dev-h/registrations/{}/{}",
        pass.pass_type,
        "s".repeat(5000)
    );
    assert_eq!(
        status(
            post(long_serial, br#"{"pushToken": "abc"}"#.to_vec())
                .await
                .unwrap()
        ),
        400
    );
    let r = f
        .server
        .client
        .get(f.server.at(&format!(
            "/passkit/v1/devices/dev-h/registrations/{}?passesUpdatedSince={}",
            pass.pass_type,
            "9".repeat(100)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Nothing was stored by any of that.
    assert!(
        f.server
            .state
            .store
            .push_tokens_for_pass(&pass.id)
            .await
            .unwrap()
            .is_empty()
    );
    f.stop().await;
}

#[tokio::test]
async fn caps_the_devices_registered_for_one_pass() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    let cap = passmint::passkit::MAX_DEVICES_PER_PASS;
    for i in 0..cap - 1 {
        let outcome = f
            .server
            .state
            .store
            .register_device(&format!("bulk-{i}"), &pass.id, &pass.pass_type, "tok", cap)
            .await
            .unwrap();
        assert_eq!(outcome, passmint::store::RegisterOutcome::Created);
    }
    assert_eq!(f.register("last-one", &pass, "tok").await, 201);
    assert_eq!(f.register("one-too-many", &pass, "tok").await, 409);
    // A device already registered may still refresh its token.
    assert_eq!(f.register("last-one", &pass, "tok2").await, 200);
    let r = f.server.get(&pass.location).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["registrations"], cap);
    f.stop().await;
}

#[tokio::test]
async fn serial_numbers_list_only_the_devices_passes_of_that_type() {
    let f = Fixture::start().await;
    let a = f.issue(Some("serial-a")).await;
    let b = f.issue(Some("serial-b")).await;
    let c = f.issue(Some("serial-c")).await;
    assert_eq!(f.register("dev-s", &a, "t").await, 201);
    assert_eq!(f.register("dev-s", &b, "t").await, 201);
    assert_eq!(f.register("dev-other", &c, "t").await, 201);
    let (status, mut serials, _) = f.serials("dev-s", &a.pass_type, None).await;
    serials.sort();
    assert_eq!(
        (status, serials),
        (200, vec!["serial-a".to_string(), "serial-b".to_string()])
    );
    let (status, _, _) = f.serials("dev-s", "pass.com.example.other", None).await;
    assert_eq!(status, 204);
    let (status, _, _) = f.serials("dev-unknown", &a.pass_type, None).await;
    assert_eq!(status, 204);
    // A tag this server never issued is no tag: the device gets everything.
    let (status, serials, _) = f.serials("dev-s", &a.pass_type, Some("garbage")).await;
    assert_eq!((status, serials.len()), (200, 2));
    f.stop().await;
}

#[tokio::test]
async fn keeps_device_logs_capped_and_shows_them_in_events() {
    let f = Fixture::start().await;
    let r = f
        .server
        .client
        .post(f.server.at("/passkit/v1/log"))
        .json(&json!({ "logs": ["first problem", "second problem"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let device_logs = || async {
        let events: Value = f
            .server
            .get("/v2/events?type=PASSKIT_DEVICE_LOG")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        events["data"].as_array().unwrap().clone()
    };
    // One record per message, newest first, each counted once.
    let logs = device_logs().await;
    let messages: Vec<&str> = logs
        .iter()
        .map(|e| e["data"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, vec!["second problem", "first problem"]);
    assert!(logs.iter().all(|e| e["count"] == 1), "{logs:?}");

    let r = f
        .server
        .client
        .post(f.server.at("/passkit/v1/log"))
        .header("content-type", "application/json")
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let big = json!({ "logs": ["x".repeat(70 * 1024)] });
    let r = f
        .server
        .client
        .post(f.server.at("/passkit/v1/log"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let long = json!({ "logs": ["y".repeat(10_000)] });
    let r = f
        .server
        .client
        .post(f.server.at("/passkit/v1/log"))
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let logs = device_logs().await;
    assert_eq!(
        logs[0]["data"]["message"].as_str().unwrap().len(),
        passmint::passkit::log::MAX_MESSAGE_CHARS
    );
    f.stop().await;
}

#[tokio::test]
async fn records_device_events() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    assert_eq!(f.register("dev-e", &pass, "t").await, 201);
    let bad = Issued {
        token: "wrong-token-wrong-token-wrong-token".into(),
        ..pass.clone()
    };
    assert_eq!(f.register("dev-e", &bad, "t").await, 401);
    assert_eq!(f.unregister("dev-e", &pass).await, 200);
    for (kind, data_key) in [
        ("PASSKIT_DEVICE_REGISTER_SUCCESS", "serialNumber"),
        ("PASSKIT_DEVICE_REGISTER_FAIL", "status"),
        ("PASSKIT_DEVICE_UNREGISTER_SUCCESS", "serialNumber"),
    ] {
        let events: Value = f
            .server
            .get(&format!("/v2/events?type={kind}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(events["data"].as_array().unwrap().len(), 1, "{kind}: {events}");
        assert!(events["data"][0]["data"].get(data_key).is_some(), "{events}");
        assert!(
            !events.to_string().contains(&pass.token),
            "token leaked into {kind}"
        );
    }
    f.stop().await;
}

/// Many registrations at once (they are group-committed): each new device gets 201, a device
/// sending twice ends registered once with one of its tokens, and the count is exact.
async fn registers_many_devices_at_once(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let pass = f.issue(None).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let device = if i < 50 {
            format!("many-{i}")
        } else {
            "many-twice".to_string()
        };
        let url = f.server.at(&registration_path(&device, &pass));
        let client = f.server.client.clone();
        let auth = format!("ApplePass {}", pass.token);
        let token = push_token_for(&format!("push-{i}"));
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("authorization", auth)
                .json(&json!({ "pushToken": token }))
                .send()
                .await
                .unwrap();
            (i, r.status().as_u16())
        }));
    }
    let mut twice = Vec::new();
    for task in tasks {
        let (i, status) = task.await.unwrap();
        if i < 50 {
            assert_eq!(status, 201, "device {i}");
        } else {
            twice.push(status);
        }
    }
    twice.sort_unstable();
    assert_eq!(twice.iter().filter(|s| **s == 201).count(), 1, "{twice:?}");
    assert!(twice.iter().all(|s| *s == 200 || *s == 201), "{twice:?}");
    let body: Value = f
        .server
        .get(&pass.location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["registrations"], 51);
    let events: Value = f
        .server
        .get("/v2/events?type=PASSKIT_DEVICE_REGISTER_SUCCESS&limit=1000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"].as_array().unwrap().len(), 60);
    f.stop().await;
}

on_both_backends! {
    registers_many_devices_at_once => registers_many_devices_at_once;
    every_kind_of_change_shows_up_in_passes_updated_since_and_queues_a_push => every_kind_of_change_shows_up_in_passes_updated_since_and_queues_a_push;
    a_no_op_patch_and_a_template_rename_are_not_updates => a_no_op_patch_and_a_template_rename_are_not_updates;
    two_updates_within_one_second_are_never_answered_304 => two_updates_within_one_second_are_never_answered_304;
    answers_401_to_a_missing_malformed_or_wrong_token_and_an_unknown_pass => answers_401_to_a_missing_malformed_or_wrong_token_and_an_unknown_pass;
}
