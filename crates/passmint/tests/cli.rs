//! The offline commands, driven through the real binary as a user would.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn passmint(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passmint"))
        .args(args)
        .current_dir(dir)
        .env_remove("PASSMINT_KEY_PASSPHRASE")
        .output()
        .expect("passmint runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example() -> String {
    repo().join("examples/storecard.pass").display().to_string()
}

fn payload() -> String {
    repo().join("examples/payload.json").display().to_string()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A temp dir with a dev chain in `certs/`.
fn with_certs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = passmint(&["dev-certs", "certs"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    dir
}

/// Unzips `pkpass` and checks the signature with `openssl cms -verify` against certs/root.pem.
fn assert_verifies(dir: &Path, pkpass: &str) -> serde_json::Value {
    let bytes = std::fs::read(dir.join(pkpass)).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let unpacked = dir.join(format!("{pkpass}.d"));
    archive.extract(&unpacked).unwrap();
    let out = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "signature",
            "-content",
            "manifest.json",
            "-purpose",
            "any",
            "-CAfile",
            "../certs/root.pem",
            "-out",
            "/dev/null",
        ])
        .current_dir(&unpacked)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&std::fs::read(unpacked.join("pass.json")).unwrap()).unwrap()
}

#[test]
fn dev_certs_writes_a_chain_with_every_key_format_and_a_readme() {
    let dir = with_certs();
    for name in [
        "root.pem",
        "wwdr.pem",
        "signer.pem",
        "signer.key",
        "signer.pkcs8.key",
        "signer.legacy.key",
        "signer.p12",
        "README.txt",
    ] {
        assert!(dir.path().join("certs").join(name).is_file(), "{name}");
    }
    let readme = std::fs::read_to_string(dir.path().join("certs/README.txt")).unwrap();
    assert!(readme.contains("NOT FOR PRODUCTION") && readme.contains("passmint-dev-only"));
    let legacy = std::fs::read_to_string(dir.path().join("certs/signer.legacy.key")).unwrap();
    assert!(legacy.contains("Proc-Type: 4,ENCRYPTED"));
    // It won't overwrite a chain silently.
    let out = passmint(&["dev-certs", "certs"], dir.path());
    assert!(!out.status.success());
    assert!(text(&out).contains("--force"));
}

#[test]
fn lint_passes_the_example_and_exits_zero() {
    let out = passmint(&["lint", &example()], &repo());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("OK, 0 errors"));
}

#[test]
fn lint_prints_every_problem_with_its_location_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("Bad.pass");
    std::fs::create_dir(&pass).unwrap();
    std::fs::write(
        pass.join("pass.json"),
        r##"{"description": "d", "organizationName": "o", "coupon": {}, "generic": {},
            "backgroundColor": "#ffffff", "barcodes": [{"format": "QR", "message": "x", "messageEncoding": "utf-8"}]}"##,
    )
    .unwrap();
    let out = passmint(&["lint", "Bad.pass"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("error: pass.json: coupon, generic: a pass has exactly one style"),
        "{t}"
    );
    assert!(t.contains("error: pass.json: barcodes[0].format"), "{t}");
    assert!(t.contains("error: icon.png: is missing"), "{t}");
    assert!(t.contains("warning: pass.json: backgroundColor"), "{t}");
}

#[test]
fn lint_reads_a_zip_and_refuses_the_booking_sample() {
    let booking = repo().join("crates/pkpass/tests/data/samples/pkgen-booking.pass");
    let out = passmint(&["lint", &booking.display().to_string()], &repo());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("boardingPass.transitType"));
    // Apple's signed sample, as a template: fine.
    let store = repo().join("crates/pkpass/tests/data/samples/apple-storecard.pkpass");
    let out = passmint(&["lint", "--template", &store.display().to_string()], &repo());
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn lint_checks_a_signed_pass_as_wallet_does() {
    // Apple's own sample chains to Apple's real root (shipped in the binary), and its
    // certificates expired in 2016.
    let store = repo().join("crates/pkpass/tests/data/samples/apple-storecard.pkpass");
    let out = passmint(&["lint", &store.display().to_string()], &repo());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("signed pass"), "{t}");
    assert!(
        t.contains("error: signature: the certificate \"Pass Type ID: pass.com.apple.devpubs.example\" expired on Jul 20"),
        "{t}"
    );
    assert!(!t.contains("does not chain"), "{t}");
    // A pass passmint signs with a dev chain: a foreign chain without --ca, clean with it.
    let dir = with_certs();
    let out = passmint(
        &[
            "sign",
            &example(),
            "-o",
            "card.pkpass",
            "--cert",
            "certs/signer.pem",
            "--key",
            "certs/signer.key",
            "--wwdr",
            "certs/wwdr.pem",
            "--passphrase",
            "passmint-dev-only",
            "--payload",
            &payload(),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = passmint(&["lint", "card.pkpass"], dir.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("does not chain to Apple's root certificates"), "{t}");
    let out = passmint(&["lint", "card.pkpass", "--ca", "certs/root.pem"], dir.path());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("signed pass, 0 error(s), 0 warning(s)"), "{t}");
}

#[test]
fn sign_renders_the_example_into_a_pass_openssl_verifies() {
    let dir = with_certs();
    let out = passmint(
        &[
            "sign",
            &example(),
            "-o",
            "card.pkpass",
            "--cert",
            "certs/signer.pem",
            "--key",
            "certs/signer.pkcs8.key",
            "--passphrase",
            "passmint-dev-only",
            "--wwdr",
            "certs/wwdr.pem",
            "--payload",
            &payload(),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let pass = assert_verifies(dir.path(), "card.pkpass");
    assert_eq!(pass["passTypeIdentifier"], "pass.com.example.test");
    assert_eq!(pass["teamIdentifier"], "TEAM123456");
    assert_eq!(pass["serialNumber"], "EXAMPLE-0001");
    assert_eq!(pass["storeCard"]["headerFields"][0]["value"], 120);
    assert_eq!(pass["storeCard"]["secondaryFields"][0]["value"], "Ada Lovelace");
}

#[test]
fn sign_accepts_each_key_format_and_inline_json() {
    let dir = with_certs();
    let payload = r#"{"points": 1, "balance": 2, "member": {"id": "A", "name": "B", "tier": "C"}}"#;
    for (i, (key, pass)) in [
        ("certs/signer.key", None),
        ("certs/signer.pkcs1.key", None),
        ("certs/signer.legacy.key", Some("passmint-dev-only")),
        ("certs/signer.p12", Some("passmint-dev-only")),
        ("certs/signer.legacy.p12", Some("passmint-dev-only")),
    ]
    .into_iter()
    .enumerate()
    {
        let out_name = format!("p{i}.pkpass");
        let mut args = vec![
            "sign",
            &example(),
            "-o",
            &out_name,
            "--cert",
            "certs/signer.pem",
            "--key",
            key,
            "--wwdr",
            "certs/wwdr.pem",
            "--payload",
            payload,
            "--serial-number",
            "S-9",
            "--overrides",
            r#"{"logoText": "Hi"}"#,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        if let Some(p) = pass {
            args.extend(["--passphrase".to_owned(), p.to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = passmint(&args, dir.path());
        assert!(out.status.success(), "{key}: {}", text(&out));
        let pass = assert_verifies(dir.path(), &out_name);
        assert_eq!(pass["serialNumber"], "S-9");
        assert_eq!(pass["logoText"], "Hi");
    }
}

#[test]
fn sign_reports_a_wrong_passphrase_and_a_foreign_team() {
    let dir = with_certs();
    let base = [
        "sign",
        &example(),
        "-o",
        "x.pkpass",
        "--cert",
        "certs/signer.pem",
        "--wwdr",
        "certs/wwdr.pem",
        "--payload",
        &payload(),
    ];
    let mut args = base.to_vec();
    args.extend(["--key", "certs/signer.pkcs8.key", "--passphrase", "wrong"]);
    let out = passmint(&args, dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out).contains("signerKeyPassphrase: does not decrypt"),
        "{}",
        text(&out)
    );

    let mut args = base.to_vec();
    args.extend(["--key", "certs/signer.key", "--team-identifier", "OTHERTEAM"]);
    let out = passmint(&args, dir.path());
    assert!(!out.status.success());
    assert!(text(&out).contains("teamIdentifier"), "{}", text(&out));
    assert!(!dir.path().join("x.pkpass").exists());
}

#[test]
fn sign_names_placeholders_missing_from_the_payload() {
    let dir = with_certs();
    let out = passmint(
        &[
            "sign",
            &example(),
            "-o",
            "x.pkpass",
            "--cert",
            "certs/signer.pem",
            "--key",
            "certs/signer.key",
            "--wwdr",
            "certs/wwdr.pem",
            "--payload",
            r#"{"points": 5}"#,
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("member.name") && t.contains("balance"), "{t}");
}

/// A copy of the example template with a `strip@2x.png` of `bytes` incompressible bytes.
fn example_with_a_strip_of(dir: &Path, bytes: usize) -> PathBuf {
    let copy = dir.join("big.pass");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(repo().join("examples/storecard.pass")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
    }
    // A PNG header (750x288, within Apple's strip size), then noise deflate can't shrink.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&750u32.to_be_bytes());
    png.extend_from_slice(&288u32.to_be_bytes());
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    while png.len() < bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        png.extend_from_slice(&state.to_le_bytes());
    }
    std::fs::write(copy.join("strip@2x.png"), png).unwrap();
    copy
}

#[test]
fn lint_warns_when_a_template_is_above_the_servers_default_limit() {
    let dir = tempfile::tempdir().unwrap();
    let big = example_with_a_strip_of(dir.path(), 1_500_000);
    let out = passmint(&["lint", big.to_str().unwrap()], dir.path());
    let text = text(&out);
    // Still a usable template (exit 0), with the size named against the server's limit.
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1048576 bytes"), "{text}");
    assert!(text.contains("PASSMINT_MAX_TEMPLATE_BYTES"), "{text}");
    // The same template zipped: the exact size, still a warning, not a refusal.
    let zip = dir.path().join("big.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
    for entry in std::fs::read_dir(&big).unwrap() {
        let entry = entry.unwrap();
        w.start_file(
            entry.file_name().to_str().unwrap(),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut w, &std::fs::read(entry.path()).unwrap()).unwrap();
    }
    w.finish().unwrap();
    let out = passmint(&["lint", zip.to_str().unwrap()], dir.path());
    let text = self::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("above passmint serve's default template limit"),
        "{text}"
    );
    // A small template says nothing about size.
    let small = example_with_a_strip_of(&dir.path().join("small"), 10_000);
    let out = passmint(&["lint", small.to_str().unwrap()], dir.path());
    assert!(
        !self::text(&out).contains("PASSMINT_MAX_TEMPLATE_BYTES"),
        "{}",
        self::text(&out)
    );
}
