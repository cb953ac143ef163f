//! Google Wallet from the same template (SPEC 13), against `gwallet-testserver`: for each style
//! the class and object passmint writes (checked against Google's discovery document), the save
//! link's JWT (verified with the service account's public key), every change reaching Google as
//! an update (PATCH, void, rollout), faults retried, a restart of the real binary while Google
//! is unreachable, two servers on one PostgreSQL sending each change once, the public images,
//! and nothing at all when Google Wallet is off. Both backends where the store is involved.
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::db::TestDb;
use common::process::{self, kill_9};
use common::server::{ADMIN_TOKEN, BASE, TestServer, Upload, chain, settings, zip_dir};
use gwallet::PassKind;
use gwallet_testserver::discovery::{Check, Discovery};
use gwallet_testserver::{Fault, TestServiceAccount};
use passmint::config::{GoogleSettings, Secret};
use serde_json::{Value, json};

const ISSUER: &str = "3388000000022222222";

/// A Google look-alike and a service account it accepts, with the key written to a file.
struct Google {
    server: gwallet_testserver::TestServer,
    account: TestServiceAccount,
    key_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Google {
    fn start() -> Self {
        let server = gwallet_testserver::TestServer::builder()
            .issuer_id(ISSUER)
            .start()
            .unwrap();
        let account = server
            .new_service_account("passmint@test-project.iam.gserviceaccount.com")
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("service-account.json");
        std::fs::write(&key_file, &account.key_json).unwrap();
        Self {
            server,
            account,
            key_file,
            _dir: dir,
        }
    }

    fn settings(&self) -> GoogleSettings {
        self.settings_for(&self.server.url())
    }

    fn settings_for(&self, api_url: &str) -> GoogleSettings {
        GoogleSettings {
            issuer_id: ISSUER.into(),
            service_account_file: self.key_file.clone(),
            api_url: api_url.into(),
            token_url: None,
            save_url: gwallet::DEFAULT_SAVE_URL.into(),
        }
    }

    /// Waits until Google holds object `id` and `ok` holds for it.
    async fn wait_for_object(&self, id: &str, ok: impl Fn(&Value) -> bool) -> Value {
        wait_for_value(&format!("object {id}"), || self.server.object(id).filter(&ok)).await
    }

    async fn wait_for_class(&self, id: &str, ok: impl Fn(&Value) -> bool) -> Value {
        wait_for_value(&format!("class {id}"), || self.server.class(id).filter(&ok)).await
    }

    /// Successful writes (insert or update answered 200) of resource `id`.
    fn writes_of(&self, id: &str) -> usize {
        let suffix = format!("/{id}");
        self.server
            .api_requests()
            .iter()
            .filter(|r| r.status == 200 && matches!(r.method.as_str(), "POST" | "PUT"))
            .filter(|r| r.path.ends_with(&suffix) || r.json().is_some_and(|b| b["id"].as_str() == Some(id)))
            .count()
    }
}

async fn wait_for_value(what: &str, get: impl FnMut() -> Option<Value>) -> Value {
    wait_for_value_within(Duration::from_secs(60), what, get).await
}

async fn wait_for_value_within(
    within: Duration,
    what: &str,
    mut get: impl FnMut() -> Option<Value>,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = get() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn class_id(template_id: &str) -> String {
    format!("{ISSUER}.{}", template_id.replace('-', ""))
}

fn object_id(pass_id: &str) -> String {
    format!("{ISSUER}.{}", pass_id.replace('-', ""))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/google")
        .join(format!("{name}.pass"))
}

/// The test templates: (folder, Google type, a payload for its placeholders).
fn styles() -> Vec<(&'static str, PassKind, Value)> {
    vec![
        (
            "event",
            PassKind::EventTicket,
            json!({"ticket": {"code": "TKT-0001"}, "seat": {"section": "A", "row": "12", "number": "7"}, "holder": "Ada Lovelace"}),
        ),
        (
            "flight",
            PassKind::Flight,
            json!({"bcbp": "M1LOVELACE/ADA EABC123 SFOLHREX 0123 121Y012A0007 100", "passenger": "Ada Lovelace", "gate": "G12", "seat": "12A", "group": "3", "pnr": "ABC123"}),
        ),
        (
            "train",
            PassKind::Transit,
            json!({"ticket": "RAIL-77", "departs": "2026-06-01T08:04:00+02:00", "passenger": "Ada Lovelace", "platform": "7", "car": "21", "seat": "55"}),
        ),
        (
            "storecard",
            PassKind::Loyalty,
            json!({"member": {"id": "M-0042", "name": "Ada Lovelace", "tier": "Gold"}, "points": 120, "balance": 21.75}),
        ),
        ("coupon", PassKind::Offer, json!({"code": "SUMMER25"})),
        (
            "generic",
            PassKind::Generic,
            json!({"name": "Ada Lovelace", "number": "G-1815", "since": "2019"}),
        ),
    ]
}

fn upload(name: &str) -> Upload {
    Upload {
        template: Some(zip_dir(&fixture(name))),
        ..Upload::valid(&chain())
    }
}

async fn start(db: &TestDb, google: Option<GoogleSettings>) -> TestServer {
    let mut s = settings(db.dir.path());
    s.database_url = Secret::new(db.url.clone());
    s.public_rate_limit = None;
    s.google = google;
    TestServer::start(s).await
}

/// Issues a pass; returns its id.
async fn issue(server: &TestServer, template_id: &str, payload: &Value) -> String {
    let response = server
        .client
        .post(server.at(BASE))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "templateId": template_id, "payload": payload }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

async fn pass_json(server: &TestServer, pass_id: &str) -> Value {
    let response = server
        .get(&format!("{BASE}/passes/{pass_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn patch(server: &TestServer, pass_id: &str, body: &Value) {
    let response = server
        .client
        .patch(server.at(&format!("{BASE}/passes/{pass_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

fn assert_fits(schema: &str, value: &Value) {
    let findings = Discovery::bundled().validate(schema, value, Check::Full);
    assert!(
        findings.is_empty(),
        "{schema} does not fit Google's discovery document: {findings:?}\n{value:#}"
    );
}

async fn events_of(server: &TestServer, event_type: &str) -> Vec<Value> {
    let body: Value = server
        .get(&format!("/v2/events?type={event_type}&limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().cloned().unwrap_or_default()
}

// --- each style -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_style_becomes_a_class_and_object_that_fit_googles_discovery_document() {
    let google = Google::start();
    let db = TestDb::sqlite().await;
    let server = start(&db, Some(google.settings())).await;
    for (name, kind, payload) in styles() {
        let template = server.create(&upload(name)).await;
        let template_id = template["id"].as_str().unwrap();
        let pass_id = issue(&server, template_id, &payload).await;
        let class = google.wait_for_class(&class_id(template_id), |_| true).await;
        assert_fits(kind.class_schema(), &class);
        let object = google.wait_for_object(&object_id(&pass_id), |_| true).await;
        assert_fits(kind.object_schema(), &object);
        assert_eq!(object["classId"], json!(class_id(template_id)), "{name}");
        assert_eq!(object["state"], "ACTIVE", "{name}");
        assert!(
            google
                .server
                .resource(kind.object_resource(), &object_id(&pass_id))
                .is_some(),
            "{name}: written as a {}",
            kind.object_resource()
        );
    }
    // Every write was accepted by a server that refuses what the discovery document doesn't allow.
    assert!(
        google.server.api_requests().iter().all(|r| r.status != 400),
        "a write was refused: {:?}",
        google
            .server
            .api_requests()
            .iter()
            .filter(|r| r.status == 400)
            .map(|r| String::from_utf8_lossy(&r.body).to_string())
            .collect::<Vec<_>>()
    );
    let successes = events_of(&server, "GOOGLE_WALLET_SYNC_SUCCESS").await;
    assert!(!successes.is_empty());
    let metrics = server.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("passmint_google_syncs_total{outcome=\"done\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("passmint_google_queue_depth"), "{metrics}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_google_cannot_show_is_a_template_warning_only_when_google_wallet_is_on() {
    let google = Google::start();
    let db = TestDb::sqlite().await;
    let on = start(&db, Some(google.settings())).await;
    let created = on.create(&upload("generic")).await;
    let messages: Vec<String> = created["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["msg"].as_str().unwrap().to_string())
        .collect();
    // The generic template has a thumbnail, which Google has no place for.
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Google Wallet") && m.contains("thumbnail")),
        "{messages:?}"
    );
    on.stop().await;

    let db = TestDb::sqlite().await;
    let off = start(&db, None).await;
    let created = off.create(&upload("generic")).await;
    let text = created["warnings"].to_string();
    assert!(!text.contains("Google Wallet"), "{text}");
    off.stop().await;
}

// --- the save link ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_save_link_is_a_jwt_the_service_accounts_public_key_verifies() {
    let google = Google::start();
    let db = TestDb::sqlite().await;
    let server = start(&db, Some(google.settings())).await;
    let template = server.create(&upload("event")).await;
    let template_id = template["id"].as_str().unwrap();
    let pass_id = issue(&server, template_id, &styles()[0].2).await;
    let pass = pass_json(&server, &pass_id).await;
    let link = pass["googleSaveUrl"].as_str().expect("googleSaveUrl");
    // The holder page (SPEC 9) offers the same link as its "Save to Google Wallet" button.
    let page = server
        .client
        .get(pass["shareUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("<a class=\"save-to-google\" href=\"{link}\">")),
        "{page}"
    );
    let jwt = link
        .strip_prefix(&format!("{}/", gwallet::DEFAULT_SAVE_URL))
        .expect("the save URL, then the JWT");
    let verified = gwallet_testserver::verify_rs256(jwt, &google.account.public_key_pem).unwrap();
    let claims = &verified.claims;
    assert_eq!(claims["iss"], google.account.client_email.as_str());
    assert_eq!(claims["aud"], "google");
    assert_eq!(claims["typ"], "savetowallet");
    assert_eq!(claims["origins"], json!([server.state.public_url]));
    assert!(claims["iat"].as_u64().is_some());
    assert_eq!(
        claims["payload"],
        json!({ "eventTicketObjects": [ { "id": object_id(&pass_id), "classId": class_id(template_id) } ] })
    );
    // Another account's key does not verify it.
    let other = google
        .server
        .new_service_account("other@x.iam.gserviceaccount.com")
        .unwrap();
    assert!(gwallet_testserver::verify_rs256(jwt, &other.public_key_pem).is_err());
    // The list carries it too.
    let list: Value = server
        .get(&format!("{BASE}/passes?templateId={template_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["data"][0]["googleSaveUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with(gwallet::DEFAULT_SAVE_URL))
    );
    server.stop().await;
}

// --- changes reach Google -----------------------------------------------------------------------

async fn patch_void_and_rollout_reach_google_as_updates(db: &TestDb) {
    let google = Google::start();
    let server = start(db, Some(google.settings())).await;
    let (_, _, payload) = styles().remove(3);
    let template = server.create(&upload("storecard")).await;
    let template_id = template["id"].as_str().unwrap().to_string();
    let pass_id = issue(&server, &template_id, &payload).await;
    let id = object_id(&pass_id);
    google.wait_for_object(&id, |_| true).await;

    // PATCH: the new payload is what Google shows.
    let mut changed = payload.clone();
    changed["member"]["name"] = json!("Grace Hopper");
    patch(&server, &pass_id, &json!({ "payload": changed })).await;
    let object = google
        .wait_for_object(&id, |o| o.to_string().contains("Grace Hopper"))
        .await;
    assert_fits(PassKind::Loyalty.object_schema(), &object);

    // A template replace: the class follows, and the rollout's passes follow as object updates.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("storecard"), dir.path());
    let pass_json_path = dir.path().join("pass.json");
    let text = std::fs::read_to_string(&pass_json_path).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["organizationName"] = json!("Renamed Coffee Co");
    doc["storeCard"]["backFields"] =
        json!([{ "key": "terms", "label": "TERMS", "value": "Rollout terms v2" }]);
    std::fs::write(&pass_json_path, doc.to_string()).unwrap();
    let replaced = server
        .put_form(
            &format!("{BASE}/templates/{template_id}"),
            Upload {
                template: Some(zip_dir(dir.path())),
                ..Upload::valid(&chain())
            }
            .form(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    let class = google
        .wait_for_class(&class_id(&template_id), |c| {
            c.to_string().contains("Renamed Coffee Co")
        })
        .await;
    assert_fits(PassKind::Loyalty.class_schema(), &class);
    google
        .wait_for_object(&id, |o| o.to_string().contains("Rollout terms v2"))
        .await;

    // Void: INACTIVE.
    patch(&server, &pass_id, &json!({ "voided": true })).await;
    let object = google.wait_for_object(&id, |o| o["state"] == "INACTIVE").await;
    assert_fits(PassKind::Loyalty.object_schema(), &object);
    // The outbox drains.
    wait_for_value("an empty outbox", || {
        let queue = futures_block(server.state.store.google_queue());
        (queue.depth == 0).then_some(Value::Null)
    })
    .await;
    server.stop().await;
}

fn futures_block<T>(f: impl std::future::Future<Output = Result<T, passmint::store::StoreError>>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f)).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_void_and_rollout_reach_google_as_updates_on_sqlite() {
    let db = TestDb::sqlite().await;
    patch_void_and_rollout_reach_google_as_updates(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_void_and_rollout_reach_google_as_updates_on_postgres() {
    let Some(db) = TestDb::postgres("patch_void_and_rollout_reach_google_as_updates").await else {
        return;
    };
    patch_void_and_rollout_reach_google_as_updates(&db).await;
    db.drop_db().await;
}

// --- faults -------------------------------------------------------------------------------------

/// A TCP proxy in front of `target` that cuts the first `drop_first` connections as soon as a
/// request starts arriving (a connection dropped mid-request), then passes bytes through.
async fn dropping_proxy(target: std::net::SocketAddr, drop_first: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let dropped = Arc::new(AtomicUsize::new(0));
    let counter = dropped.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            if counter.load(Ordering::SeqCst) < drop_first {
                let mut first = [0u8; 1];
                let _ = tokio::io::AsyncReadExt::read(&mut inbound, &mut first).await;
                counter.fetch_add(1, Ordering::SeqCst);
                drop(inbound);
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (url, dropped)
}

async fn faults_are_retried_until_google_has_every_change(db: &TestDb) {
    let google = Google::start();
    google.server.inject(Fault::status(429).on_api());
    google.server.inject(Fault::status(500).on_api());
    google.server.inject(Fault::status(503).retry_after(1).on_api());
    google.server.inject(Fault::status(503).on_token());
    // The API through a proxy that drops the first two connections mid-request.
    let (api_url, dropped) = dropping_proxy(google.server.addr(), 2).await;
    let server = start(db, Some(google.settings_for(&api_url))).await;
    let template = server.create(&upload("coupon")).await;
    let template_id = template["id"].as_str().unwrap().to_string();
    // A batch issue: each pass's object is queued with it.
    let response = server
        .client
        .post(server.at(&format!("{BASE}/passes/batch")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "templateId": template_id, "items": [
            { "payload": { "code": "A-1" } }, { "payload": { "code": "B-2" } }, { "payload": { "code": "C-3" } }
        ] }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    for pass in body["data"].as_array().unwrap() {
        let id = object_id(pass["id"].as_str().unwrap());
        google.wait_for_object(&id, |_| true).await;
    }
    google.wait_for_class(&class_id(&template_id), |_| true).await;
    let faulted = google.server.requests().iter().filter(|r| r.faulted).count();
    assert_eq!(faulted, 4, "every scripted fault was hit");
    assert_eq!(dropped.load(Ordering::SeqCst), 2, "both connections were dropped");
    let metrics = server.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("passmint_google_syncs_total{outcome=\"retrying\"}"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_until_google_has_every_change_on_sqlite() {
    let db = TestDb::sqlite().await;
    faults_are_retried_until_google_has_every_change(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_until_google_has_every_change_on_postgres() {
    let Some(db) = TestDb::postgres("faults_are_retried_until_google_has_every_change").await else {
        return;
    };
    faults_are_retried_until_google_has_every_change(&db).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_google_refuses_is_recorded_as_failed_with_an_event_and_kept_for_the_next_change() {
    let google = Google::start();
    let db = TestDb::sqlite().await;
    let server = start(&db, Some(google.settings())).await;
    let template = server.create(&upload("generic")).await;
    let template_id = template["id"].as_str().unwrap().to_string();
    google.wait_for_class(&class_id(&template_id), |_| true).await;
    google.server.inject(Fault::status(400).on_api());
    let pass_id = issue(&server, &template_id, &styles()[5].2).await;
    let failures = wait_for_value("a FAIL event", || {
        let events = futures_block_value(events_of(&server, "GOOGLE_WALLET_SYNC_FAIL"));
        (!events.is_empty()).then(|| Value::Array(events))
    })
    .await;
    let event = &failures[0];
    assert_eq!(event["data"]["passId"], json!(pass_id));
    assert_eq!(event["data"]["kind"], "object");
    // Ids and reasons only: no payload value, no key.
    let text = event.to_string();
    assert!(
        !text.contains("Ada Lovelace") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
    let failed = futures_block(
        server
            .state
            .store
            .google_failure(passmint::store::google::SyncKind::Object, &pass_id),
    );
    assert!(failed.is_some_and(|e| e.contains("bad request")));
    // The next change queues it again, and it goes through.
    let mut payload = styles()[5].2.clone();
    payload["name"] = json!("Grace Hopper");
    patch(&server, &pass_id, &json!({ "payload": payload })).await;
    google
        .wait_for_object(&object_id(&pass_id), |o| o.to_string().contains("Grace Hopper"))
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_google_refuses_pauses_the_sync_without_failing_the_changes() {
    let google = Google::start();
    let db = TestDb::sqlite().await;
    let server = start(&db, Some(google.settings())).await;
    // 403: the service account is not a user of the issuer.
    google.server.inject(Fault::status(403).on_api());
    let template = server.create(&upload("coupon")).await;
    let template_id = template["id"].as_str().unwrap().to_string();
    let paused = wait_for_value("the pause's event", || {
        let events = futures_block_value(events_of(&server, "GOOGLE_WALLET_SYNC_FAIL"));
        events.into_iter().find(|e| e["data"]["paused"] == true)
    })
    .await;
    assert_eq!(paused["data"]["reason"], "permission denied");
    // Nothing was given up: the class waits for the pause to end.
    let queue = server.state.store.google_queue().await.unwrap();
    assert_eq!((queue.depth, queue.failed), (1, 0));
    assert!(google.server.class(&class_id(&template_id)).is_none());
    let metrics = server.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("passmint_google_syncs_total{outcome=\"paused\"} 1"),
        "{metrics}"
    );
    server.stop().await;
}

fn futures_block_value<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

// --- processes ----------------------------------------------------------------------------------

/// Starts `passmint serve` with Google Wallet on, its API at `api_url`.
fn serve(dir: &Path, url: &str, google: &Google, api_url: &str) -> (Child, String) {
    let mut cmd = process::serve_command(dir, url);
    cmd.env("PASSMINT_GOOGLE_ISSUER_ID", ISSUER)
        .env("PASSMINT_GOOGLE_SERVICE_ACCOUNT_FILE", &google.key_file)
        .env("PASSMINT_GOOGLE_API_URL", api_url);
    process::start(cmd)
}

/// A loopback URL nothing listens on: every connection is refused.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Syncs tried at least once and not claimed now (waiting for their retry).
async fn tried_and_waiting(db: &TestDb) -> i64 {
    let store = passmint::store::Store::connect_without_migrating(&db.url)
        .await
        .unwrap();
    let sql = "SELECT COUNT(*) FROM google_outbox WHERE attempts >= 1 AND claimed_until IS NULL";
    let n: i64 = match store.backend() {
        passmint::store::Backend::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        passmint::store::Backend::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    };
    store.close().await;
    n
}

async fn a_change_made_while_google_was_unreachable_arrives_after_a_kill_9_and_restart(db: &TestDb) {
    let google = Google::start();
    let client = reqwest::Client::new();
    let (child, base) = serve(db.dir.path(), &db.url, &google, &dead_url());
    let template: Value = client
        .post(format!("{base}{BASE}/templates"))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(upload("event").form())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let template_id = template["id"].as_str().unwrap().to_string();
    let issued = client
        .post(format!("{base}{BASE}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "templateId": template_id, "payload": styles()[0].2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 201);
    let pass_id = issued.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    // The class and the object were tried (the connection refused) before the kill.
    wait_for_value("both syncs tried", || {
        (futures_block_value(tried_and_waiting(db)) == 2).then_some(Value::Null)
    })
    .await;
    kill_9(child);
    assert!(google.server.object(&object_id(&pass_id)).is_none());

    let (child, _) = serve(db.dir.path(), &db.url, &google, &google.server.url());
    // Normally within the retry delay; at worst (killed while a retry was in flight) once that
    // claim's lease has run out.
    let object = wait_for_value_within(Duration::from_secs(200), "the object after the restart", || {
        google.server.object(&object_id(&pass_id))
    })
    .await;
    assert_fits(PassKind::EventTicket.object_schema(), &object);
    google.wait_for_class(&class_id(&template_id), |_| true).await;
    kill_9(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_google_was_unreachable_arrives_after_a_kill_9_and_restart_on_sqlite() {
    let db = TestDb::sqlite().await;
    a_change_made_while_google_was_unreachable_arrives_after_a_kill_9_and_restart(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_google_was_unreachable_arrives_after_a_kill_9_and_restart_on_postgres() {
    let Some(db) = TestDb::postgres("google_kill_9_and_restart").await else {
        return;
    };
    a_change_made_while_google_was_unreachable_arrives_after_a_kill_9_and_restart(&db).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_send_each_change_once() {
    let Some(db) = TestDb::postgres("two_servers_on_one_postgres_send_each_change_once").await else {
        return;
    };
    let google = Google::start();
    let a = start(&db, Some(google.settings())).await;
    let b = start(&db, Some(google.settings())).await;
    let template = a.create(&upload("generic")).await;
    let template_id = template["id"].as_str().unwrap().to_string();
    google.wait_for_class(&class_id(&template_id), |_| true).await;
    let mut passes = Vec::new();
    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        let payload = json!({"name": format!("Holder {i}"), "number": format!("G-{i}"), "since": "2019"});
        passes.push(issue(server, &template_id, &payload).await);
    }
    for pass_id in &passes {
        google.wait_for_object(&object_id(pass_id), |_| true).await;
    }
    // Settle: both outboxes empty (one table), then count.
    wait_for_value("an empty outbox", || {
        let queue = futures_block(a.state.store.google_queue());
        (queue.depth == 0).then_some(Value::Null)
    })
    .await;
    let mut writes: HashMap<String, usize> = HashMap::new();
    for pass_id in &passes {
        writes.insert(pass_id.clone(), google.writes_of(&object_id(pass_id)));
    }
    assert!(writes.values().all(|n| *n == 1), "{writes:?}");
    a.stop().await;
    b.stop().await;
    db.drop_db().await;
}

// --- the public images --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_images_are_served_publicly_per_revision_and_nothing_else_is() {
    let google = Google::start();
    let db = TestDb::sqlite().await;
    let server = start(&db, Some(google.settings())).await;
    let template = server.create(&upload("event")).await;
    let template_id = template["id"].as_str().unwrap().to_string();
    let class = google.wait_for_class(&class_id(&template_id), |_| true).await;
    // The class's logo points at the public route.
    let logo = class["logo"]["sourceUri"]["uri"]
        .as_str()
        .expect("a logo URI")
        .to_string();
    let prefix = format!("{}/assets/{template_id}/1/", server.state.public_url);
    assert!(logo.starts_with(&prefix), "{logo}");
    let response = reqwest::get(&logo).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let file = logo.rsplit('/').next().unwrap();
    let expected = std::fs::read(fixture("event").join(file)).unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), expected.as_slice());

    let base = server.at("/assets");
    let missing = [
        format!("{base}/{template_id}/2/{file}"),
        format!("{base}/{template_id}/0/{file}"),
        format!("{base}/{template_id}/99999999999999999999999/{file}"),
        format!("{base}/{template_id}/1/pass.json"),
        format!("{base}/{template_id}/1/de.lproj%2Fpass.strings"),
        format!("{base}/{template_id}/1/..%2F..%2Fetc%2Fpasswd"),
        format!("{base}/{template_id}/1/nothing.png"),
        format!("{base}/not-a-uuid/1/{file}"),
        format!("{base}/{}/1/{file}", uuid::Uuid::new_v4()),
        format!("{base}/{template_id}/1/%00.png"),
        format!("{base}/{template_id}/one/{file}"),
    ];
    for url in missing {
        let status = reqwest::get(&url).await.unwrap().status().as_u16();
        assert!(matches!(status, 400 | 404), "{url}: {status}");
    }
    // Other paths under /assets are not routes.
    let status = reqwest::get(format!("{base}/{template_id}/1/a/b.png"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    server.stop().await;
}

// --- off ----------------------------------------------------------------------------------------

async fn nothing_is_queued_or_sent_when_google_wallet_is_off(db: &TestDb) {
    let google = Google::start();
    let server = start(db, None).await;
    let template = server.create(&upload("storecard")).await;
    let template_id = template["id"].as_str().unwrap().to_string();
    let (_, _, payload) = styles().remove(3);
    let pass_id = issue(&server, &template_id, &payload).await;
    patch(&server, &pass_id, &json!({ "voided": true })).await;
    let pass = pass_json(&server, &pass_id).await;
    assert!(pass.get("googleSaveUrl").is_none(), "{pass}");
    let queue = server.state.store.google_queue().await.unwrap();
    assert_eq!((queue.depth, queue.failed), (0, 0));
    let logo = server.at(&format!("/assets/{template_id}/1/logo.png"));
    assert_eq!(reqwest::get(&logo).await.unwrap().status(), 404);
    let metrics = server.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("passmint_google"), "{metrics}");
    assert!(events_of(&server, "GOOGLE_WALLET_SYNC_SUCCESS").await.is_empty());
    assert!(google.server.requests().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_queued_or_sent_when_google_wallet_is_off_on_sqlite() {
    let db = TestDb::sqlite().await;
    nothing_is_queued_or_sent_when_google_wallet_is_off(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_queued_or_sent_when_google_wallet_is_off_on_postgres() {
    let Some(db) = TestDb::postgres("nothing_is_queued_or_sent_when_google_wallet_is_off").await else {
        return;
    };
    nothing_is_queued_or_sent_when_google_wallet_is_off(&db).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_that_is_not_a_service_account_key_stops_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.json");
    std::fs::write(&key, br#"{"type": "authorized_user"}"#).unwrap();
    let mut s = settings(dir.path());
    s.google = Some(GoogleSettings {
        issuer_id: ISSUER.into(),
        service_account_file: key,
        api_url: gwallet::DEFAULT_API_URL.into(),
        token_url: None,
        save_url: gwallet::DEFAULT_SAVE_URL.into(),
    });
    let error = passmint::AppState::prepare(s, "127.0.0.1:1".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("PASSMINT_GOOGLE_SERVICE_ACCOUNT_FILE"), "{error}");
}
