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

const ROUNDS: u32 = 10;
const ROUND: Duration = Duration::from_millis(500);

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

/// CPU time this thread has run, from Linux's `/proc/thread-self/schedstat` (nanoseconds).
///
/// `openssl speed` counts CPU time too by default (not wall time), so on a shared machine the two
/// compare fairly only this way.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Operations per second of wall time and per second of CPU time.
#[derive(Clone, Copy, Default)]
struct Rate {
    wall: f64,
    cpu: f64,
}

/// Runs each benchmark in turn, in short rounds, so that a change in the machine's load (it is
/// shared) hits all of them alike.
fn interleaved(benches: &mut [&mut dyn FnMut(u64)]) -> Vec<Rate> {
    let mut done = vec![(0u64, Duration::ZERO, Duration::ZERO); benches.len()];
    for (f, _) in benches.iter_mut().zip(&done) {
        for i in 0..50 {
            f(i);
        }
    }
    for _ in 0..ROUNDS {
        for (f, (n, wall, cpu)) in benches.iter_mut().zip(done.iter_mut()) {
            let start = Instant::now();
            let cpu_start = cpu_time();
            while start.elapsed() < ROUND {
                for _ in 0..10 {
                    f(*n);
                    *n += 1;
                }
            }
            *wall += start.elapsed();
            if let (Some(a), Some(b)) = (cpu_start, cpu_time()) {
                *cpu += b - a;
            }
        }
    }
    done.iter()
        .map(|(n, wall, cpu)| Rate {
            wall: *n as f64 / wall.as_secs_f64(),
            cpu: if cpu.is_zero() {
                f64::NAN
            } else {
                *n as f64 / cpu.as_secs_f64()
            },
        })
        .collect()
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
    let manifest = vec![b'x'; 1200];
    let key = openssl::pkey::PKey::private_key_from_pem(&chain.signer_key_pkcs8_pem).expect("key");
    let block = vec![7u8; size];
    let rates = interleaved(&mut [
        &mut |i| {
            let pass = prepared.issue(&input(i), &signer).expect("issue");
            bytes = pass.bytes.len();
        },
        &mut |i| {
            prepared.fingerprint(&input(i)).expect("fingerprint");
        },
        &mut |_| {
            signer.sign_detached(&manifest).expect("sign");
        },
        &mut |_| {
            let mut s =
                openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).expect("signer");
            s.update(&manifest).expect("update");
            s.sign_to_vec().expect("sign");
        },
        &mut |_| {
            let mut v = Vec::with_capacity(block.len() + 8000);
            v.extend_from_slice(&block);
            std::hint::black_box(&v);
        },
    ]);
    let [passes, fingerprints, signs, raw, copies] = rates[..] else {
        unreachable!("five benchmarks")
    };

    let show = |what: &str, r: Rate| {
        println!(
            "{what}: {:.0}/s of CPU time ({:.0}/s of wall time)",
            r.cpu, r.wall
        );
    };
    println!("template: {} ({files} files, {size} bytes)", dir.display());
    println!("prepare once: {:.1} ms", prepare.as_secs_f64() * 1e3);
    println!("pass size: {bytes} bytes");
    show("render + manifest only (fingerprint)", fingerprints);
    show("copy the template's bytes into a new Vec", copies);
    show("raw RSA-2048 SHA-256 signature, same process", raw);
    show("CMS detached signature only", signs);
    show("issue (render, sign, zip) passes", passes);
    println!(
        "issue / raw RSA signature in the same process: {:.0}% (CPU time), {:.0}% (wall time)",
        100.0 * passes.cpu / raw.cpu,
        100.0 * passes.wall / raw.wall
    );
    println!("pkpass_passes_per_cpu_second={:.1}", passes.cpu);
    println!("pkpass_passes_per_second={:.1}", passes.wall);
}
