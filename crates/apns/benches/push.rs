//! Throughput: N Wallet pushes with K in flight over ONE HTTP/2 connection to the local test
//! server (TLS with a client certificate, on loopback, in the same process).
//!
//! `cargo bench -p apns --bench push` (N = 20,000, K = 100 and 500). Override with
//! `APNS_BENCH_N` and `APNS_BENCH_IN_FLIGHT` (comma-separated). Run without `--bench` (as
//! `cargo test --all-targets` does) it only checks itself with a small N.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use apns::{Client, Credential, DeviceToken, Endpoint, Notification, Outcome};
use apns_testserver::{TestCa, TestServer};

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name).ok().map_or_else(
        || default.to_vec(),
        |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
    )
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let total = if benchmarking {
        env_list("APNS_BENCH_N", &[20_000])[0]
    } else {
        200
    };
    let in_flight = env_list("APNS_BENCH_IN_FLIGHT", &[100, 500]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        for k in in_flight {
            let rate = run(total, k).await;
            println!("apns push: {total} pushes, {k} in flight, 1 connection: {rate:.0} pushes/s");
        }
    });
}

async fn run(total: usize, in_flight: usize) -> f64 {
    let pass_ca = TestCa::generate("Bench WWDR").expect("a CA");
    let pass = pass_ca
        .issue_client("Pass Type ID: pass.com.example.bench")
        .expect("a pass certificate");
    let server = TestServer::builder()
        .require_client_certificate(pass_ca.certificate_pem())
        .start()
        .await
        .expect("the test server");
    let endpoint = Endpoint::new(&server.url())
        .and_then(|e| e.with_extra_roots_pem(server.ca_pem().as_bytes()))
        .expect("an endpoint")
        .with_request_timeout(Duration::from_secs(30));
    let credential = Credential::from_pem(pass.certificate_pem.as_bytes(), pass.private_key_pem.as_bytes())
        .expect("a credential");
    let client = Client::new(&endpoint, &credential).expect("a client");
    let notification = Notification::wallet("pass.com.example.bench").expect("a notification");
    let tokens: Arc<Vec<DeviceToken>> = Arc::new(
        (0..total)
            .map(|n| DeviceToken::parse(&format!("{n:08x}{}", "ab".repeat(28))).expect("a token"))
            .collect(),
    );
    // Warm up: connect and handshake outside the timed part.
    assert!(matches!(
        client.send(&tokens[0], &notification).await,
        Outcome::Delivered { .. }
    ));

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (client, notification, tokens, next) =
            (client.clone(), notification.clone(), tokens.clone(), next.clone());
        workers.spawn(async move {
            let mut failed = 0usize;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= tokens.len() {
                    return failed;
                }
                if !matches!(
                    client.send(&tokens[n], &notification).await,
                    Outcome::Delivered { .. }
                ) {
                    failed += 1;
                }
            }
        });
    }
    let mut failed = 0;
    while let Some(result) = workers.join_next().await {
        failed += result.expect("a worker");
    }
    let elapsed = started.elapsed();
    assert_eq!(failed, 0, "every push must be delivered");
    assert_eq!(server.request_count(), total + 1);
    assert_eq!(server.connection_count(), 1, "all pushes over one connection");
    #[allow(clippy::cast_precision_loss)]
    let rate = total as f64 / elapsed.as_secs_f64();
    rate
}
