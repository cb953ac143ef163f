//! `verify::check` on signed passes: a good one (which `openssl cms -verify` also accepts) is
//! clean; each break (manifest, signature, foreign chain, expired certificate, missing files,
//! signing time) is named.
mod common;

use std::collections::BTreeMap;

use common::*;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;
use pkpass::dev_certs::{DevCa, DevChain, SignerOptions};
use pkpass::verify::{self, Options};
use pkpass::{Findings, PassIdentity, PreparedTemplate, RenderInput, Template};
use serde_json::{Value, json};

fn issue(chain: &DevChain) -> Vec<u8> {
    let template = Template::from_zip(&zip_files(&template_files(&store_card_json())), &limits()).unwrap();
    let input = RenderInput {
        payload: &payload(),
        overrides: &Value::Null,
        identity: PassIdentity {
            pass_type_identifier: "pass.com.example.test",
            team_identifier: "TEAM123456",
            serial_number: "verify-1",
            web_service: None,
        },
    };
    PreparedTemplate::new(template)
        .issue(&input, &identity(chain))
        .unwrap()
        .bytes
        .to_vec()
}

fn trusting(chain: &DevChain) -> Options {
    Options {
        extra_roots: vec![X509::from_pem(&chain.root_pem).unwrap()],
        ..Options::default()
    }
}

fn rezip(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    zip_files(files)
}

fn assert_error(findings: &Findings, location: &str, message: &str) {
    assert!(
        findings
            .errors
            .iter()
            .any(|p| p.location == location && p.message.contains(message)),
        "no error at {location:?} saying {message:?} in {:#?}",
        findings.errors
    );
}

/// Signs `manifest` with OpenSSL's own PKCS#7 signer (any certificate, expired or not), as
/// another tool would.
fn sign_with(cert_pem: &[u8], key_pem: &[u8], wwdr_pem: &[u8], manifest: &[u8]) -> Vec<u8> {
    let cert = X509::from_pem(cert_pem).unwrap();
    let key = PKey::private_key_from_pem(key_pem).unwrap();
    let mut extra = Stack::new().unwrap();
    extra.push(X509::from_pem(wwdr_pem).unwrap()).unwrap();
    Pkcs7::sign(
        &cert,
        &key,
        &extra,
        manifest,
        Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY,
    )
    .unwrap()
    .to_der()
    .unwrap()
}

#[test]
fn a_pass_passmint_signs_is_clean_with_its_root_and_openssl_agrees() {
    let chain = chain();
    let pass = issue(&chain);
    verify_pass(&pass, &chain.root_pem);
    assert!(verify::looks_signed(&pass));
    let found = verify::check(&pass, &trusting(&chain));
    assert!(found.errors.is_empty() && found.warnings.is_empty(), "{found:#?}");
}

#[test]
fn a_pass_from_a_foreign_chain_is_refused_naming_its_issuer() {
    let chain = chain();
    let found = verify::check(&issue(&chain), &Options::default());
    assert_error(&found, "signature", "does not chain to Apple's root certificates");
    // Another test root doesn't help either.
    let other = pkpass::dev_certs::generate(&SignerOptions::default()).unwrap();
    let found = verify::check(&issue(&chain), &trusting(&other));
    assert_error(&found, "signature", "or the --ca roots");
}

#[test]
fn a_changed_file_is_named_against_the_manifest() {
    let chain = chain();
    let mut files = unzip(&issue(&chain));
    files.insert("logo.png".into(), png(100, 40));
    let found = verify::check(&rezip(&files), &trusting(&chain));
    assert_error(&found, "manifest.json: logo.png", "changed after signing");
    assert_eq!(found.errors.len(), 1, "{found:#?}");
}

#[test]
fn a_changed_manifest_breaks_the_signature() {
    let chain = chain();
    let mut files = unzip(&issue(&chain));
    files.insert("extra.png".into(), png(10, 10));
    let mut manifest: BTreeMap<String, String> = serde_json::from_slice(&files["manifest.json"]).unwrap();
    manifest.insert(
        "extra.png".into(),
        pkpass::manifest::sha1_hex(&files["extra.png"]),
    );
    files.insert("manifest.json".into(), pkpass::manifest::to_json(&manifest));
    let found = verify::check(&rezip(&files), &trusting(&chain));
    assert_error(&found, "signature", "does not match manifest.json");
}

#[test]
fn a_tampered_signature_is_refused() {
    let chain = chain();
    let mut files = unzip(&issue(&chain));
    let sig = files.get_mut("signature").unwrap();
    // The RSA signature value is at the end of the DER.
    let at = sig.len() - 10;
    sig[at] ^= 0xff;
    let found = verify::check(&rezip(&files), &trusting(&chain));
    assert_error(&found, "signature", "does not match manifest.json");
    // Garbage is not a signature at all.
    files.insert("signature".into(), b"not a signature".to_vec());
    let found = verify::check(&rezip(&files), &trusting(&chain));
    assert_error(&found, "signature", "not a DER PKCS#7");
}

#[test]
fn an_expired_certificate_is_named_with_its_date() {
    let ca = DevCa::generate().unwrap();
    let expired = ca
        .issue(&SignerOptions {
            not_before_offset_secs: -10 * 86_400,
            not_after_offset_secs: -86_400,
            ..SignerOptions::default()
        })
        .unwrap();
    let chain = chain();
    let mut files = unzip(&issue(&chain));
    let signature = sign_with(
        &expired.signer_cert_pem,
        &expired.signer_key_pkcs8_pem,
        &expired.wwdr_pem,
        &files["manifest.json"],
    );
    files.insert("signature".into(), signature);
    let found = verify::check(&rezip(&files), &trusting(&expired));
    assert_error(&found, "signature", "expired on");
    assert_error(&found, "signature", "outside the signer certificate's validity");
    // The chain and the signature itself are fine: only the dates are named.
    assert!(
        !found
            .errors
            .iter()
            .any(|e| e.message.contains("does not chain") || e.message.contains("does not match")),
        "{found:#?}"
    );
    // The same signature judged before the expiry: clean.
    let before = Options {
        now: time::OffsetDateTime::now_utc() - time::Duration::days(5),
        ..trusting(&expired)
    };
    let found = verify::check(&rezip(&files), &before);
    assert!(
        !found.errors.iter().any(|e| e.message.contains("expired")),
        "{found:#?}"
    );
}

#[test]
fn missing_files_are_each_named() {
    let chain = chain();
    let files = unzip(&issue(&chain));
    // A listed file left out of the zip.
    let mut no_logo = files.clone();
    no_logo.remove("logo.png");
    let found = verify::check(&rezip(&no_logo), &trusting(&chain));
    assert_error(&found, "manifest.json: logo.png", "listed but not in the pass");
    // No manifest, no signature, no icon, no pass.json: each named, all at once.
    let mut bare = files.clone();
    for name in ["manifest.json", "signature"] {
        bare.remove(name);
    }
    bare.insert("pass.json".into(), b"{}".to_vec());
    bare.remove("icon.png");
    bare.remove("icon@2x.png");
    bare.insert("manifest.json".into(), b"[]".to_vec());
    let found = verify::check(&rezip(&bare), &trusting(&chain));
    assert_error(&found, "manifest.json", "not a JSON object");
    assert_error(&found, "signature", "is missing");
    assert_error(&found, "icon.png", "is missing");
    assert_error(&found, "pass.json: passTypeIdentifier", "is required");
}

#[test]
fn a_certificate_for_another_pass_type_is_named() {
    let chain = chain();
    let mut files = unzip(&issue(&chain));
    let mut pass: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    pass["passTypeIdentifier"] = json!("pass.com.example.other");
    files.insert("pass.json".into(), serde_json::to_vec(&pass).unwrap());
    let mut manifest: BTreeMap<String, String> = serde_json::from_slice(&files["manifest.json"]).unwrap();
    manifest.insert(
        "pass.json".into(),
        pkpass::manifest::sha1_hex(&files["pass.json"]),
    );
    files.insert("manifest.json".into(), pkpass::manifest::to_json(&manifest));
    let signature = sign_with(
        &chain.signer_cert_pem,
        &chain.signer_key_pkcs8_pem,
        &chain.wwdr_pem,
        &files["manifest.json"],
    );
    files.insert("signature".into(), signature);
    let found = verify::check(&rezip(&files), &trusting(&chain));
    assert_error(
        &found,
        "pass.json: passTypeIdentifier",
        "not the signer certificate's UID",
    );
    assert_eq!(found.errors.len(), 1, "{found:#?}");
}

#[test]
fn a_pass_zipped_inside_its_folder_is_refused() {
    let chain = chain();
    let files: BTreeMap<String, Vec<u8>> = unzip(&issue(&chain))
        .into_iter()
        .map(|(n, b)| (format!("Card.pass/{n}"), b))
        .collect();
    let found = verify::check(&rezip(&files), &trusting(&chain));
    assert_error(&found, "Card.pass/pass.json", "zipped with its folder");
}
