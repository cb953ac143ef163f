//! Starting the real server on port 0 with a temporary data dir, and building uploads.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use passmint::{AppState, Settings};
use pkpass::dev_certs::{DevCa, DevChain, SignerOptions};
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const BASE: &str = "/v2/credentials/compact/digital-pass/apple";

/// A running server; `stop()` shuts it down gracefully.
pub struct TestServer {
    pub url: String,
    pub client: reqwest::Client,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), passmint::LaunchError>>>,
}

/// Settings for a server keeping its data in `dir`, with the test admin token.
pub fn settings(dir: &Path) -> Settings {
    let mut s = Settings::for_data_dir(dir);
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.admin_token = Some(passmint::config::Secret::new(ADMIN_TOKEN));
    s
}

impl TestServer {
    pub async fn start(settings: Settings) -> Self {
        let listener = tokio::net::TcpListener::bind(settings.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::prepare(settings, addr).await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(passmint::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        Self {
            url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.state.store.close().await;
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.at(path)).bearer_auth(ADMIN_TOKEN)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.delete(self.at(path)).bearer_auth(ADMIN_TOKEN)
    }

    pub fn post_form(&self, path: &str, form: reqwest::multipart::Form) -> reqwest::RequestBuilder {
        self.client
            .post(self.at(path))
            .bearer_auth(ADMIN_TOKEN)
            .multipart(form)
    }

    pub fn put_form(&self, path: &str, form: reqwest::multipart::Form) -> reqwest::RequestBuilder {
        self.client
            .put(self.at(path))
            .bearer_auth(ADMIN_TOKEN)
            .multipart(form)
    }

    /// Creates a template from `upload`, asserting 201; returns the body.
    pub async fn create(&self, upload: &Upload) -> serde_json::Value {
        let response = self
            .post_form(&format!("{BASE}/templates"), upload.form())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }
}

pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/storecard.pass")
}

/// Zips a folder (files at the top level and one level of subfolders).
pub fn zip_dir(dir: &Path) -> Vec<u8> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for sub in std::fs::read_dir(&path).unwrap() {
                let sub = sub.unwrap().path();
                let name = format!(
                    "{}/{}",
                    path.file_name().unwrap().to_string_lossy(),
                    sub.file_name().unwrap().to_string_lossy()
                );
                entries.push((name, std::fs::read(&sub).unwrap()));
            }
        } else {
            entries.push((
                path.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&path).unwrap(),
            ));
        }
    }
    zip_entries(&entries)
}

pub fn zip_entries(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(name.as_str(), options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

/// The example store card template as a .zip.
pub fn template_zip() -> Vec<u8> {
    zip_dir(&examples_dir())
}

/// A certificate chain for the example's identifiers.
pub fn chain() -> DevChain {
    pkpass::dev_certs::generate(&SignerOptions::default()).unwrap()
}

/// A certificate chain for other identifiers.
pub fn chain_for(pass_type_identifier: &str, team_identifier: &str) -> DevChain {
    pkpass::dev_certs::generate(&SignerOptions {
        pass_type_identifier: pass_type_identifier.into(),
        team_identifier: team_identifier.into(),
        ..SignerOptions::default()
    })
    .unwrap()
}

pub fn ca() -> DevCa {
    DevCa::generate().unwrap()
}

/// Every field of an upload; set one to `None` to leave it out.
#[derive(Clone)]
pub struct Upload {
    pub template: Option<Vec<u8>>,
    pub name: Option<String>,
    pub file_name: Option<String>,
    pub team_identifier: Option<String>,
    pub pass_type_identifier: Option<String>,
    pub wwdr: Option<String>,
    pub signer_cert: Option<String>,
    pub signer_key: Option<String>,
    pub signer_key_passphrase: Option<String>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

impl Upload {
    /// A valid upload of the example template signed by `chain` (encrypted PKCS#8 key).
    pub fn valid(chain: &DevChain) -> Self {
        let o = SignerOptions::default();
        Self {
            template: Some(template_zip()),
            name: Some("Example Coffee card".into()),
            file_name: Some("coffee-card.pkpass".into()),
            team_identifier: Some(o.team_identifier),
            pass_type_identifier: Some(o.pass_type_identifier),
            wwdr: Some(text(&chain.wwdr_pem)),
            signer_cert: Some(text(&chain.signer_cert_pem)),
            signer_key: Some(text(&chain.signer_key_encrypted_pkcs8_pem)),
            signer_key_passphrase: Some(chain.passphrase.clone()),
        }
    }

    pub fn form(&self) -> reqwest::multipart::Form {
        let mut form = reqwest::multipart::Form::new();
        if let Some(t) = &self.template {
            form = form.part(
                "template",
                reqwest::multipart::Part::bytes(t.clone())
                    .file_name("template.zip")
                    .mime_str("application/zip")
                    .unwrap(),
            );
        }
        for (name, value) in [
            ("name", &self.name),
            ("fileName", &self.file_name),
            ("teamIdentifier", &self.team_identifier),
            ("passTypeIdentifier", &self.pass_type_identifier),
            ("wwdr", &self.wwdr),
            ("signerCert", &self.signer_cert),
            ("signerKey", &self.signer_key),
            ("signerKeyPassphrase", &self.signer_key_passphrase),
        ] {
            if let Some(v) = value {
                form = form.text(name, v.clone());
            }
        }
        form
    }
}

/// The `param`s of an error body's details, in order.
pub fn params(body: &serde_json::Value) -> Vec<String> {
    body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details in {body}"))
        .iter()
        .map(|d| d["param"].as_str().unwrap().to_string())
        .collect()
}
