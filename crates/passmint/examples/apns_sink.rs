//! A local APNs for `bench/rollout-scale.sh`: the test APNs server (`apns-testserver`: TLS 1.3,
//! HTTP/2, any client certificate) in a process of its own, so `serve`'s memory is measured
//! alone.
//!
//! `cargo run --release -p passmint --example apns_sink -- CA_FILE`
//!
//! Writes the server's CA to `CA_FILE`, prints `url=<base URL>`, then answers one line per
//! line read on stdin: `count` → `requests=<n> first_ms=<unix ms> last_ms=<unix ms>` (when the
//! first and the latest push arrived, to 20 ms); `tokens` → `distinct=<n> once=<n> twice=<n>
//! more=<n>` (pushes per distinct device token). Exits when stdin closes.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let ca_file = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: apns_sink CA_FILE"))?;
    let server = Arc::new(
        apns_testserver::TestServer::builder()
            .accept_any_client_certificate()
            .start()
            .await?,
    );
    std::fs::write(&ca_file, server.ca_pem())?;
    println!("url={}", server.url());
    let (first, last) = (Arc::new(AtomicI64::new(0)), Arc::new(AtomicI64::new(0)));
    {
        let (server, first, last) = (server.clone(), first.clone(), last.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let n = server.request_count();
                if n != seen {
                    let now = now_ms();
                    if seen == 0 {
                        first.store(now, Ordering::Relaxed);
                    }
                    last.store(now, Ordering::Relaxed);
                    seen = n;
                }
            }
        });
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        match line.trim() {
            "count" => println!(
                "requests={} first_ms={} last_ms={}",
                server.request_count(),
                first.load(Ordering::Relaxed),
                last.load(Ordering::Relaxed)
            ),
            "tokens" => {
                let mut per_token: HashMap<String, u32> = HashMap::new();
                for r in server.requests() {
                    if let Some(t) = r.device_token {
                        *per_token.entry(t).or_default() += 1;
                    }
                }
                let count = |f: &dyn Fn(u32) -> bool| per_token.values().filter(|&&n| f(n)).count();
                println!(
                    "distinct={} once={} twice={} more={}",
                    per_token.len(),
                    count(&|n| n == 1),
                    count(&|n| n == 2),
                    count(&|n| n > 2)
                );
            }
            other => println!("unknown command {other:?}"),
        }
    }
    Ok(())
}
