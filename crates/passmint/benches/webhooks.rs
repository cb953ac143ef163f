//! Webhook benchmark (issue 14): N passes with one device each and one webhook subscribed to
//! `pass.updated`; all N are updated (in the batches a template PUT uses), which queues N pushes
//! and N deliveries in the same transactions. Then, one after the other so each has the machine
//! to itself: the push worker drains the push outbox into a local APNs (the fan-out of the same
//! updates), and the webhook worker drains the webhook outbox into a local HTTP receiver.
//!
//! `cargo bench -p passmint --bench webhooks` (release), or `bench/webhooks.sh`. Environment:
//! - `PASSMINT_BENCH_UPDATES` (default 10000)
//! - `PASSMINT_BENCH_DATABASE_URL` (default: a fresh SQLite file; a `postgres://…` URL of an
//!   empty, disposable database to measure PostgreSQL)
//! - `PASSMINT_BENCH_PER_WEBHOOK` (deliveries in flight per webhook; default the worker's)
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use passmint::domain::crypto::MasterKey;
use passmint::domain::signer::seal_identity;
use passmint::metrics::Metrics;
use passmint::push::{PushWorker, WorkerConfig};
use passmint::store::webhooks::WebhookRecord;
use passmint::store::{Backend, ChangeOutcome, NewTemplate, PassChange, Store, now_millis};
use passmint::webhooks::{WebhookConfig, WebhookWorker};
use pkpass::dev_certs::SignerOptions;
use pkpass::{SigningIdentity, SigningMaterial};

const TOPIC: &str = "pass.com.example.test";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench());
}

/// The receiver: counts deliveries and distinct event ids, answers 200.
#[derive(Clone, Default)]
struct Received {
    ids: Arc<Mutex<(usize, HashSet<String>)>>,
}

async fn receive(State(r): State<Received>, body: Bytes) -> &'static str {
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = value["id"].as_str().unwrap_or_default().to_string();
    let mut ids = r.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    ids.0 += 1;
    ids.1.insert(id);
    "ok"
}

async fn wait_until_empty(what: &str, depth: impl AsyncFn() -> i64) {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let n = depth().await;
        if n == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "still {n} {what} queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn bench() {
    let updates: i64 = std::env::var("PASSMINT_BENCH_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("PASSMINT_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store = Store::connect(&url).await.expect("database");
    let master_key = MasterKey::from_bytes(&[3u8; 32]).expect("master key");
    let template_id = uuid::Uuid::new_v4().to_string();
    let chain = pkpass::dev_certs::generate(&SignerOptions::default()).expect("dev certs");
    let identity = SigningIdentity::load(SigningMaterial {
        signer_cert: &chain.signer_cert_pem,
        signer_key: &chain.signer_key_pkcs8_pem,
        passphrase: None,
        wwdr: &chain.wwdr_pem,
    })
    .expect("identity");
    let sealed = seal_identity(&master_key, &template_id, &identity).expect("seal");
    store
        .insert_template(&NewTemplate {
            id: template_id.clone(),
            name: "webhooks".into(),
            file_name: "w.pkpass".into(),
            team_identifier: "TEAM123456".into(),
            pass_type_identifier: TOPIC.into(),
            template_zip: b"zip".to_vec(),
            signer_cert_der: sealed.signer_cert_der,
            wwdr_der: sealed.wwdr_der,
            signer_key_sealed: sealed.signer_key_sealed,
            certificate_expires_at: identity.expires_at().expect("the dev certificate has an end"),
        })
        .await
        .expect("template");
    seed(&store, &template_id, updates).await;

    // The receiver, on loopback.
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let receiver_url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let webhook_id = uuid::Uuid::new_v4().to_string();
    let secret_sealed = master_key
        .seal(b"whsec_bench", webhook_id.as_bytes())
        .expect("seal");
    store
        .insert_webhook(
            &WebhookRecord {
                seq: 0,
                id: webhook_id,
                url: receiver_url,
                events: "[\"pass.updated\"]".into(),
                template_id: None,
                description: None,
                secret_sealed,
                created_at: now_millis(),
            },
            &["pass.updated".to_string()],
        )
        .await
        .expect("webhook");

    // N updates, one compare-and-set change each (what a PATCH writes): the pushes and the
    // deliveries are queued in each change's transaction.
    let started = Instant::now();
    for i in 0..updates {
        let record = store
            .get_pass(&format!("pass-{i}"))
            .await
            .expect("read")
            .expect("seeded pass");
        let change = PassChange {
            payload: record.payload.clone(),
            overrides: record.overrides.clone(),
            voided: record.voided,
            fingerprint: vec![2u8; 32],
            rendered_revision: record.template_revision,
            is_update: true,
            personalized: None,
        };
        let outcome = store.change_pass(&record, &change).await.expect("update");
        assert!(matches!(outcome, ChangeOutcome::Applied(_)), "{outcome:?}");
    }
    let update_time = started.elapsed();
    let (queued_deliveries, _) = store.webhook_queue_stats().await.expect("stats");
    let queued_pushes = store.push_queue_depth().await.expect("depth");

    // Push fan-out of the same updates.
    let apns = apns_testserver::TestServer::builder()
        .accept_any_client_certificate()
        .start()
        .await
        .expect("test APNs");
    let endpoint = apns::Endpoint::new(&apns.url())
        .expect("endpoint")
        .with_extra_roots_pem(apns.ca_pem().as_bytes())
        .expect("CA");
    let started = Instant::now();
    let push = PushWorker::new(
        store.clone(),
        master_key.clone(),
        endpoint,
        Arc::new(Metrics::default()),
        WorkerConfig::default(),
    )
    .spawn();
    store.push_enqueued();
    wait_until_empty("pushes", async || store.push_queue_depth().await.expect("depth")).await;
    let push_time = started.elapsed();
    push.shutdown().await;
    let pushes = apns.request_count();

    // Webhook deliveries of the same updates.
    let mut config = WebhookConfig::default();
    if let Some(n) = std::env::var("PASSMINT_BENCH_PER_WEBHOOK")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.per_webhook = n;
    }
    let per_webhook = config.per_webhook;
    let started = Instant::now();
    let worker = WebhookWorker::new(store.clone(), master_key, Arc::new(Metrics::default()), config)
        .expect("client")
        .spawn();
    wait_until_empty("deliveries", async || {
        store.webhook_queue_stats().await.expect("stats").0
    })
    .await;
    let webhook_time = started.elapsed();
    worker.shutdown().await;
    let (deliveries, distinct) = {
        let ids = received
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (ids.0, ids.1.len())
    };

    let n = updates as f64;
    println!("backend:              {}", store.backend_name());
    println!(
        "updates:              {updates} (500 a transaction, {update_time:?} with pushes and deliveries queued)"
    );
    println!("queued:               {queued_pushes} pushes, {queued_deliveries} deliveries");
    println!(
        "push fan-out:         {pushes} pushes in {push_time:?} = {:.0} pushes/s",
        n / push_time.as_secs_f64()
    );
    println!(
        "webhook deliveries:   {deliveries} ({distinct} distinct events) in {webhook_time:?} = {:.0} deliveries/s ({per_webhook} in flight)",
        n / webhook_time.as_secs_f64()
    );
    assert_eq!(pushes as i64, updates, "every device pushed once");
    assert_eq!(distinct as i64, updates, "every update delivered");
    assert_eq!(deliveries as i64, updates, "no update delivered twice");
}

/// N passes with one registration each, written set-wise by the database itself.
async fn seed(store: &Store, template_id: &str, n: i64) {
    match store.backend() {
        Backend::Sqlite(pool) => {
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2) \
                 INSERT INTO passes (id, template_id, pass_type_identifier, serial_number, auth_token, \
                 payload, overrides, update_tag, last_modified, created_at, updated_at) \
                 SELECT 'pass-' || i, $1, $3, 'serial-' || i, 'token-token-token-token-token-token', \
                 '{}', '{}', 1, 1, 0, 0 FROM n",
            )
            .bind(template_id)
            .bind(n)
            .bind(TOPIC)
            .execute(pool)
            .await
            .expect("passes");
            sqlx::query(
                "INSERT INTO registrations (device_library_identifier, pass_id, pass_type_identifier, \
                 push_token, created_at, updated_at) \
                 SELECT 'device-' || seq, id, pass_type_identifier, printf('%064x', seq), 0, 0 \
                 FROM passes WHERE template_id = $1",
            )
            .bind(template_id)
            .execute(pool)
            .await
            .expect("registrations");
        }
        Backend::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO passes (id, template_id, pass_type_identifier, serial_number, auth_token, \
                 payload, overrides, update_tag, last_modified, created_at, updated_at) \
                 SELECT 'pass-' || i, $1, $3, 'serial-' || i, 'token-token-token-token-token-token', \
                 '{}', '{}', 1, 1, 0, 0 FROM generate_series(0, $2 - 1) AS i",
            )
            .bind(template_id)
            .bind(n)
            .bind(TOPIC)
            .execute(pool)
            .await
            .expect("passes");
            sqlx::query(
                "INSERT INTO registrations (device_library_identifier, pass_id, pass_type_identifier, \
                 push_token, created_at, updated_at) \
                 SELECT 'device-' || seq, id, pass_type_identifier, lpad(to_hex(seq), 64, '0'), 0, 0 \
                 FROM passes WHERE template_id = $1",
            )
            .bind(template_id)
            .execute(pool)
            .await
            .expect("registrations");
        }
    }
}
