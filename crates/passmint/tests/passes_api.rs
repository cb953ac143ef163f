//! Black-box tests of the pass API (SPEC 2.2) over HTTP.
mod common;

use common::passes::{Fixture, example_payload, verify_pass};
use common::server::{ADMIN_TOKEN, BASE, Upload, params};
use serde_json::{Value, json};

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn issues_a_signed_pass_with_its_file_name_and_location() {
    let f = Fixture::start().await;
    let r = f
        .post_pass(&json!({
            "templateId": f.template_id,
            "payload": example_payload(),
            "serialNumber": "CARD-1",
            "overrides": { "relevantDate": "2030-05-01T09:00:00Z" }
        }))
        .await;
    assert_eq!(r.status(), 201);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/vnd.apple.pkpass");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"coffee-card.pkpass\""
    );
    let location = h["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{BASE}/passes/")), "{location}");
    assert!(h.contains_key("last-modified"));
    let files = verify_pass(&r.bytes().await.unwrap(), &f.chain.root_pem);
    let pass: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(pass["serialNumber"], "CARD-1");
    assert_eq!(pass["passTypeIdentifier"], "pass.com.example.test");
    assert_eq!(pass["teamIdentifier"], "TEAM123456");
    assert_eq!(pass["relevantDate"], "2030-05-01T09:00:00Z");
    assert_eq!(pass["barcodes"][0]["message"], "M-0042");
    assert_eq!(pass["storeCard"]["primaryFields"][0]["value"], 21.75);
    let token = pass["authenticationToken"].as_str().unwrap();
    assert!(token.len() >= 32);

    let (status, got) = json_of(f.server.get(&location).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], location.rsplit('/').next().unwrap());
    assert_eq!(got["templateId"], f.template_id.as_str());
    assert_eq!(got["passTypeIdentifier"], "pass.com.example.test");
    assert_eq!(got["serialNumber"], "CARD-1");
    assert_eq!(got["payload"], example_payload());
    assert_eq!(got["voided"], false);
    assert_eq!(got["registrations"], 0);
    assert!(got["createdAt"].is_string() && got["updatedAt"].is_string());
    assert!(!got.to_string().contains(token), "token leaked: {got}");
    f.stop().await;
}

#[tokio::test]
async fn gives_every_pass_its_own_token_and_a_uuid_serial_by_default() {
    let f = Fixture::start().await;
    let a = f.issue(None).await;
    let b = f.issue(None).await;
    assert_ne!(a.token, b.token);
    uuid::Uuid::parse_str(&a.serial).unwrap();
    assert_ne!(a.serial, b.serial);
    f.stop().await;
}

#[tokio::test]
async fn names_missing_placeholders_and_forbidden_overrides() {
    let f = Fixture::start().await;
    let (status, body) = json_of(
        f.post_pass(&json!({ "templateId": f.template_id, "payload": { "points": 1 } }))
            .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "BadRequestError");
    let text = body["details"].to_string();
    for name in ["member.id", "member.name", "member.tier", "balance"] {
        assert!(text.contains(name), "{name} not named in {text}");
    }

    for key in [
        "passTypeIdentifier",
        "teamIdentifier",
        "serialNumber",
        "authenticationToken",
        "webServiceURL",
        "formatVersion",
    ] {
        let (status, body) = json_of(
            f.post_pass(&json!({
                "templateId": f.template_id,
                "payload": example_payload(),
                "overrides": { key: "x" }
            }))
            .await,
        )
        .await;
        assert_eq!(status, 400, "{key}: {body}");
        assert_eq!(params(&body), vec!["overrides"], "{body}");
        assert!(
            body["details"][0]["msg"].as_str().unwrap().contains(key),
            "{body}"
        );
    }
    f.stop().await;
}

#[tokio::test]
async fn checks_the_request_body_and_reports_every_problem() {
    let f = Fixture::start().await;
    let (status, body) = json_of(
        f.post_pass(&json!({
            "templateId": "not-a-uuid",
            "payload": [1],
            "overrides": "x",
            "serialNumber": "a/b",
            "extra": 1
        }))
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let mut got = params(&body);
    got.sort();
    assert_eq!(
        got,
        vec!["extra", "overrides", "payload", "serialNumber", "templateId"]
    );

    let (status, body) = json_of(f.post_pass(&json!({})).await).await;
    assert_eq!(status, 400);
    let mut got = params(&body);
    got.sort();
    assert_eq!(got, vec!["payload", "templateId"]);

    let r = f
        .server
        .client
        .post(f.server.at(BASE))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = f
        .server
        .client
        .post(f.server.at(BASE))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let (status, _) = json_of(
        f.post_pass(&json!({
            "templateId": uuid::Uuid::new_v4().to_string(),
            "payload": example_payload()
        }))
        .await,
    )
    .await;
    assert_eq!(status, 404);

    let r = f
        .server
        .client
        .post(f.server.at(BASE))
        .json(&json!({ "templateId": f.template_id, "payload": example_payload() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    f.stop().await;
}

#[tokio::test]
async fn refuses_a_serial_number_already_taken_with_409() {
    let f = Fixture::start().await;
    f.issue(Some("SAME")).await;
    let (status, body) = json_of(
        f.post_pass(&json!({
            "templateId": f.template_id,
            "payload": example_payload(),
            "serialNumber": "SAME"
        }))
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["code"], "ConflictError");
    f.stop().await;
}

#[tokio::test]
async fn lists_passes_by_template_with_cursors() {
    let f = Fixture::start().await;
    let mut issued = Vec::new();
    for _ in 0..5 {
        issued.push(f.issue(None).await.id);
    }
    let second = f.server.create(&Upload::valid(&f.chain)).await;
    let other = f
        .post_pass(&json!({ "templateId": second["id"], "payload": example_payload() }))
        .await;
    assert_eq!(other.status(), 201);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{BASE}/passes?templateId={}&limit=2", f.template_id);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = json_of(f.server.get(&url).send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        for p in body["data"].as_array().unwrap() {
            assert_eq!(p["templateId"], f.template_id.as_str());
            assert!(p.get("authenticationToken").is_none());
            seen.push(p["id"].as_str().unwrap().to_string());
        }
        match body.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, issued);
    let (_, all) = json_of(f.server.get(&format!("{BASE}/passes")).send().await.unwrap()).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 6);
    assert!(all.get("nextCursor").is_none());

    for bad in ["templateId=nope", "limit=0", "limit=1001", "cursor=garbage"] {
        let (status, body) = json_of(
            f.server
                .get(&format!("{BASE}/passes?{bad}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    f.stop().await;
}

#[tokio::test]
async fn patches_each_member_and_refuses_bad_changes() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    let mut payload = example_payload();
    payload["member"]["tier"] = json!("Platinum");
    let (status, body) = f
        .patch(
            &pass.id,
            &json!({ "payload": payload, "overrides": { "expirationDate": "2031-01-01T00:00:00Z" }, "voided": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"]["member"]["tier"], "Platinum");
    assert_eq!(body["voided"], true);
    let r = f
        .server
        .get(&format!("{}/pkpass", pass.location))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let files = verify_pass(&r.bytes().await.unwrap(), &f.chain.root_pem);
    let json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(json["storeCard"]["auxiliaryFields"][0]["value"], "Platinum");
    assert_eq!(json["expirationDate"], "2031-01-01T00:00:00Z");
    assert_eq!(json["voided"], true);

    // A change that doesn't render is refused and leaves the pass as it was.
    let (status, body) = f.patch(&pass.id, &json!({ "payload": { "points": 3 } })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(params(&body)[0], "payload");
    let (status, body) = f
        .patch(&pass.id, &json!({ "overrides": { "serialNumber": "x" } }))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = f
        .patch(&pass.id, &json!({ "voided": "yes", "payload": 1, "other": true }))
        .await;
    assert_eq!(status, 400);
    let mut got = params(&body);
    got.sort();
    assert_eq!(got, vec!["other", "payload", "voided"]);
    let (_, now) = json_of(f.server.get(&pass.location).send().await.unwrap()).await;
    assert_eq!(now["payload"]["member"]["tier"], "Platinum");

    let missing = format!("{BASE}/passes/{}", uuid::Uuid::new_v4());
    let r = f
        .server
        .client
        .patch(f.server.at(&missing))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "voided": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = f
        .server
        .client
        .patch(f.server.at(&pass.location))
        .json(&json!({ "voided": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    f.stop().await;
}

#[tokio::test]
async fn deletes_a_pass_and_its_registrations() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    assert_eq!(f.register("dev-d", &pass, "t").await, 201);
    assert_eq!(f.fetch(&pass, None).await.status(), 200);
    let r = f.server.delete(&pass.location).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.server.get(&pass.location).send().await.unwrap().status(), 404);
    assert_eq!(
        f.server
            .get(&format!("{}/pkpass", pass.location))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        f.server.delete(&pass.location).send().await.unwrap().status(),
        404
    );
    assert_eq!(f.fetch(&pass, None).await.status(), 401);
    let (status, _, _) = f.serials("dev-d", &pass.pass_type, None).await;
    assert_eq!(status, 204);
    let r = f
        .server
        .client
        .delete(f.server.at(&pass.location))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (status, _) = json_of(
        f.server
            .get(&format!("{BASE}/passes/not-a-uuid"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    f.stop().await;
}

#[tokio::test]
async fn deleting_the_template_deletes_its_passes() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    // Known to the device side first (its token check may be cached), then deleted.
    assert_eq!(f.fetch(&pass, None).await.status(), 200);
    let r = f
        .server
        .delete(&format!("{BASE}/templates/{}", f.template_id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.server.get(&pass.location).send().await.unwrap().status(), 404);
    assert_eq!(f.fetch(&pass, None).await.status(), 401);
    f.stop().await;
}

#[tokio::test]
async fn records_start_and_success_or_fail_events_for_pass_operations() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    f.server.get(&pass.location).send().await.unwrap();
    f.server.get(&format!("{BASE}/passes")).send().await.unwrap();
    f.patch(&pass.id, &json!({ "voided": true })).await;
    f.patch(&pass.id, &json!({ "payload": {} })).await;
    f.server.delete(&pass.location).send().await.unwrap();
    let expectations = [
        ("CREATE_START", 1),
        ("CREATE_SUCCESS", 1),
        ("RETRIEVE_START", 1),
        ("RETRIEVE_SUCCESS", 1),
        ("RETRIEVE_LIST_START", 1),
        ("RETRIEVE_LIST_SUCCESS", 1),
        ("UPDATE_START", 2),
        ("UPDATE_SUCCESS", 1),
        ("UPDATE_FAIL", 1),
        ("DELETE_START", 1),
        ("DELETE_SUCCESS", 1),
    ];
    for (suffix, n) in expectations {
        let kind = format!("CREDENTIAL_COMPACT_APPLE_PASS_{suffix}");
        let (_, events) = json_of(
            f.server
                .get(&format!("/v2/events?type={kind}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let data = events["data"].as_array().unwrap();
        assert_eq!(data.len(), n, "{kind}: {events}");
        assert!(!events.to_string().contains(&pass.token));
    }
    let (_, fail) = json_of(
        f.server
            .get("/v2/events?type=CREDENTIAL_COMPACT_APPLE_PASS_UPDATE_FAIL")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(fail["data"][0]["data"]["status"], 400, "{fail}");
    f.stop().await;
}
