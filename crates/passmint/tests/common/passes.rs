//! Issuing passes over HTTP and checking them as Wallet would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};

use super::server::{BASE, TestServer, Upload, chain, settings};
use pkpass::dev_certs::DevChain;

/// A server with one template issued from the example store card.
pub struct Fixture {
    pub server: TestServer,
    /// The APNs the server pushes to (a local HTTP/2 test server).
    pub apns: apns_testserver::TestServer,
    pub chain: DevChain,
    pub template_id: String,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// On SQLite in a temp dir.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        Self::start_with(s, dir).await
    }

    /// On the database at `url`.
    pub async fn start_on(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        s.database_url = passmint::config::Secret::new(url);
        Self::start_with(s, dir).await
    }

    /// On the database at `url`, with `configure` applied to the settings first.
    pub async fn start_configured(url: &str, configure: impl FnOnce(&mut passmint::Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        s.database_url = passmint::config::Secret::new(url);
        configure(&mut s);
        Self::start_with(s, dir).await
    }

    /// With settings `s` (its data dir in `dir`); the APNs settings are filled in.
    pub async fn start_with(mut s: passmint::Settings, dir: tempfile::TempDir) -> Self {
        let apns = apns_testserver::TestServer::builder()
            .accept_any_client_certificate()
            .start()
            .await
            .unwrap();
        let ca_file = dir.path().join("apns-ca.pem");
        std::fs::write(&ca_file, apns.ca_pem()).unwrap();
        s.apns_url = apns.url();
        s.apns_ca_file = Some(ca_file);
        let server = TestServer::start(s).await;
        let chain = chain();
        let body = server.create(&Upload::valid(&chain)).await;
        let template_id = body["id"].as_str().unwrap().to_string();
        Self {
            server,
            apns,
            chain,
            template_id,
            dir,
        }
    }

    /// How many pushes APNs received for `push_token`.
    pub fn pushes_to(&self, push_token: &str) -> usize {
        self.apns
            .requests()
            .iter()
            .filter(|r| r.device_token.as_deref() == Some(push_token_for(push_token).as_str()))
            .count()
    }

    /// Waits (bounded) until APNs received at least `n` pushes for `push_token`.
    pub async fn wait_for_pushes(&self, push_token: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.pushes_to(push_token) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "APNs got {} of {n} pushes for {push_token}",
                self.pushes_to(push_token)
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Pushes queued for `push_token` right now.
    pub async fn queued_pushes(&self, push_token: &str) -> i64 {
        use passmint::store::Backend;
        let sql = "SELECT COUNT(*) FROM push_outbox WHERE push_token = $1";
        match self.server.state.store.backend() {
            Backend::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(push_token)
                .fetch_one(pool)
                .await
                .unwrap(),
            Backend::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(push_token)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }

    /// Asserts that nothing is queued for `push_token` and APNs got exactly `sent` pushes for
    /// it. (A push queued by the last request is either still in the outbox, or was already
    /// received by APNs before its row was deleted, so this can't miss one.)
    pub async fn assert_pushes_settled(&self, push_token: &str, sent: usize) {
        assert_eq!(
            self.queued_pushes(push_token).await,
            0,
            "a push is queued for {push_token}"
        );
        assert_eq!(
            self.pushes_to(push_token),
            sent,
            "pushes received for {push_token}"
        );
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }

    /// `POST B` with `body`.
    pub async fn post_pass(&self, body: &Value) -> reqwest::Response {
        self.server
            .client
            .post(self.server.at(BASE))
            .bearer_auth(super::server::ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Issues a pass with the example payload (and `serial` if given); asserts 201.
    pub async fn issue(&self, serial: Option<&str>) -> Issued {
        let mut body = json!({ "templateId": self.template_id, "payload": example_payload() });
        if let Some(s) = serial {
            body["serialNumber"] = json!(s);
        }
        let response = self.post_pass(&body).await;
        assert_eq!(response.status(), 201);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let bytes = response.bytes().await.unwrap().to_vec();
        let files = verify_pass(&bytes, &self.chain.root_pem);
        let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
        Issued {
            id: location.rsplit('/').next().unwrap().to_string(),
            location,
            serial: pass_json["serialNumber"].as_str().unwrap().to_string(),
            pass_type: pass_json["passTypeIdentifier"].as_str().unwrap().to_string(),
            token: pass_json["authenticationToken"].as_str().unwrap().to_string(),
            pass_json,
        }
    }

    pub async fn patch(&self, id: &str, body: &Value) -> (u16, Value) {
        let r = self
            .server
            .client
            .patch(self.server.at(&format!("{BASE}/passes/{id}")))
            .bearer_auth(super::server::ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// `POST /passkit/v1/devices/{device}/registrations/{type}/{serial}` with the push token
    /// [`push_token_for`] `push_token`.
    pub async fn register(&self, device: &str, pass: &Issued, push_token: &str) -> u16 {
        self.server
            .client
            .post(self.server.at(&registration_path(device, pass)))
            .header("authorization", format!("ApplePass {}", pass.token))
            .json(&json!({ "pushToken": push_token_for(push_token) }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn unregister(&self, device: &str, pass: &Issued) -> u16 {
        self.server
            .client
            .delete(self.server.at(&registration_path(device, pass)))
            .header("authorization", format!("ApplePass {}", pass.token))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// `GET …/registrations/{type}?passesUpdatedSince=`: status, serials, lastUpdated.
    pub async fn serials(
        &self,
        device: &str,
        pass_type: &str,
        since: Option<&str>,
    ) -> (u16, Vec<String>, Option<String>) {
        let mut url = self
            .server
            .at(&format!("/passkit/v1/devices/{device}/registrations/{pass_type}"));
        if let Some(s) = since {
            url.push_str(&format!("?passesUpdatedSince={s}"));
        }
        let r = self.server.client.get(url).send().await.unwrap();
        let status = r.status().as_u16();
        if status != 200 {
            return (status, Vec::new(), None);
        }
        let body: Value = r.json().await.unwrap();
        assert!(
            body["lastUpdated"].is_string(),
            "lastUpdated must be a JSON string: {body}"
        );
        let serials = body["serialNumbers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        (status, serials, body["lastUpdated"].as_str().map(str::to_string))
    }

    /// `GET /passkit/v1/passes/{type}/{serial}` with the pass's token.
    pub async fn fetch(&self, pass: &Issued, if_modified_since: Option<&str>) -> reqwest::Response {
        let mut request = self
            .server
            .client
            .get(
                self.server
                    .at(&format!("/passkit/v1/passes/{}/{}", pass.pass_type, pass.serial)),
            )
            .header("authorization", format!("ApplePass {}", pass.token));
        if let Some(ims) = if_modified_since {
            request = request.header("if-modified-since", ims);
        }
        request.send().await.unwrap()
    }

    /// Fetches the pass as a device (200 expected): `Last-Modified` and the verified pass.json.
    pub async fn fetch_pass_json(&self, pass: &Issued) -> (String, Value) {
        let r = self.fetch(pass, None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/vnd.apple.pkpass");
        let last_modified = r.headers()["last-modified"].to_str().unwrap().to_string();
        let bytes = r.bytes().await.unwrap();
        let files = verify_pass(&bytes, &self.chain.root_pem);
        (
            last_modified,
            serde_json::from_slice(&files["pass.json"]).unwrap(),
        )
    }
}

/// What a test keeps of an issued pass.
#[derive(Debug, Clone)]
pub struct Issued {
    pub id: String,
    pub location: String,
    pub serial: String,
    pub pass_type: String,
    pub token: String,
    pub pass_json: Value,
}

/// The APNs device token (64 hex digits) a test's `label` stands for.
pub fn push_token_for(label: &str) -> String {
    hex::encode(openssl::sha::sha256(label.as_bytes()))
}

pub fn registration_path(device: &str, pass: &Issued) -> String {
    format!(
        "/passkit/v1/devices/{device}/registrations/{}/{}",
        pass.pass_type, pass.serial
    )
}

pub fn example_payload() -> Value {
    json!({
        "member": { "id": "M-0042", "name": "Ada Lovelace", "tier": "Gold" },
        "points": 120,
        "balance": 21.75
    })
}

pub fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(entry.name().unwrap().to_string(), data);
    }
    files
}

/// Checks a .pkpass as Wallet does: every file's SHA-1 in the manifest and nothing else, and
/// the detached signature over the manifest with `openssl cms -verify` against `root_pem`.
pub fn verify_pass(pkpass: &[u8], root_pem: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let files = unzip(pkpass);
    let manifest: BTreeMap<String, String> = serde_json::from_slice(&files["manifest.json"]).unwrap();
    for (name, bytes) in &files {
        if name == "manifest.json" || name == "signature" {
            continue;
        }
        let expected = manifest
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the manifest"));
        assert_eq!(
            &hex::encode(openssl::sha::sha1(bytes)),
            expected,
            "SHA-1 of {name}"
        );
    }
    assert_eq!(
        files.len(),
        manifest.len() + 2,
        "zip holds the manifest's files + 2"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("signature"), &files["signature"]).unwrap();
    std::fs::write(d.join("manifest.json"), &files["manifest.json"]).unwrap();
    std::fs::write(d.join("root.pem"), root_pem).unwrap();
    let out = cms_verify(d);
    assert!(
        out.status.success(),
        "openssl cms -verify failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    files
}

fn cms_verify(d: &Path) -> std::process::Output {
    std::process::Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any"])
        .arg("-in")
        .arg(d.join("signature"))
        .arg("-content")
        .arg(d.join("manifest.json"))
        .arg("-CAfile")
        .arg(d.join("root.pem"))
        .arg("-out")
        .arg(d.join("out"))
        .output()
        .unwrap()
}
