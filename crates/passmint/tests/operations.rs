//! Events, health, metrics, OpenAPI, request ids, outages and restarts, over HTTP.
mod common;

use common::server::{BASE, TestServer, Upload, chain, settings};
use serde_json::Value;

fn templates() -> String {
    format!("{BASE}/templates")
}

async fn events(server: &TestServer, query: &str) -> Value {
    let r = server.get(&format!("/v2/events?{query}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn records_start_and_success_events_under_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(settings(dir.path())).await;
    let chain = chain();
    let r = server
        .post_form(&templates(), Upload::valid(&chain).form())
        .header("x-request-id", "client-chosen-id-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "client-chosen-id-1");
    let id = r.json::<Value>().await.unwrap()["id"].clone();

    let r = server
        .get(&format!("{}/not-a-uuid", templates()))
        .send()
        .await
        .unwrap();
    let failed_request = r.headers()["x-request-id"].to_str().unwrap().to_string();
    uuid::Uuid::parse_str(&failed_request).expect("a generated request id is a UUID");

    let all = events(&server, "").await;
    let list = all["data"].as_array().unwrap();
    let types: Vec<&str> = list.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        vec![
            "CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_RETRIEVE_FAIL",
            "CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_RETRIEVE_START",
            "CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_CREATE_SUCCESS",
            "CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_CREATE_START",
        ],
        "newest first"
    );
    let success = &list[2];
    assert_eq!(success["requestId"], "client-chosen-id-1");
    assert_eq!(success["data"]["templateId"], id);
    assert_eq!(success["category"], "template");
    assert!(success["timestamp"].is_string() && success["id"].is_string());
    assert_eq!(list[0]["requestId"], failed_request.as_str());
    assert_eq!(list[0]["data"]["code"], "BadRequestError");

    let only = events(
        &server,
        "type=CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_CREATE_START",
    )
    .await;
    assert_eq!(only["data"].as_array().unwrap().len(), 1);
    assert!(only.get("nextCursor").is_none());

    // Page through one at a time.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = events(&server, &format!("limit=1{cursor}")).await;
        seen.extend(page["data"].as_array().unwrap().iter().map(|e| e["id"].clone()));
        match page.get("nextCursor") {
            Some(c) => cursor = format!("&cursor={}", c.as_str().unwrap()),
            None => break,
        }
    }
    // The list calls themselves are not management operations on templates, so nothing was
    // added while paging.
    assert_eq!(seen, list.iter().map(|e| e["id"].clone()).collect::<Vec<_>>());
    let r = server.get("/v2/events?limit=0").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = server.get("/v2/events?cursor=nope").send().await.unwrap();
    assert_eq!(r.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn keeps_only_the_newest_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_events = 5;
    let server = TestServer::start(s).await;
    for _ in 0..10 {
        let r = server.get(&templates()).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let all = events(&server, "limit=1000").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    assert_eq!(server.state.store.count_events().await.unwrap(), 5);
    server.stop().await;
}

#[tokio::test]
async fn answers_503_when_the_database_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(settings(dir.path())).await;
    let r = server.client.get(server.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    server.state.store.close().await;
    let r = server.client.get(server.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    for path in [templates(), format!("{}/{}", templates(), uuid::Uuid::new_v4())] {
        let r = server.get(&path).send().await.unwrap();
        assert_eq!(r.status(), 503, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "ServiceUnavailableError");
    }
    server.stop().await;
}

#[tokio::test]
async fn exposes_prometheus_metrics_by_route_template() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(settings(dir.path())).await;
    let chain = chain();
    server.create(&Upload::valid(&chain)).await;
    let id = uuid::Uuid::new_v4();
    let _ = server.get(&format!("{}/{id}", templates())).send().await.unwrap();
    let r = server.client.get(server.at("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    let route = format!("{BASE}/templates/{{id}}");
    assert!(
        text.contains(&format!(
            "passmint_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"404\"}} 1"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "passmint_http_requests_total{{method=\"POST\",route=\"{BASE}/templates\",status=\"201\"}} 1"
    )));
    assert!(text.contains("passmint_http_request_duration_seconds_bucket{"));
    assert!(text.contains("passmint_templates 1"));
    assert!(
        text.contains(
            "passmint_events_total{type=\"CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_CREATE_SUCCESS\"} 1"
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn serves_an_openapi_3_1_document_of_the_api_and_a_docs_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(settings(dir.path())).await;
    let r = server
        .client
        .get(server.at("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let list = &paths[&templates()];
    assert!(list.get("get").is_some() && list.get("post").is_some());
    let item = &paths[&format!("{}/{{id}}", templates())];
    for m in ["get", "put", "delete"] {
        assert!(item.get(m).is_some(), "{m}");
    }
    assert!(paths.contains_key("/v2/events"));
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
    let r = server.client.get(server.at("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("/openapi.json"));
    server.stop().await;
}

#[tokio::test]
async fn puts_a_request_id_on_every_response() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(settings(dir.path())).await;
    for path in ["/healthz", "/metrics", "/nowhere", "/v2/events"] {
        let r = server.client.get(server.at(path)).send().await.unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap();
        uuid::Uuid::parse_str(id).unwrap();
    }
    let r = server.client.get(server.at("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "NotFoundError");
    // An insane client id is replaced.
    let r = server
        .client
        .get(server.at("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "bad id with spaces");
    server.stop().await;
}

/// Restart on the same data: everything is still there and a key uploaded before still signs.
async fn keeps_everything_across_a_restart(mut make: impl FnMut() -> passmint::Settings) {
    let chain = chain();
    let first = TestServer::start(make()).await;
    let created = first.create(&Upload::valid(&chain)).await;
    let id = created["id"].as_str().unwrap().to_string();
    first.stop().await;

    let second = TestServer::start(make()).await;
    let got: Value = second
        .get(&format!("{}/{id}", templates()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], created["name"]);
    let listed: Value = second
        .get(&templates())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let events = events(&second, "").await;
    assert!(!events["data"].as_array().unwrap().is_empty());

    let loaded = passmint::domain::signer::load_template(&second.state.store, &second.state.master_key, &id)
        .await
        .unwrap()
        .expect("stored");
    let payload = serde_json::json!({"member": {"id": "M-1", "name": "Ada", "tier": "Gold"}, "points": 1, "balance": 2.5});
    let input = pkpass::RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: pkpass::PassIdentity {
            pass_type_identifier: &loaded.pass_type_identifier,
            team_identifier: &loaded.team_identifier,
            serial_number: "SERIAL-1",
            web_service: None,
        },
    };
    let issued = loaded.prepared.issue(&input, &loaded.identity).unwrap();
    assert!(issued.bytes.starts_with(b"PK"));
    assert_eq!(loaded.revision, 1);
    second.stop().await;
}

#[tokio::test]
async fn keeps_everything_across_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    keeps_everything_across_a_restart(move || settings(&path)).await;
}

#[tokio::test]
async fn keeps_everything_across_a_restart_on_postgres() {
    let Some(db) = common::db::TestDb::postgres("keeps_everything_across_a_restart").await else {
        return;
    };
    let path = db.dir.path().to_path_buf();
    let url = db.url.clone();
    keeps_everything_across_a_restart(move || {
        let mut s = settings(&path);
        s.database_url = passmint::config::Secret::new(url.clone());
        s
    })
    .await;
    db.drop_db().await;
}

#[tokio::test]
async fn refuses_to_unseal_a_key_under_another_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let chain = chain();
    let server = TestServer::start(settings(dir.path())).await;
    let id = server.create(&Upload::valid(&chain)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = passmint::domain::crypto::MasterKey::from_bytes(&[1u8; 32]).unwrap();
    let err = passmint::domain::signer::load_template(&server.state.store, &other, &id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, passmint::domain::signer::SignerError::Unseal(_)),
        "{err}"
    );
    let material = server
        .state
        .store
        .get_template_material(&id)
        .await
        .unwrap()
        .unwrap();
    let stored = String::from_utf8_lossy(&material.signer_key_sealed);
    assert!(!stored.contains("PRIVATE KEY"));
    server.stop().await;
}

#[tokio::test]
async fn pages_through_templates_created_concurrently_on_postgres() {
    let Some(db) = common::db::TestDb::postgres("pages_through_templates_on_postgres").await else {
        return;
    };
    let mut s = settings(db.dir.path());
    s.database_url = passmint::config::Secret::new(db.url.clone());
    let server = std::sync::Arc::new(TestServer::start(s).await);
    let chain = chain();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let server = server.clone();
        let mut upload = Upload::valid(&chain);
        upload.name = Some(format!("t{i}"));
        tasks.spawn(async move { server.create(&upload).await["id"].clone() });
    }
    let mut created = std::collections::HashSet::new();
    while let Some(id) = tasks.join_next().await {
        created.insert(id.unwrap().as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value = server
            .get(&format!("{}?limit=7{cursor}", templates()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string()),
        );
        match page.get("nextCursor") {
            Some(c) => cursor = format!("&cursor={}", c.as_str().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(
        seen.into_iter().collect::<std::collections::HashSet<_>>(),
        created
    );
    std::sync::Arc::try_unwrap(server).ok().unwrap().stop().await;
    db.drop_db().await;
}
