//! Webhooks (SPEC 10) against a real receiver on loopback, on SQLite and PostgreSQL: every
//! event type arrives signed, failures are retried and logged, a slow receiver slows nobody
//! else, bad input is a 400 naming the field. (Crash and restart of the real binary, and two
//! servers sharing PostgreSQL, are in `webhooks_processes.rs`.)
mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::db::TestDb;
use common::passes::{Fixture, example_payload, push_token_for};
use common::receiver::{Answer, Receiver};
use common::server::{ADMIN_TOKEN, BASE, Upload};
use passmint::store::{NewEvent, now_millis};
use pkpass::dev_certs::SignerOptions;
use serde_json::{Value, json};

/// Fast retries and a sweep every second, so tests take seconds, not days.
async fn fixture(db: &TestDb, timeout_ms: u64) -> Fixture {
    Fixture::start_configured(&db.url, |s| {
        s.webhook_retry_base_ms = 50;
        s.webhook_timeout_ms = timeout_ms;
        s.webhook_sweep_interval_seconds = 1;
    })
    .await
}

/// `POST /v2/webhooks`: status and body.
async fn post_webhook(f: &Fixture, body: &Value) -> (u16, Value) {
    let r = f
        .server
        .client
        .post(f.server.at("/v2/webhooks"))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Creates a webhook, asserting 201; returns (id, secret).
async fn create_webhook(f: &Fixture, url: &str, events: &[&str]) -> (String, String) {
    let (status, body) = post_webhook(f, &json!({ "url": url, "events": events })).await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

async fn deliveries_log(f: &Fixture, id: &str) -> Vec<Value> {
    let body: Value = f
        .server
        .get(&format!("/v2/webhooks/{id}/deliveries?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

/// Waits (bounded) until the outbox is empty.
async fn wait_for_empty_outbox(f: &Fixture) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (depth, _) = f.server.state.store.webhook_queue_stats().await.unwrap();
        if depth == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{depth} deliveries still queued"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count_of(deliveries: &[common::receiver::Delivery], event_type: &str) -> usize {
    deliveries.iter().filter(|d| d.event_type() == event_type).count()
}

/// The example payload with another member name (a change of what the pass renders).
fn changed_payload(name: &str) -> Value {
    let mut payload = example_payload();
    payload["member"]["name"] = json!(name);
    payload
}

async fn patch(f: &Fixture, id: &str, body: Value) {
    let (status, answer) = f.patch(id, &body).await;
    assert_eq!(status, 200, "{answer}");
}

/// Uploads the example template with a certificate expiring `secs` from now; returns its id.
async fn template_expiring_in(f: &Fixture, secs: i64) -> String {
    let chain = pkpass::dev_certs::generate(&SignerOptions {
        not_after_offset_secs: secs,
        ..SignerOptions::default()
    })
    .unwrap();
    let body = f.server.create(&Upload::valid(&chain)).await;
    body["id"].as_str().unwrap().to_string()
}

async fn every_event_type_arrives_with_a_valid_signature(db: &TestDb) {
    let f = fixture(db, 10_000).await;
    let receiver = Receiver::start().await;
    let (_, secret) = create_webhook(&f, &receiver.url, &["*"]).await;

    let pass = f.issue(Some("WH-1")).await;
    assert_eq!(f.register("d1", &pass, "t1").await, 201);
    assert_eq!(f.register("d2", &pass, "t2").await, 201);
    assert_eq!(f.unregister("d2", &pass).await, 200);
    // APNs says t1 is gone: the pass loses its last device.
    f.apns.reply_for(
        &push_token_for("t1"),
        apns_testserver::Reply::unregistered(now_millis() + 60_000),
    );
    patch(
        &f,
        &pass.id,
        json!({ "payload": changed_payload("Changed Name") }),
    )
    .await;
    receiver
        .wait_until("pass.uninstalled by APNs", |d| {
            count_of(d, "pass.uninstalled") == 1
        })
        .await;
    assert_eq!(f.register("d3", &pass, "t3").await, 201);
    assert_eq!(f.unregister("d3", &pass).await, 200);
    // A push APNs refuses for good.
    assert_eq!(f.register("d4", &pass, "t4").await, 201);
    f.apns.reply_for(
        &push_token_for("t4"),
        apns_testserver::Reply::status(403, "BadCertificate"),
    );
    patch(&f, &pass.id, json!({ "voided": true })).await;
    receiver
        .wait_until("push.failed", |d| count_of(d, "push.failed") == 1)
        .await;
    let other = f.issue(Some("WH-2")).await;
    let deleted = f
        .server
        .delete(&format!("{BASE}/passes/{}", pass.id))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    // Events of the rollout and sharing workers, mapped by name when the event writer stores them.
    let event = |t: &str, data: Value| NewEvent {
        id: uuid::Uuid::new_v4().to_string(),
        event_type: t.into(),
        category: "test".into(),
        timestamp: now_millis(),
        request_id: "test".into(),
        data: data.to_string(),
    };
    f.server
        .state
        .store
        .insert_events(
            &[
                event(
                    "TEMPLATE_ROLLOUT_SUCCESS",
                    json!({ "templateId": f.template_id, "passes": 2, "name": "not copied" }),
                ),
                event("PASS_SHARE_DOWNLOAD", json!({ "passId": other.id })),
            ],
            1000,
        )
        .await
        .unwrap();
    // Certificates: one with 5 days left (the 7-day warning), one about to expire.
    let soon = template_expiring_in(&f, 5 * 86_400).await;
    let expiring = template_expiring_in(&f, 8).await;

    let all = receiver
        .wait_until("every event type", |d| {
            let types: HashSet<&str> = d.iter().map(|d| d.event_type()).collect();
            [
                "pass.created",
                "pass.updated",
                "pass.voided",
                "pass.deleted",
                "pass.downloaded",
                "pass.installed",
                "pass.uninstalled",
                "device.registered",
                "device.unregistered",
                "push.failed",
                "template.rollout.completed",
                "template.certificate.expiring",
                "template.certificate.expired",
            ]
            .iter()
            .all(|t| types.contains(t))
                && count_of(d, "pass.uninstalled") == 2
        })
        .await;
    wait_for_empty_outbox(&f).await;
    let all_now = receiver.accepted();
    let payload_values = ["M-0042", "Ada Lovelace", "Gold", "Changed Name"];
    for d in &all_now {
        assert!(d.signed_with(&secret), "bad signature on {}", d.body);
        assert_eq!(d.headers["passmint-event-id"].to_str().unwrap(), d.event_id());
        assert_eq!(d.headers["content-type"].to_str().unwrap(), "application/json");
        assert!(
            d.body["createdAt"].as_str().is_some_and(|t| t.contains('T')),
            "{}",
            d.body
        );
        let raw = String::from_utf8_lossy(&d.raw);
        for secretish in [pass.token.as_str(), &push_token_for("t1"), &push_token_for("t4")] {
            assert!(!raw.contains(secretish), "{raw} carries a token or payload value");
        }
        for value in &payload_values {
            assert!(!raw.contains(value), "{raw} carries payload value {value}");
        }
    }
    assert!(
        all_now.iter().all(|d| !d.signed_with("whsec_another")),
        "another secret verifies"
    );
    // Each event once (deliveries are at least once, but nothing failed here).
    let ids: HashSet<&str> = all_now.iter().map(|d| d.event_id()).collect();
    assert_eq!(ids.len(), all_now.len());
    let by_type = |t: &str| -> Vec<Value> {
        all_now
            .iter()
            .filter(|d| d.event_type() == t)
            .map(|d| d.body["data"].clone())
            .collect()
    };
    assert_eq!(by_type("pass.created").len(), 2);
    // d1, then d3 and d4 (each after the pass had lost every device), never d2.
    assert_eq!(
        by_type("pass.installed").len(),
        3,
        "first registrations only: {:?}",
        all_now.iter().map(|d| d.event_type()).collect::<Vec<_>>()
    );
    assert_eq!(by_type("device.registered").len(), 4);
    assert_eq!(by_type("device.unregistered").len(), 2);
    assert_eq!(by_type("pass.voided").len(), 1);
    let uninstalled: HashSet<String> = by_type("pass.uninstalled")
        .iter()
        .map(|d| d["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        uninstalled,
        HashSet::from(["apns".to_string(), "device".to_string()])
    );
    let created = &by_type("pass.created")[0];
    assert_eq!(created["templateId"], json!(f.template_id));
    assert!(created["serialNumber"].as_str().is_some());
    assert_eq!(by_type("pass.deleted")[0]["passId"], json!(pass.id));
    assert_eq!(by_type("pass.downloaded")[0]["passId"], json!(other.id));
    let failed = &by_type("push.failed")[0];
    assert_eq!(failed["reason"], json!("BadCertificate"));
    let rollout = &by_type("template.rollout.completed")[0];
    assert_eq!(rollout, &json!({ "templateId": f.template_id, "passes": 2 }));
    let expiring_events = by_type("template.certificate.expiring");
    let warnings: BTreeMap<String, Vec<i64>> = expiring_events.iter().fold(BTreeMap::new(), |mut m, d| {
        m.entry(d["templateId"].as_str().unwrap().to_string())
            .or_default()
            .push(d["daysBefore"].as_i64().unwrap());
        m
    });
    assert_eq!(warnings.get(&soon), Some(&vec![7]));
    assert_eq!(warnings.get(&expiring), Some(&vec![1]));
    let expired = by_type("template.certificate.expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["templateId"], json!(expiring));
    drop(all);
    // The sweep keeps running (every second here): a warning already sent is never sent again.
    assert_eq!(
        f.server
            .state
            .store
            .sweep_certificates(now_millis())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.server
            .state
            .store
            .sweep_certificates(now_millis())
            .await
            .unwrap(),
        0
    );
    wait_for_empty_outbox(&f).await;
    let later = receiver.accepted();
    assert_eq!(
        count_of(&later, "template.certificate.expiring"),
        expiring_events.len()
    );
    assert_eq!(count_of(&later, "template.certificate.expired"), 1);
    f.stop().await;
}

async fn filters_by_event_type_and_template(db: &TestDb) {
    let f = fixture(db, 10_000).await;
    let all = Receiver::start().await;
    let created_only = Receiver::start().await;
    let other_template = Receiver::start().await;
    create_webhook(&f, &all.url, &["*"]).await;
    create_webhook(&f, &created_only.url, &["pass.created"]).await;
    let other = template_expiring_in(&f, 365 * 86_400).await;
    let (status, body) = post_webhook(
        &f,
        &json!({ "url": other_template.url, "events": ["pass.created", "pass.updated"], "templateId": other }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let pass = f.issue(None).await;
    patch(&f, &pass.id, json!({ "payload": changed_payload("Other Name") })).await;
    all.wait_until("created and updated", |d| {
        count_of(d, "pass.created") == 1 && count_of(d, "pass.updated") == 1
    })
    .await;
    created_only
        .wait_until("created", |d| count_of(d, "pass.created") == 1)
        .await;
    wait_for_empty_outbox(&f).await;
    assert_eq!(created_only.received().len(), 1);
    assert!(
        other_template.received().is_empty(),
        "the other template's webhook got an event"
    );
    f.stop().await;
}

async fn retries_after_500s_and_timeouts_and_logs_each_attempt(db: &TestDb) {
    let f = fixture(db, 300).await;
    let receiver = Receiver::start().await;
    receiver.script(&[Answer::Status(500), Answer::Status(503), Answer::Hang]);
    let (id, secret) = create_webhook(&f, &receiver.url, &["pass.created"]).await;
    let pass = f.issue(None).await;
    let delivered = receiver.wait_until("the fourth attempt", |d| !d.is_empty()).await;
    assert!(delivered[0].signed_with(&secret));
    assert_eq!(delivered[0].body["data"]["passId"], json!(pass.id));
    wait_for_empty_outbox(&f).await;
    // Four attempts of the same event, each with its own outcome.
    let received = receiver.received();
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|d| d.event_id() == delivered[0].event_id()));
    let mut log = deliveries_log(&f, &id).await;
    log.reverse();
    let summary: Vec<(i64, Value, bool)> = log
        .iter()
        .map(|d| {
            (
                d["attempt"].as_i64().unwrap(),
                d["status"].clone(),
                d["nextAttemptAt"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, json!(500), true),
            (2, json!(503), true),
            (3, Value::Null, true),
            (4, json!(200), false),
        ],
        "{log:?}"
    );
    assert!(
        log[2]["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 300 ms"),
        "{log:?}"
    );
    assert!(log.iter().all(|d| d["eventId"] == json!(delivered[0].event_id())));
    assert!(log.iter().all(|d| d["type"] == json!("pass.created")));
    let metrics = f
        .server
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("passmint_webhook_deliveries_total{outcome=\"retrying\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("passmint_webhook_deliveries_total{outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    f.stop().await;
}

async fn gives_up_when_the_retry_window_is_over(db: &TestDb) {
    let f = Fixture::start_configured(&db.url, |s| {
        s.webhook_retry_base_ms = 50;
        s.webhook_retry_for_seconds = 2;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script(&[Answer::Status(500); 1000]);
    let (id, _) = create_webhook(&f, &receiver.url, &["pass.created"]).await;
    f.issue(None).await;
    wait_for_empty_outbox(&f).await;
    let log = deliveries_log(&f, &id).await;
    // How many attempts fit in the window depends on the machine; the last one gives up.
    assert!(!log.is_empty(), "{log:?}");
    // The newest attempt is the last: failed, nothing further planned.
    assert_eq!(log[0]["status"], json!(500));
    assert_eq!(log[0]["nextAttemptAt"], Value::Null);
    assert!(log[1..].iter().all(|d| d["nextAttemptAt"].is_string()));
    let metrics = f
        .server
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("passmint_webhook_deliveries_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("passmint_webhook_queue_depth"), "{metrics}");
    assert!(
        metrics.contains("passmint_webhook_oldest_undelivered_seconds"),
        "{metrics}"
    );
    f.stop().await;
}

async fn a_slow_receiver_slows_neither_requests_nor_other_receivers(db: &TestDb) {
    let f = fixture(db, 10_000).await;
    let slow = Receiver::start().await;
    let fast = Receiver::start().await;
    slow.hold();
    create_webhook(&f, &slow.url, &["pass.created"]).await;
    create_webhook(&f, &fast.url, &["pass.created"]).await;
    // Every request answers while the slow receiver holds its deliveries.
    for _ in 0..80 {
        f.issue(None).await;
    }
    fast.wait_until("all 80", |d| count_of(d, "pass.created") == 80)
        .await;
    assert!(
        slow.accepted().is_empty(),
        "the slow receiver answered while held"
    );
    slow.release();
    slow.wait_until("all 80 once released", |d| count_of(d, "pass.created") == 80)
        .await;
    wait_for_empty_outbox(&f).await;
    f.stop().await;
}

async fn bad_input_is_a_400_naming_the_field(db: &TestDb) {
    let f = fixture(db, 10_000).await;
    let cases = [
        (json!({ "url": "ftp://example.com/hook", "events": ["*"] }), "url"),
        (json!({ "url": "not a url", "events": ["*"] }), "url"),
        (
            json!({ "url": "https://example.com/hook", "events": ["pass.exploded"] }),
            "events[0]",
        ),
        (
            json!({ "url": "https://example.com/hook", "events": [] }),
            "events",
        ),
        (
            json!({ "url": "https://example.com/hook", "events": ["*"], "templateId": "not-a-uuid" }),
            "templateId",
        ),
        (
            json!({ "url": "https://example.com/hook", "events": ["*"], "templateId": uuid::Uuid::new_v4() }),
            "templateId",
        ),
        (json!({ "events": ["*"] }), "url"),
        (
            json!({ "url": "https://example.com/hook", "events": ["*"], "extra": 1 }),
            "extra",
        ),
    ];
    for (body, param) in cases {
        let (status, answer) = post_webhook(&f, &body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["code"], json!("BadRequestError"));
        let params = common::server::params(&answer);
        assert!(
            params.iter().any(|p| p == param),
            "{body}: {params:?} should name {param}"
        );
    }
    // Several problems at once.
    let (status, answer) = post_webhook(
        &f,
        &json!({ "url": "ftp://x", "events": ["nope"], "templateId": "x" }),
    )
    .await;
    assert_eq!(status, 400);
    let params = common::server::params(&answer);
    for p in ["url", "events[0]", "templateId"] {
        assert!(params.iter().any(|q| q == p), "{params:?} lacks {p}");
    }
    for path in ["/v2/webhooks/nope", "/v2/webhooks/nope/deliveries"] {
        let r = f.server.get(path).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
    }
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/v2/webhooks/{missing}"),
        format!("/v2/webhooks/{missing}/deliveries"),
    ] {
        assert_eq!(f.server.get(&path).send().await.unwrap().status(), 404, "{path}");
    }
    assert_eq!(
        f.server
            .delete(&format!("/v2/webhooks/{missing}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let unauthenticated = f
        .server
        .client
        .get(f.server.at("/v2/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let r = f.server.get("/v2/webhooks?limit=0").send().await.unwrap();
    assert_eq!(r.status(), 400);
    f.stop().await;
}

async fn manages_webhooks_and_shows_the_secret_only_once(db: &TestDb) {
    let f = fixture(db, 10_000).await;
    let (status, created) = post_webhook(
        &f,
        &json!({ "url": "http://127.0.0.1:9/hook", "events": ["pass.created", "push.failed"],
                 "templateId": f.template_id, "description": "CRM" }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        created["warnings"][0]["param"],
        json!("url"),
        "plain http is a warning"
    );
    let id = created["id"].as_str().unwrap();
    let got: Value = f
        .server
        .get(&format!("/v2/webhooks/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["secret"], Value::Null);
    assert_eq!(got["events"], json!(["pass.created", "push.failed"]));
    assert_eq!(got["templateId"], json!(f.template_id));
    assert_eq!(got["description"], json!("CRM"));
    assert!(got["createdAt"].as_str().is_some());
    for i in 0..3 {
        create_webhook(&f, &format!("https://example.com/{i}"), &["*"]).await;
    }
    // Pages of one, walked to the end: every webhook once, in creation order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v2/webhooks?limit=1&cursor={c}"),
            None => "/v2/webhooks?limit=1".into(),
        };
        let page: Value = f.server.get(&path).send().await.unwrap().json().await.unwrap();
        for w in page["data"].as_array().unwrap() {
            assert_eq!(w["secret"], Value::Null);
            seen.push(w["id"].as_str().unwrap().to_string());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0], id);
    // The secret is sealed at rest, not stored in the clear.
    let stored = f.server.state.store.get_webhook(id).await.unwrap().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(!String::from_utf8_lossy(&stored.secret_sealed).contains(secret));
    // Events of the management operations.
    let events: Value = f
        .server
        .get("/v2/events?type=WEBHOOK_CREATE_SUCCESS")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"].as_array().unwrap().len(), 4);
    assert!(!events.to_string().contains(secret));
    let r = f
        .server
        .delete(&format!("/v2/webhooks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        f.server
            .get(&format!("/v2/webhooks/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    f.stop().await;
}

async fn a_change_that_rolls_back_queues_nothing(db: &TestDb) {
    let f = fixture(db, 10_000).await;
    // Nothing listens there: whatever is queued stays queued.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    create_webhook(&f, &format!("http://127.0.0.1:{port}/hook"), &["pass.created"]).await;
    f.issue(Some("TAKEN")).await;
    let (depth, _) = f.server.state.store.webhook_queue_stats().await.unwrap();
    assert_eq!(depth, 1);
    // All or nothing: one taken serial undoes the batch, and its deliveries with it.
    let r = f
        .server
        .client
        .post(f.server.at(&format!("{BASE}/passes/batch")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "templateId": f.template_id, "items": [
            { "payload": example_payload() },
            { "payload": example_payload(), "serialNumber": "TAKEN" },
        ] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let (depth, _) = f.server.state.store.webhook_queue_stats().await.unwrap();
    assert_eq!(depth, 1, "the refused batch queued deliveries");
    f.stop().await;
}

async fn a_webhook_deleted_mid_delivery_does_not_spoil_the_others_results(db: &TestDb) {
    use passmint::store::webhooks::{AttemptOutcome, AttemptResult, WebhookEvent, WebhookRecord};
    let store = db.store().await;
    for id in [
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
    ] {
        let record = WebhookRecord {
            seq: 0,
            id: id.into(),
            url: "https://example.com/hook".into(),
            events: "[\"*\"]".into(),
            template_id: None,
            description: None,
            secret_sealed: vec![0; 40],
            created_at: now_millis(),
        };
        store.insert_webhook(&record, &["*".to_string()]).await.unwrap();
    }
    let event = WebhookEvent::new("push.failed", None, now_millis(), json!({}));
    assert_eq!(store.queue_webhook_events(&[event]).await.unwrap(), 2);
    let mut claims = Vec::new();
    for id in [
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
    ] {
        claims.extend(
            store
                .claim_deliveries(id, now_millis(), 60_000, 10)
                .await
                .unwrap(),
        );
    }
    assert_eq!(claims.len(), 2);
    assert!(
        store
            .delete_webhook("11111111-1111-4111-8111-111111111111")
            .await
            .unwrap()
    );
    let results: Vec<_> = claims
        .into_iter()
        .map(|c| {
            let r = AttemptResult {
                status: Some(200),
                error: None,
                duration_ms: 1,
                at: now_millis(),
                outcome: AttemptOutcome::Delivered,
            };
            (c, "push.failed".to_string(), r)
        })
        .collect();
    store.record_deliveries(&results, 1000).await.unwrap();
    let log = store
        .list_deliveries("22222222-2222-4222-8222-222222222222", None, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(store.webhook_queue_stats().await.unwrap().0, 0);
    store.close().await;
}

on_both_backends! {
    a_change_that_rolls_back_queues_nothing => a_change_that_rolls_back_queues_nothing;
    a_webhook_deleted_mid_delivery_does_not_spoil_the_others_results => a_webhook_deleted_mid_delivery_does_not_spoil_the_others_results;
    every_event_type_arrives_with_a_valid_signature => every_event_type_arrives_with_a_valid_signature;
    filters_by_event_type_and_template => filters_by_event_type_and_template;
    retries_after_500s_and_timeouts_and_logs_each_attempt => retries_after_500s_and_timeouts_and_logs_each_attempt;
    gives_up_when_the_retry_window_is_over => gives_up_when_the_retry_window_is_over;
    a_slow_receiver_slows_neither_requests_nor_other_receivers => a_slow_receiver_slows_neither_requests_nor_other_receivers;
    bad_input_is_a_400_naming_the_field => bad_input_is_a_400_naming_the_field;
    manages_webhooks_and_shows_the_secret_only_once => manages_webhooks_and_shows_the_secret_only_once;
}
