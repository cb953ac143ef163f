//! Fan-out benchmark (issue 5): N registrations on one template, one set-wise enqueue (what a
//! template PUT does), and the time until every push has been answered by the test APNs server
//! and recorded (the outbox is empty).
//!
//! `cargo bench -p passmint --bench fanout` (release). Environment:
//! - `PASSMINT_BENCH_DEVICES` (default 100000)
//! - `PASSMINT_BENCH_DATABASE_URL` (default: a fresh SQLite file; give a `postgres://…` URL of
//!   an empty, disposable database to measure PostgreSQL)
//!
//! The test APNs server runs in a child process (this binary again, with `--apns-server`), so
//! the peak memory printed (VmHWM) is passmint's alone and not the server's request log.
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passmint::domain::crypto::MasterKey;
use passmint::domain::signer::seal_identity;
use passmint::metrics::Metrics;
use passmint::push::{PushWorker, WorkerConfig};
use passmint::store::{Backend, NewTemplate, Store, outbox};
use pkpass::dev_certs::SignerOptions;
use pkpass::{SigningIdentity, SigningMaterial};

const TOPIC: &str = "pass.com.example.test";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if std::env::args().any(|a| a == "--apns-server") {
        runtime.block_on(apns_server());
    } else {
        runtime.block_on(bench());
    }
}

/// Child: runs the test APNs server, prints its URL and CA, answers "count" with the number of
/// requests received, and exits when stdin closes.
async fn apns_server() {
    let server = apns_testserver::TestServer::builder()
        .accept_any_client_certificate()
        .start()
        .await
        .expect("test APNs server");
    let ca = server.ca_pem().replace('\n', "|");
    println!("{} {ca}", server.url());
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() == "count" {
            let requests = server.requests();
            let distinct: std::collections::HashSet<_> = requests
                .iter()
                .filter_map(|r| r.device_token.as_deref())
                .collect();
            println!("{} {}", requests.len(), distinct.len());
        }
    }
}

/// The default worker configuration, with `PASSMINT_BENCH_BATCH`, `PASSMINT_BENCH_IN_FLIGHT`
/// and `PASSMINT_BENCH_RECORD_BATCH` to try others.
fn config() -> WorkerConfig {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    let mut config = WorkerConfig::default();
    if let Some(n) = var("PASSMINT_BENCH_BATCH") {
        config.batch_size = n as i64;
    }
    if let Some(n) = var("PASSMINT_BENCH_IN_FLIGHT") {
        config.max_in_flight = n;
    }
    if let Some(n) = var("PASSMINT_BENCH_RECORD_BATCH") {
        config.record_batch = n;
    }
    eprintln!(
        "worker: batch {}, in flight {}, record batch {}",
        config.batch_size, config.max_in_flight, config.record_batch
    );
    config
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn bench() {
    let devices: i64 = std::env::var("PASSMINT_BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
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
            name: "fan-out".into(),
            file_name: "f.pkpass".into(),
            team_identifier: "TEAM123456".into(),
            pass_type_identifier: TOPIC.into(),
            template_zip: b"zip".to_vec(),
            signer_cert_der: sealed.signer_cert_der,
            wwdr_der: sealed.wwdr_der,
            signer_key_sealed: sealed.signer_key_sealed,
            certificate_expires_at: identity.expires_at().unwrap_or(0),
        })
        .await
        .expect("template");

    let setup = Instant::now();
    seed(&store, &template_id, devices).await;
    eprintln!("seeded {devices} passes + registrations in {:?}", setup.elapsed());

    // The test APNs server, in its own process.
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--apns-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("APNs server process");
    let mut child_out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut child_in = child.stdin.take().expect("stdin");
    let mut first = String::new();
    child_out.read_line(&mut first).expect("server line");
    let (apns_url, ca) = first.trim().split_once(' ').expect("url and CA");
    let endpoint = apns::Endpoint::new(apns_url)
        .expect("endpoint")
        .with_extra_roots_pem(ca.replace('|', "\n").as_bytes())
        .expect("CA");

    let hwm_before = vm_hwm_kib();
    let started = Instant::now();
    let enqueued = match store.backend() {
        Backend::Sqlite(pool) => {
            let mut tx = pool.begin().await.expect("tx");
            let n = outbox::enqueue_for_template(&mut *tx, &template_id, passmint::store::now_millis())
                .await
                .expect("enqueue");
            tx.commit().await.expect("commit");
            n
        }
        Backend::Postgres(pool) => {
            let mut tx = pool.begin().await.expect("tx");
            let n = outbox::enqueue_for_template(&mut *tx, &template_id, passmint::store::now_millis())
                .await
                .expect("enqueue");
            tx.commit().await.expect("commit");
            n
        }
    };
    let enqueue_time = started.elapsed();
    let hwm_enqueued = vm_hwm_kib();
    let worker = PushWorker::new(
        store.clone(),
        master_key,
        endpoint,
        Arc::new(Metrics::default()),
        config(),
    )
    .spawn();
    store.push_enqueued();
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let depth = store.push_queue_depth().await.expect("depth");
        if depth == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still {depth} queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    worker.shutdown().await;
    let hwm = vm_hwm_kib();

    writeln!(child_in, "count").expect("ask count");
    let mut counts = String::new();
    child_out.read_line(&mut counts).expect("count line");
    drop(child_in);
    let _ = child.wait();
    let mut parts = counts.split_whitespace().map(|v| v.parse::<i64>().unwrap_or(-1));
    let (received, distinct) = (parts.next().unwrap_or(-1), parts.next().unwrap_or(-1));

    let rate = devices as f64 / total.as_secs_f64();
    println!("backend:            {}", store.backend_name());
    println!("devices:            {devices}");
    println!("enqueued rows:      {enqueued} (set-wise, {enqueue_time:?})");
    println!("pushes received:    {received} ({distinct} distinct tokens)");
    println!("enqueue → all sent: {total:?}");
    println!("pushes/s:           {rate:.0}");
    println!(
        "VmHWM (peak RSS):   {hwm_before} KiB before, {hwm_enqueued} KiB after the enqueue, {hwm} KiB at the end"
    );
    assert_eq!(received, devices, "every device pushed once");
    assert_eq!(distinct, devices);
}

/// N passes with one registration each, written set-wise by the database itself.
async fn seed(store: &Store, template_id: &str, devices: i64) {
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
            .bind(devices)
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
            .bind(devices)
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
