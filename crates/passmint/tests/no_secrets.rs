//! No secret (PEM, key, passphrase, token) ever reaches an event or a log line. In its own test
//! binary so that its log subscriber sees every log line of the server.
mod common;

use std::sync::{Arc, Mutex};

use common::server::{BASE, TestServer, Upload, settings};
use serde_json::Value;

fn templates() -> String {
    format!("{BASE}/templates")
}

async fn events(server: &TestServer, query: &str) -> Value {
    let r = server.get(&format!("/v2/events?{query}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// One thread, so the server's tasks log into this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn never_puts_a_secret_in_events_or_logs() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(settings(dir.path())).await;
    let passphrase = "Distinctive-Passphrase-7781";
    let chain = pkpass::dev_certs::generate(&pkpass::dev_certs::SignerOptions {
        passphrase: passphrase.into(),
        ..Default::default()
    })
    .unwrap();
    let upload = Upload::valid(&chain);
    server.create(&upload).await;
    // And failures: a wrong passphrase, a plain key with a mismatching certificate.
    let mut wrong = Upload::valid(&chain);
    wrong.signer_key_passphrase = Some("Distinctive-Wrong-Passphrase-5512".into());
    let r = server.post_form(&templates(), wrong.form()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let mut plain = Upload::valid(&chain);
    plain.signer_key = Some(String::from_utf8(chain.signer_key_pkcs8_pem.clone()).unwrap());
    server.create(&plain).await;
    let r = server
        .client
        .get(server.at(&templates()))
        .bearer_auth("Distinctive-Wrong-Token-3391")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let all = events(&server, "limit=1000").await.to_string();
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("request finished"), "logs were captured");
    let key_body = |pem: &[u8]| {
        String::from_utf8(pem.to_vec())
            .unwrap()
            .lines()
            .nth(3)
            .unwrap()
            .to_string()
    };
    let secrets = [
        passphrase.to_string(),
        "Distinctive-Wrong-Passphrase-5512".into(),
        "Distinctive-Wrong-Token-3391".into(),
        common::server::ADMIN_TOKEN.into(),
        "PRIVATE KEY".into(),
        key_body(&chain.signer_key_pkcs8_pem),
        key_body(&chain.signer_key_encrypted_pkcs8_pem),
        key_body(&chain.signer_cert_pem),
    ];
    for secret in &secrets {
        assert!(!all.contains(secret.as_str()), "event shows {secret}");
        assert!(!logged.contains(secret.as_str()), "log shows {secret}");
    }
    // The master key file isn't shown either.
    let master = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    assert!(!logged.contains(master.trim()));
    server.stop().await;
}
