//! Helpers shared by the integration tests: small templates, zips, and checking a pass with the
//! `openssl` command line the way Wallet checks it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::process::Command;

use pkpass::dev_certs::{DevChain, SignerOptions};
use pkpass::{Limits, SigningIdentity, SigningMaterial};
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

/// A 29x29 PNG header good enough for the size checks.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    out.extend(w.to_be_bytes());
    out.extend(h.to_be_bytes());
    out.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
    out
}

/// A valid store card template using placeholders.
pub fn store_card_json() -> Value {
    json!({
        "formatVersion": 1,
        "passTypeIdentifier": "pass.com.example.template",
        "teamIdentifier": "TEMPLATETEAM",
        "serialNumber": "TEMPLATE",
        "organizationName": "Example Coffee",
        "description": "Example Coffee loyalty card",
        "foregroundColor": "rgb(255, 255, 255)",
        "backgroundColor": "rgb(60, 65, 76)",
        "barcodes": [{"format": "PKBarcodeFormatQR", "message": "{{memberId}}", "messageEncoding": "iso-8859-1"}],
        "storeCard": {
            "headerFields": [{"key": "points", "label": "POINTS", "value": "{{ points }}", "changeMessage": "You now have %@ points"}],
            "secondaryFields": [{"key": "name", "label": "MEMBER", "value": "Hello {{ member.name }}"}]
        }
    })
}

pub fn template_files(pass: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("pass.json".to_owned(), serde_json::to_vec_pretty(pass).unwrap());
    files.insert("icon.png".to_owned(), png(29, 29));
    files.insert("icon@2x.png".to_owned(), png(58, 58));
    files.insert("logo.png".to_owned(), png(160, 50));
    files.insert(
        "en.lproj/pass.strings".to_owned(),
        b"\"POINTS\" = \"Points\";\n\"greeting\" = \"Hi {{ member.name }}\";\n".to_vec(),
    );
    files.insert(
        "fr.lproj/pass.strings".to_owned(),
        b"\"POINTS\" = \"Points\";\n".to_vec(),
    );
    files
}

/// Zips `(name, bytes)` pairs with deflate.
pub fn zip_of<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(name, SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn zip_files(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    zip_of(files.iter().map(|(n, b)| (n.as_str(), b.as_slice())))
}

pub fn payload() -> Value {
    json!({"memberId": "M-0042", "points": 120, "member": {"name": "Ada \"the\" Lovelace"}})
}

pub fn chain() -> DevChain {
    pkpass::dev_certs::generate(&SignerOptions::default()).unwrap()
}

pub fn identity(chain: &DevChain) -> SigningIdentity {
    SigningIdentity::load(SigningMaterial {
        signer_cert: &chain.signer_cert_pem,
        signer_key: &chain.signer_key_pkcs8_pem,
        passphrase: None,
        wwdr: &chain.wwdr_pem,
    })
    .unwrap()
}

pub fn limits() -> Limits {
    Limits::default()
}

/// Unzips a pass into name -> bytes.
pub fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        assert!(
            out.insert(f.name().unwrap().into_owned(), data).is_none(),
            "duplicate entry"
        );
    }
    out
}

/// Checks a .pkpass as Wallet would: the CMS signature over manifest.json verifies against
/// `root_pem` (with `openssl cms -verify`), every file's SHA-1 matches the manifest, and the zip
/// holds exactly the manifest's files plus manifest.json and signature. Returns the files.
pub fn verify_pass(pkpass: &[u8], root_pem: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let files = unzip(pkpass);
    let manifest: BTreeMap<String, String> =
        serde_json::from_slice(&files["manifest.json"]).expect("manifest.json is a JSON object");
    for (name, bytes) in &files {
        if name == "manifest.json" || name == "signature" {
            continue;
        }
        let expected = manifest
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the manifest"));
        let actual = {
            use sha1::Digest;
            hex::encode(sha1::Sha1::digest(bytes))
        };
        assert_eq!(&actual, expected, "SHA-1 of {name}");
    }
    for name in manifest.keys() {
        assert!(
            files.contains_key(name),
            "{name} is in the manifest but not the zip"
        );
    }
    assert_eq!(
        files.len(),
        manifest.len() + 2,
        "zip holds only manifest files + 2"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signature"), &files["signature"]).unwrap();
    std::fs::write(dir.path().join("manifest.json"), &files["manifest.json"]).unwrap();
    std::fs::write(dir.path().join("root.pem"), root_pem).unwrap();
    let out = openssl_cms_verify(dir.path());
    assert!(
        out.status.success(),
        "openssl cms -verify failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    files
}

pub fn openssl_cms_verify(dir: &Path) -> std::process::Output {
    Command::new("openssl")
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
            "root.pem",
            "-out",
            "/dev/null",
        ])
        .current_dir(dir)
        .output()
        .expect("the openssl command runs")
}
