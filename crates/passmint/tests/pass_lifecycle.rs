//! An issued pass through its whole life as an iPhone drives it, on SQLite and PostgreSQL:
//! download and verify, register, list serials, fetch with If-Modified-Since, get updated by a
//! PATCH, see the change, unregister.
mod common;

use common::db::TestDb;
use common::passes::{Fixture, verify_pass};
use serde_json::json;

async fn lives_through_issue_register_update_and_unregister(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let pass = f.issue(None).await;

    // Downloaded from the management API: signed, with the web service and its own token.
    let download = f
        .server
        .get(&format!("{}/pkpass", pass.location))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert!(download.headers().contains_key("last-modified"));
    let files = verify_pass(&download.bytes().await.unwrap(), &f.chain.root_pem);
    let pass_json: serde_json::Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(pass_json["webServiceURL"], format!("{}/passkit", f.server.url));
    assert_eq!(pass_json["authenticationToken"], pass.token.as_str());
    assert!(pass.token.len() >= 32);
    assert_eq!(pass_json["storeCard"]["headerFields"][0]["value"], 120);

    // The device registers and asks which passes changed: this one.
    assert_eq!(f.register("device-1", &pass, "aa11").await, 201);
    assert_eq!(f.register("device-1", &pass, "aa22").await, 200);
    let (status, serials, tag) = f.serials("device-1", &pass.pass_type, None).await;
    assert_eq!(status, 200);
    assert_eq!(serials, vec![pass.serial.clone()]);
    let tag = tag.unwrap();
    let (status, _, _) = f.serials("device-1", &pass.pass_type, Some(&tag)).await;
    assert_eq!(status, 204);

    // It fetches the pass, then again with If-Modified-Since: 304.
    let (last_modified, fetched) = f.fetch_pass_json(&pass).await;
    assert_eq!(fetched["serialNumber"], pass.serial.as_str());
    let r = f.fetch(&pass, Some(&last_modified)).await;
    assert_eq!(r.status(), 304);

    // The issuer changes the pass: the device learns of it and sees the change.
    let mut payload = common::passes::example_payload();
    payload["points"] = json!(180);
    let (status, body) = f.patch(&pass.id, &json!({ "payload": payload })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payload"]["points"], 180);
    assert_eq!(body["registrations"], 1);
    // Wallet is told through APNs, at the refreshed push token.
    f.wait_for_pushes("aa22", 1).await;
    f.assert_pushes_settled("aa11", 0).await;
    let (status, serials, new_tag) = f.serials("device-1", &pass.pass_type, Some(&tag)).await;
    assert_eq!(status, 200);
    assert_eq!(serials, vec![pass.serial.clone()]);
    assert_ne!(new_tag.unwrap(), tag);
    let r = f.fetch(&pass, Some(&last_modified)).await;
    assert_eq!(r.status(), 200);
    let (_, fetched) = f.fetch_pass_json(&pass).await;
    assert_eq!(fetched["storeCard"]["headerFields"][0]["value"], 180);

    // The device removes the pass.
    assert_eq!(f.unregister("device-1", &pass).await, 200);
    let (status, _, _) = f.serials("device-1", &pass.pass_type, None).await;
    assert_eq!(status, 204);
    assert_eq!(f.unregister("device-1", &pass).await, 200);
    f.stop().await;
}

on_both_backends! {
    lives_through_issue_register_update_and_unregister => lives_through_issue_register_update_and_unregister;
}
