//! The serial-number query (SPEC 3) after every kind of write that changes a device's passes or
//! their tags. On SQLite the answers come from an in-process cache: each test first fills it
//! (by asking), then writes, then asks again, so a cache that missed an invalidation fails here.
mod common;

use std::time::Duration;

use apns_testserver::Reply;
use common::db::TestDb;
use common::passes::{Fixture, example_payload, push_token_for};
use common::server::BASE;
use serde_json::json;

/// Polls the device's serials (no tag) until they are `want`, for at most 20 s.
async fn wait_for_serials(f: &Fixture, device: &str, pass_type: &str, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, mut serials, _) = f.serials(device, pass_type, None).await;
        serials.sort();
        if serials == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{device} still lists {serials:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn serials_follow_updates_unregistration_and_re_registration(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let a = f.issue(Some("cache-a")).await;
    let b = f.issue(Some("cache-b")).await;
    assert_eq!(f.register("dev-c", &a, "tok-c").await, 201);
    let (status, serials, tag) = f.serials("dev-c", &a.pass_type, None).await;
    assert_eq!((status, serials), (200, vec!["cache-a".to_string()]));
    let tag = tag.unwrap();
    assert_eq!(f.serials("dev-c", &a.pass_type, Some(&tag)).await.0, 204);

    // An update after the device got `tag` must be listed since `tag`.
    let mut payload = example_payload();
    payload["points"] = json!(77);
    assert_eq!(f.patch(&a.id, &json!({ "payload": payload })).await.0, 200);
    let (status, serials, new_tag) = f.serials("dev-c", &a.pass_type, Some(&tag)).await;
    assert_eq!((status, serials), (200, vec!["cache-a".to_string()]));
    let new_tag = new_tag.unwrap();
    assert!(new_tag.parse::<i64>().unwrap() > tag.parse::<i64>().unwrap());
    assert_eq!(f.serials("dev-c", &a.pass_type, Some(&new_tag)).await.0, 204);

    // A second pass registered after the device's list was read shows up.
    assert_eq!(f.register("dev-c", &b, "tok-c").await, 201);
    let (status, mut serials, _) = f.serials("dev-c", &a.pass_type, None).await;
    serials.sort();
    assert_eq!(
        (status, serials),
        (200, vec!["cache-a".to_string(), "cache-b".to_string()])
    );
    // A token refresh changes nothing listed.
    assert_eq!(f.register("dev-c", &b, "tok-c2").await, 200);
    assert_eq!(f.serials("dev-c", &a.pass_type, None).await.1.len(), 2);

    assert_eq!(f.unregister("dev-c", &a).await, 200);
    let (status, serials, _) = f.serials("dev-c", &a.pass_type, None).await;
    assert_eq!((status, serials), (200, vec!["cache-b".to_string()]));
    assert_eq!(f.unregister("dev-c", &b).await, 200);
    assert_eq!(f.serials("dev-c", &a.pass_type, None).await.0, 204);

    // Re-registering after an unregistration lists the pass again.
    assert_eq!(f.register("dev-c", &a, "tok-c").await, 201);
    let (status, serials, _) = f.serials("dev-c", &a.pass_type, None).await;
    assert_eq!((status, serials), (200, vec!["cache-a".to_string()]));
    // Another device's list is its own.
    assert_eq!(f.serials("dev-other", &a.pass_type, None).await.0, 204);
    f.stop().await;
}

async fn a_device_whose_push_token_apns_rejects_no_longer_lists_its_passes(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let pass = f.issue(Some("cache-push")).await;
    for (device, token) in [
        ("dev-410", "tok-410"),
        ("dev-bad", "tok-bad"),
        ("dev-ok", "tok-ok"),
    ] {
        assert_eq!(f.register(device, &pass, token).await, 201);
        let (status, serials, _) = f.serials(device, &pass.pass_type, None).await;
        assert_eq!((status, serials), (200, vec!["cache-push".to_string()]));
    }
    // Both tokens became invalid after they registered.
    let now = passmint::store::now_millis();
    f.apns
        .reply_for(&push_token_for("tok-410"), Reply::unregistered(now));
    f.apns
        .reply_for(&push_token_for("tok-bad"), Reply::status(400, "BadDeviceToken"));
    let mut payload = example_payload();
    payload["points"] = json!(5);
    assert_eq!(f.patch(&pass.id, &json!({ "payload": payload })).await.0, 200);
    wait_for_serials(&f, "dev-410", &pass.pass_type, &[]).await;
    wait_for_serials(&f, "dev-bad", &pass.pass_type, &[]).await;
    assert_eq!(f.pushes_to("tok-410"), 1);
    assert_eq!(f.pushes_to("tok-bad"), 1);
    f.wait_for_pushes("tok-ok", 1).await;
    let (status, serials, _) = f.serials("dev-ok", &pass.pass_type, None).await;
    assert_eq!((status, serials), (200, vec!["cache-push".to_string()]));
    f.stop().await;
}

async fn deleting_a_pass_or_its_template_removes_it_from_the_devices_serials(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let a = f.issue(Some("cache-del-a")).await;
    let b = f.issue(Some("cache-del-b")).await;
    assert_eq!(f.register("dev-d", &a, "tok-d").await, 201);
    assert_eq!(f.register("dev-d", &b, "tok-d").await, 201);
    assert_eq!(f.serials("dev-d", &a.pass_type, None).await.1.len(), 2);

    let r = f.server.delete(&a.location).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (status, serials, _) = f.serials("dev-d", &a.pass_type, None).await;
    assert_eq!((status, serials), (200, vec!["cache-del-b".to_string()]));

    let r = f
        .server
        .delete(&format!("{BASE}/templates/{}", f.template_id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.serials("dev-d", &a.pass_type, None).await.0, 204);
    f.stop().await;
}

on_both_backends! {
    serials_follow_updates_unregistration_and_re_registration => serials_follow_updates_unregistration_and_re_registration;
    a_device_whose_push_token_apns_rejects_no_longer_lists_its_passes => a_device_whose_push_token_apns_rejects_no_longer_lists_its_passes;
    deleting_a_pass_or_its_template_removes_it_from_the_devices_serials => deleting_a_pass_or_its_template_removes_it_from_the_devices_serials;
}
