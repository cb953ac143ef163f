//! Webhook delivery across processes: a delivery queued while the receiver was down survives a
//! `kill -9` of the real binary and arrives after the restart (both backends), and two servers
//! sharing PostgreSQL deliver every event exactly once between them.
mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use common::db::TestDb;
use common::passes::example_payload;
use common::process::{self, kill_9};
use common::receiver::Receiver;
use common::server::{ADMIN_TOKEN, BASE, TestServer, Upload, chain, settings};
use serde_json::{Value, json};

/// Starts `passmint serve` on the database at `url` with data in `dir`; returns the child and
/// its base URL.
fn serve(dir: &Path, url: &str) -> (Child, String) {
    let mut cmd = process::serve_command(dir, url);
    cmd.env("PASSMINT_WEBHOOK_RETRY_BASE_MS", "100");
    process::start(cmd)
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn wait_for(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !ok().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn delivers_after_a_kill_9_and_restart_while_the_receiver_was_down(db: &TestDb) {
    let client = reqwest::Client::new();
    let (child, base) = serve(db.dir.path(), &db.url);
    let chain = chain();
    let template: Value = client
        .post(format!("{base}{BASE}/templates"))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(Upload::valid(&chain).form())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let port = free_port();
    let created: Value = client
        .post(format!("{base}/v2/webhooks"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "url": format!("http://127.0.0.1:{port}/hook"), "events": ["pass.created"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let webhook = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    let issued = client
        .post(format!("{base}{BASE}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "templateId": template["id"], "payload": example_payload() }))
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
    // Tried (and refused) while the receiver is down.
    let log_url = format!("{base}/v2/webhooks/{webhook}/deliveries");
    wait_for("a failed attempt in the log", async || {
        let log: Value = client
            .get(&log_url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        log["data"].as_array().is_some_and(|d| {
            d.iter()
                .any(|a| a["status"].is_null() && a["nextAttemptAt"].is_string())
        })
    })
    .await;
    kill_9(child);

    let receiver = Receiver::start_on(port).await;
    let (child, _) = serve(db.dir.path(), &db.url);
    let got = receiver
        .wait_until("the delivery after the restart", |d| !d.is_empty())
        .await;
    assert_eq!(got[0].event_type(), "pass.created");
    assert_eq!(got[0].body["data"]["passId"], json!(pass_id));
    assert!(got[0].signed_with(&secret));
    kill_9(child);
}

/// One SQLite file is one server's (SPEC 5); several servers share PostgreSQL.
#[tokio::test]
async fn two_servers_sharing_postgres_deliver_every_event_once() {
    let Some(db) = TestDb::postgres("two_servers_sharing_postgres_deliver_every_event_once").await else {
        return;
    };
    two_servers_deliver_every_event_once(&db).await;
    db.drop_db().await;
}

async fn two_servers_deliver_every_event_once(db: &TestDb) {
    let key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    };
    let start = |dir: &Path| {
        let mut s = settings(dir);
        s.database_url = passmint::config::Secret::new(db.url.clone());
        s.master_key = Some(passmint::config::Secret::new(key.clone()));
        s
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = TestServer::start(start(dir_a.path())).await;
    let b = TestServer::start(start(dir_b.path())).await;
    let receiver = Receiver::start().await;
    let created: Value = a
        .client
        .post(a.at("/v2/webhooks"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "url": receiver.url, "events": ["pass.created"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let template = a.create(&Upload::valid(&chain())).await;
    const PASSES: usize = 600;
    for half in [&a, &b] {
        let items: Vec<Value> = (0..PASSES / 2)
            .map(|_| json!({ "payload": example_payload() }))
            .collect();
        let r = half
            .client
            .post(half.at(&format!("{BASE}/passes/batch")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "templateId": template["id"], "items": items }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    receiver
        .wait_until("every pass.created", |d| d.len() >= PASSES)
        .await;
    wait_for("an empty outbox", async || {
        a.state.store.webhook_queue_stats().await.unwrap().0 == 0
    })
    .await;
    let got = receiver.received();
    let ids: HashSet<&str> = got.iter().map(|d| d.event_id()).collect();
    assert_eq!(ids.len(), PASSES, "distinct events");
    assert_eq!(got.len(), PASSES, "a delivery was sent twice");
    assert!(got.iter().all(|d| d.signed_with(&secret)));
    let (by_a, by_b) = (delivered_by(&a).await, delivered_by(&b).await);
    println!("delivered by server A: {by_a}, by server B: {by_b}");
    assert_eq!(by_a + by_b, PASSES as u64);
    a.stop().await;
    b.stop().await;
}

/// `passmint_webhook_deliveries_total{outcome="delivered"}` of one server.
async fn delivered_by(s: &TestServer) -> u64 {
    let m = s.get("/metrics").send().await.unwrap().text().await.unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix("passmint_webhook_deliveries_total{outcome=\"delivered\"} "))
        .map_or(0, |n| n.parse::<u64>().unwrap())
}

on_both_backends! {
    delivers_after_a_kill_9_and_restart_while_the_receiver_was_down => delivers_after_a_kill_9_and_restart_while_the_receiver_was_down;
}
