//! How many passes per second one core issues from a realistic template.
//!
//! Usage: `cargo bench -p pkpass --bench issue [-- TEMPLATE_DIR]`. Without a folder it writes the
//! ~1 MB store-card template with `bench/make-bench-template.py` (pass.json, icon/logo/strip at
//! 1x/2x/3x, two localisations) into a temporary folder. `bench/pkpass.sh` runs this and
//! `openssl speed rsa2048` together and prints the ratio.
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use pkpass::dev_certs::SignerOptions;
use pkpass::{
    Limits, PassIdentity, PreparedTemplate, RenderInput, SigningIdentity, SigningMaterial, Template,
};
use serde_json::{Value, json};

const RUN_FOR: Duration = Duration::from_secs(5);

fn template_dir(keep: &mut Option<tempfile::TempDir>) -> PathBuf {
    if let Some(dir) = std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        return PathBuf::from(dir);
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("template");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/make-bench-template.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs bench/make-bench-template.py");
    assert!(status.success(), "make-bench-template.py failed");
    *keep = Some(tmp);
    dir
}

/// Runs `f` repeatedly for `RUN_FOR`, returning operations per second.
fn rate(mut f: impl FnMut(u64)) -> (f64, u64) {
    for i in 0..50 {
        f(i);
    }
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < RUN_FOR {
        for _ in 0..20 {
            f(n);
            n += 1;
        }
    }
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

fn main() {
    let mut keep = None;
    let dir = template_dir(&mut keep);
    let template = Template::from_dir(&dir, &Limits::default()).expect("the bench template is valid");
    let size: usize = template.files().values().map(Vec::len).sum();
    let files = template.files().len();

    let chain = pkpass::dev_certs::generate(&SignerOptions::default()).expect("dev chain");
    let signer = SigningIdentity::load(SigningMaterial {
        signer_cert: &chain.signer_cert_pem,
        signer_key: &chain.signer_key_encrypted_pkcs8_pem,
        passphrase: Some(&chain.passphrase),
        wwdr: &chain.wwdr_pem,
    })
    .expect("signer");

    let start = Instant::now();
    let prepared = PreparedTemplate::new(template);
    let prepare = start.elapsed();

    let payloads: Vec<Value> = (0..100)
        .map(|i| json!({"memberId": format!("M-{i:06}"), "points": i * 7, "name": format!("Member {i}")}))
        .collect();
    let serials: Vec<String> = (0..100).map(|i| format!("SERIAL-{i:06}")).collect();
    let token = "0123456789abcdef0123456789abcdef";
    let input = |i: u64| {
        let i = (i % 100) as usize;
        RenderInput {
            payload: &payloads[i],
            overrides: &Value::Null,
            identity: PassIdentity {
                pass_type_identifier: "pass.com.example.test",
                team_identifier: "TEAM123456",
                serial_number: &serials[i],
                web_service: Some(("https://passes.example.com/passkit", token)),
            },
        }
    };

    let mut bytes = 0;
    let (passes, n) = rate(|i| {
        let pass = prepared.issue(&input(i), &signer).expect("issue");
        bytes = pass.bytes.len();
    });
    let (fingerprints, _) = rate(|i| {
        prepared.fingerprint(&input(i)).expect("fingerprint");
    });
    let manifest = vec![b'x'; 1200];
    let (signs, _) = rate(|_| {
        signer.sign_detached(&manifest).expect("sign");
    });

    println!("template: {} ({files} files, {size} bytes)", dir.display());
    println!("prepare once: {:.1} ms", prepare.as_secs_f64() * 1e3);
    println!("pass size: {bytes} bytes");
    println!("render + manifest only (fingerprint): {fingerprints:.0} per second");
    println!("CMS detached signature only: {signs:.0} per second");
    println!("issue (render, sign, zip): {passes:.0} passes/s ({n} passes)");
    println!("pkpass_passes_per_second={passes:.1}");
}
