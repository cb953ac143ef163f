//! Seeds a passmint data dir for the load benchmark (`bench/load.sh`), straight through the
//! store: one template (the example store card, signed by a fresh dev chain), N passes with
//! predictable serials and tokens, and two device registrations per pass.
//!
//! `cargo run --release -p passmint --example seed_load -- DATA_DIR PUBLIC_URL PASSES`
//!
//! Pass `i` has serial `bench-<i>` and token `bench-token-<i>-0123456789abcdef0123456789` (so
//! the wrk scripts can compute them); device `bench-device-<d>` is registered for passes `d`
//! and `d+1`. Predictable tokens are for this benchmark database only: the server gives real
//! passes random ones. Prints the template id.
//!
//! `BENCH_TEMPLATE_DIR` seeds another template folder than the example store card (with
//! `BENCH_PAYLOAD_FILE` as every pass's payload), and `BENCH_CERTS_DIR` receives the signing
//! chain as PEM files (`signer-cert.pem`, `signer-key.pem`, `wwdr.pem`) so the peers in
//! `bench/peers` sign with the same key.
//!
//! For the push fan-out benchmark (`bench/push-fanout.sh`), `SEED_DEVICES_PER_PASS=K` registers
//! K devices of their own (distinct push tokens) per pass instead, and `SEED_OUT=DIR` writes
//! `pass-ids.txt`, `push-tokens.txt` and the dev chain (`client-ca.pem`, root and WWDR, which
//! the APNs stand-in trusts for client certificates; `signer.pem`, `signer-key.pem`, the pass
//! type certificate pass-js pushes with).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use passmint::domain::render::{self, PassContent};
use passmint::domain::signer::{load_template, seal_identity};
use passmint::store::{Atomicity, NewPass, NewTemplate};
use passmint::{AppState, Settings};
use pkpass::dev_certs::SignerOptions;
use pkpass::{SigningIdentity, SigningMaterial};

fn zip_dir(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default();
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((path, prefix)) = stack.pop() {
            for entry in std::fs::read_dir(&path)? {
                let entry = entry?;
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                if entry.path().is_dir() {
                    stack.push((entry.path(), format!("{name}/")));
                } else {
                    zip.start_file(name.as_str(), options)?;
                    zip.write_all(&std::fs::read(entry.path())?)?;
                }
            }
        }
        zip.finish()?;
    }
    Ok(out.into_inner())
}

pub fn bench_token(i: usize) -> String {
    format!("bench-token-{i}-0123456789abcdef0123456789")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, data_dir, public_url, passes] = args.as_slice() else {
        anyhow::bail!("usage: seed_load DATA_DIR PUBLIC_URL PASSES");
    };
    let passes: usize = passes.parse().context("PASSES must be a number")?;
    let mut settings = Settings::for_data_dir(&PathBuf::from(data_dir));
    settings.public_url = Some(public_url.trim_end_matches('/').to_string());
    let state = AppState::prepare(settings, "127.0.0.1:0".parse()?).await?;

    let options = SignerOptions::default();
    let chain = pkpass::dev_certs::generate(&options)?;
    let identity = SigningIdentity::load(SigningMaterial {
        signer_cert: &chain.signer_cert_pem,
        signer_key: &chain.signer_key_pkcs8_pem,
        passphrase: None,
        wwdr: &chain.wwdr_pem,
    })?;
    let template_id = uuid::Uuid::new_v4().to_string();
    let sealed = seal_identity(&state.master_key, &template_id, &identity)?;
    if let Ok(dir) = std::env::var("BENCH_CERTS_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("signer-cert.pem"), &chain.signer_cert_pem)?;
        std::fs::write(dir.join("signer-key.pem"), &chain.signer_key_pkcs8_pem)?;
        std::fs::write(dir.join("wwdr.pem"), &chain.wwdr_pem)?;
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/storecard.pass");
    let template_dir = std::env::var("BENCH_TEMPLATE_DIR").map_or(examples.clone(), PathBuf::from);
    let payload_file =
        std::env::var("BENCH_PAYLOAD_FILE").map_or_else(|_| examples.join("../payload.json"), PathBuf::from);
    state
        .store
        .insert_template(&NewTemplate {
            id: template_id.clone(),
            name: "Load benchmark card".into(),
            file_name: "bench.pkpass".into(),
            team_identifier: options.team_identifier.clone(),
            pass_type_identifier: options.pass_type_identifier.clone(),
            template_zip: zip_dir(&template_dir)?,
            signer_cert_der: sealed.signer_cert_der,
            wwdr_der: sealed.wwdr_der,
            signer_key_sealed: sealed.signer_key_sealed,
            certificate_expires_at: identity.expires_at().unwrap_or(0),
        })
        .await?;
    let loaded = load_template(&state.store, &state.master_key, &template_id)
        .await?
        .context("the template just stored is missing")?;
    let url = state.domain.config().web_service_url.clone();
    let payload: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&payload_file)?)?;
    let mut ids = Vec::with_capacity(passes);
    let mut rows = Vec::with_capacity(passes);
    for i in 0..passes {
        let content = PassContent {
            serial_number: format!("bench-{i}"),
            auth_token: bench_token(i),
            payload: payload.clone(),
            overrides: serde_json::json!({}),
            voided: false,
        };
        let fingerprint = render::fingerprint_now(&loaded, &url, &content)?;
        let id = uuid::Uuid::new_v4().to_string();
        rows.push(NewPass {
            id: id.clone(),
            template_id: template_id.clone(),
            pass_type_identifier: options.pass_type_identifier.clone(),
            serial_number: content.serial_number,
            auth_token: content.auth_token,
            payload: payload.to_string(),
            overrides: "{}".into(),
            voided: false,
            fingerprint: fingerprint.to_vec(),
            template_revision: loaded.revision,
        });
        ids.push(id);
    }
    for chunk in rows.chunks(1000) {
        state
            .store
            .insert_passes(chunk, Atomicity::AllOrNothing, |_, _| Vec::new(), 1)
            .await?;
    }
    let per_pass: Option<usize> = std::env::var("SEED_DEVICES_PER_PASS")
        .ok()
        .map(|v| v.parse())
        .transpose()
        .context("SEED_DEVICES_PER_PASS must be a number")?;
    let mut tokens = Vec::new();
    if let Some(per_pass) = per_pass {
        let mut batch = Vec::with_capacity(1000);
        let mut now = 1000;
        for (p, id) in ids.iter().enumerate() {
            for d in 0..per_pass {
                let device = format!("fanout-device-{p}-{d}");
                let token = hex::encode(openssl::sha::sha256(device.as_bytes()));
                tokens.push(token.clone());
                batch.push(passmint::store::NewRegistration {
                    device,
                    pass_id: id.clone(),
                    pass_type_identifier: options.pass_type_identifier.clone(),
                    push_token: token,
                });
            }
            if batch.len() >= 1000 || p + 1 == ids.len() {
                now += 1;
                state
                    .store
                    .register_devices(&batch, 1000, |_, _| None, 1000, now)
                    .await?;
                batch.clear();
            }
        }
    } else {
        for d in 0..passes {
            let device = format!("bench-device-{d}");
            let token = hex::encode(openssl::sha::sha256(device.as_bytes()));
            for pass in [d, (d + 1) % passes] {
                state
                    .store
                    .register_device(&device, &ids[pass], &options.pass_type_identifier, &token, 1000)
                    .await?;
            }
        }
    }
    if let Ok(out) = std::env::var("SEED_OUT") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out)?;
        std::fs::write(out.join("pass-ids.txt"), ids.join("\n") + "\n")?;
        std::fs::write(out.join("push-tokens.txt"), tokens.join("\n") + "\n")?;
        // The APNs stand-in's client CA: root and WWDR (pass-js sends the leaf alone).
        std::fs::write(
            out.join("client-ca.pem"),
            [&chain.root_pem[..], &chain.wwdr_pem[..]].concat(),
        )?;
        std::fs::write(out.join("signer.pem"), &chain.signer_cert_pem)?;
        std::fs::write(out.join("signer-key.pem"), &chain.signer_key_pkcs8_pem)?;
    }
    state.store.close().await;
    println!("{template_id}");
    Ok(())
}
