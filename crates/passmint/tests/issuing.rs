//! Issuing as a layer of its own (issue 8): batches, kept signed versions, typed bodies that
//! name every problem, and concurrent changes. Each behaviour runs on SQLite and, when
//! `PASSMINT_TEST_POSTGRES_URL` is set, on PostgreSQL.
mod common;

use std::future::Future;

use common::db::TestDb;
use common::passes::{Fixture, example_payload, unzip, verify_pass};
use common::server::{ADMIN_TOKEN, BASE, params};
use serde_json::{Value, json};

/// Runs `test` on SQLite, then on PostgreSQL when it is configured.
async fn on_both<F, Fut>(name: &str, test: F)
where
    F: Fn(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    test(Fixture::start().await).await;
    if let Some(db) = TestDb::postgres(name).await {
        test(Fixture::start_on(&db.url).await).await;
        db.drop_db().await;
    }
}

async fn post(f: &Fixture, path: &str, body: &Value) -> (u16, Value) {
    let r = f
        .server
        .client
        .post(f.server.at(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn signatures(f: &Fixture) -> u64 {
    let text = f
        .server
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("passmint_pass_signatures_total "))
        .expect("the signature counter is exported")
        .trim()
        .parse()
        .unwrap()
}

async fn pass_count(f: &Fixture) -> usize {
    let r: Value = f
        .server
        .get(&format!("{BASE}/passes?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["data"].as_array().unwrap().len()
}

async fn download(f: &Fixture, id: &str) -> Vec<u8> {
    let r = f
        .server
        .get(&format!("{BASE}/passes/{id}/pkpass"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

fn items(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({ "payload": example_payload(), "serialNumber": format!("B-{i}") }))
        .collect()
}

#[tokio::test]
async fn a_batch_stores_every_pass_in_item_order_and_signs_each_when_first_fetched() {
    on_both("batch_stores_in_order", |f| async move {
        let before = signatures(&f).await;
        let (status, body) = post(
            &f,
            &format!("{BASE}/passes/batch"),
            &json!({ "templateId": f.template_id, "items": items(25) }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), 25);
        for (i, pass) in data.iter().enumerate() {
            assert_eq!(pass["serialNumber"], format!("B-{i}"));
            assert_eq!(pass["templateId"], f.template_id.as_str());
            assert_eq!(pass["registrations"], 0);
        }
        // Stored, not signed.
        assert_eq!(signatures(&f).await, before);
        let id = data[3]["id"].as_str().unwrap();
        let files = verify_pass(&download(&f, id).await, &f.chain.root_pem);
        let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
        assert_eq!(pass_json["serialNumber"], "B-3");
        assert_eq!(signatures(&f).await, before + 1);

        let events: Value = f
            .server
            .get("/v2/events?type=CREDENTIAL_COMPACT_APPLE_PASS_CREATE_BATCH_SUCCESS")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(events["data"][0]["data"]["count"], 25);
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_and_names_every_bad_item() {
    on_both("batch_all_or_nothing", |f| async move {
        // What the schema says is wrong, every item at once…
        let mut bad = items(5);
        bad[1]["serialNumber"] = json!("a/b");
        bad[3]["payload"] = json!([]);
        bad[4]["extra"] = json!(true);
        let (status, body) = post(
            &f,
            &format!("{BASE}/passes/batch"),
            &json!({ "templateId": f.template_id, "items": bad }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            params(&body),
            vec!["items[1].serialNumber", "items[3].payload", "items[4].extra"]
        );
        // …and what only the template can tell (placeholders, issuer keys), every item at once.
        let mut bad = items(5);
        bad[1]["payload"] = json!({ "points": 1 });
        bad[4]["overrides"] = json!({ "serialNumber": "x" });
        let (status, body) = post(
            &f,
            &format!("{BASE}/passes/batch"),
            &json!({ "templateId": f.template_id, "items": bad }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let named = params(&body);
        assert!(
            named
                .iter()
                .all(|p| p == "items[1].payload" || p == "items[4].overrides"),
            "{named:?}"
        );
        assert!(named.iter().any(|p| p == "items[1].payload"), "{named:?}");
        assert!(named.iter().any(|p| p == "items[4].overrides"), "{named:?}");
        assert_eq!(pass_count(&f).await, 0);

        f.issue(Some("TAKEN")).await;
        let mut clash = items(4);
        clash[2]["serialNumber"] = json!("TAKEN");
        let (status, body) = post(
            &f,
            &format!("{BASE}/passes/batch"),
            &json!({ "templateId": f.template_id, "items": clash }),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(params(&body), vec!["items[2].serialNumber"]);
        assert_eq!(pass_count(&f).await, 1);

        let mut twice = items(3);
        twice[2]["serialNumber"] = json!("B-0");
        let (status, body) = post(
            &f,
            &format!("{BASE}/passes/batch"),
            &json!({ "templateId": f.template_id, "items": twice }),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(params(&body), vec!["items[2].serialNumber"]);
        assert_eq!(pass_count(&f).await, 1);

        for (items, what) in [(items(0), "no items"), (items(1001), "1001 items")] {
            let (status, body) = post(
                &f,
                &format!("{BASE}/passes/batch"),
                &json!({ "templateId": f.template_id, "items": items }),
            )
            .await;
            assert_eq!(status, 400, "{what}: {body}");
            assert_eq!(params(&body), vec!["items"], "{what}");
        }
        let (status, _) = post(
            &f,
            &format!("{BASE}/passes/batch"),
            &json!({ "templateId": uuid::Uuid::new_v4(), "items": items(2) }),
        )
        .await;
        assert_eq!(status, 404);
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_pass_that_has_not_changed_is_served_again_without_a_new_signature() {
    on_both("redownload_without_signature", |f| async move {
        let pass = f.issue(None).await;
        let before = signatures(&f).await;
        let first = download(&f, &pass.id).await;
        let (_, device_first) = f.fetch_pass_json(&pass).await;
        assert_eq!(signatures(&f).await, before);
        let again = download(&f, &pass.id).await;
        // The very same bytes, signature (and its signing time) included: nothing was signed.
        assert_eq!(first, again);
        assert_eq!(signatures(&f).await, before);
        assert_eq!(device_first["serialNumber"], pass.serial.as_str());

        let (status, _) = f
            .patch(&pass.id, &json!({ "payload": { "member": { "id": "M-2", "name": "B", "tier": "Gold" }, "points": 3, "balance": 1 } }))
            .await;
        assert_eq!(status, 200);
        let changed = download(&f, &pass.id).await;
        assert_ne!(changed, first);
        assert_eq!(signatures(&f).await, before + 1);
        let files = unzip(&changed);
        let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
        assert_eq!(pass_json["barcodes"][0]["message"], "M-2");
        assert_eq!(download(&f, &pass.id).await, changed);
        assert_eq!(signatures(&f).await, before + 1);
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn sixty_concurrent_changes_of_one_pass_succeed_or_get_a_clean_409_and_burn_no_tag() {
    on_both("concurrent_patches", |f| async move {
        let pass = f.issue(None).await;
        let tag_before = f.server.state.store.current_update_tag().await.unwrap();
        let answers = futures_util::future::join_all((0..60).map(|i| {
            let f = &f;
            let id = pass.id.clone();
            async move {
                f.patch(&id, &json!({ "payload": { "member": { "id": format!("M-{i}"), "name": "N", "tier": "Gold" }, "points": i, "balance": 1 } }))
                    .await
            }
        }))
        .await;
        let mut applied = 0;
        for (status, body) in &answers {
            match status {
                200 => applied += 1,
                409 => assert_eq!(body["code"], "ConflictError"),
                other => panic!("a concurrent PATCH answered {other}: {body}"),
            }
        }
        assert!(applied > 0);
        let tag_after = f.server.state.store.current_update_tag().await.unwrap();
        // Every applied PATCH changed the rendering: one tag each, and none for the losers.
        assert_eq!(tag_after - tag_before, applied as i64);
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn request_bodies_name_every_problem_at_once_and_accept_what_the_schema_allows() {
    let f = Fixture::start().await;
    let (status, body) = post(
        &f,
        BASE,
        &json!({ "templateId": "", "serialNumber": "", "extra": 1, "overrides": [] }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let mut named = params(&body);
    named.sort();
    assert_eq!(
        named,
        vec!["extra", "overrides", "payload", "serialNumber", "templateId"]
    );

    let pass = f.issue(None).await;
    // `null` means "not given", as the published schema says.
    let (status, body) = f
        .patch(&pass.id, &json!({ "voided": null, "payload": null }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = f.patch(&pass.id, &json!({ "voided": "yes", "colour": 1 })).await;
    assert_eq!(status, 400);
    let mut named = params(&body);
    named.sort();
    assert_eq!(named, vec!["colour", "voided"]);

    for query in ["limit=", "limit=0", "limit=1001", "limit=x", "templateId=nope"] {
        let r = f
            .server
            .get(&format!("{BASE}/passes?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
    }
    f.stop().await;
}

#[tokio::test]
async fn a_damaged_stored_payload_is_an_internal_error_not_an_empty_one() {
    let f = Fixture::start().await;
    let pass = f.issue(None).await;
    if let passmint::store::Backend::Sqlite(pool) = f.server.state.store.backend() {
        sqlx::query("UPDATE passes SET payload = 'not json' WHERE id = $1")
            .bind(&pass.id)
            .execute(pool)
            .await
            .unwrap();
    }
    let r = f
        .server
        .get(&format!("{BASE}/passes/{}", pass.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "InternalServerError");
    f.stop().await;
}
