//! Writes the seed corpus (`fuzz/corpus/<target>/seed-*`) from the repository's fixtures: the
//! example template, the real passes under `crates/pkpass/tests/data/samples`, the Google Wallet
//! test templates, and a freshly made development certificate chain in every key format.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus` (idempotent: seeds are
//! rewritten, what the fuzzer added to the corpus is left alone). PNGs are cut to their first
//! 64 bytes (the size checks read only the header) so the corpus stays small.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use passmint_fuzz::{BOUNDARY, frame, repo_root};
use pkpass::dev_certs::SignerOptions;
use pkpass::strings::{self, Encoding};

fn main() {
    let root = repo_root();
    let corpus = root.join("fuzz/corpus");
    let mut templates: Vec<(String, BTreeMap<String, Vec<u8>>)> = Vec::new();
    let mut dirs = vec![root.join("examples/storecard.pass")];
    for base in [
        "crates/pkpass/tests/data/samples",
        "crates/gwallet/tests/data/templates",
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(base))
            .expect("fixture folder")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        dirs.extend(found);
    }
    for dir in &dirs {
        let mut files = BTreeMap::new();
        read_tree(dir, "", &mut files);
        let name = dir.file_name().unwrap().to_string_lossy().replace(".pass", "");
        templates.push((name, files));
    }
    // Apple's signed sample: its files, unzipped.
    let signed = std::fs::read(root.join("crates/pkpass/tests/data/samples/apple-storecard.pkpass"))
        .expect("apple-storecard.pkpass");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(signed)).expect("a zip");
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("inflate");
        files.insert(entry.name().to_owned(), shrink(entry.name(), data));
    }
    templates.push(("apple-storecard-signed".into(), files));

    let mut seeds: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (name, files) in &templates {
        seeds
            .entry("template_zip")
            .or_default()
            .push((name.clone(), zip_of(files, None)));
        if let Some(pass) = files.get("pass.json") {
            seeds
                .entry("pass_json")
                .or_default()
                .push((name.clone(), pass.clone()));
        }
        for (path, bytes) in files.iter().filter(|(p, _)| p.ends_with(".strings")) {
            let seed = format!("{name}-{}", path.replace('/', "-"));
            seeds.entry("strings").or_default().push((seed, bytes.clone()));
        }
    }
    // The same template inside a wrapping folder. (No zip bomb: each run of one would inflate
    // 16 MiB and slow the whole campaign; crates/pkpass/tests cover the cap.)
    let (_, example) = &templates[0];
    seeds
        .entry("template_zip")
        .or_default()
        .push(("wrapped-folder".into(), zip_of(example, Some("Storecard.pass"))));
    let text = "/* comment */\n\"POINTS\" = \"Punkte \\\"{{ points }}\\\"\";\n// line\n\"A\\nB\" = \"\\U00e9\\t\";\n";
    for (tag, enc) in [
        ("utf8bom", Encoding::Utf8Bom),
        ("utf16le", Encoding::Utf16Le),
        ("utf16be", Encoding::Utf16Be),
    ] {
        seeds
            .entry("strings")
            .or_default()
            .push((format!("escapes-{tag}"), strings::encode(text, enc)));
    }

    // Signing material in every format passmint reads.
    let options = SignerOptions {
        passphrase: "passmint-fuzz".into(),
        ..SignerOptions::default()
    };
    let chain = pkpass::dev_certs::generate(&options).expect("a development chain");
    let pass = options.passphrase.as_bytes();
    let keys: [(&str, &[u8]); 5] = [
        ("pkcs8", &chain.signer_key_pkcs8_pem),
        ("pkcs1", &chain.signer_key_pkcs1_pem),
        ("encrypted-pkcs8", &chain.signer_key_encrypted_pkcs8_pem),
        ("legacy-des3", &chain.signer_key_legacy_des3_pem),
        ("legacy-aes", &chain.signer_key_legacy_aes_pem),
    ];
    for (name, key) in keys {
        seeds.entry("signing_pem").or_default().push((
            name.into(),
            frame(&[&chain.signer_cert_pem, key, &chain.wwdr_pem, pass]),
        ));
    }
    seeds.entry("signing_pem").or_default().push((
        "wrong-passphrase".into(),
        frame(&[
            &chain.signer_cert_pem,
            &chain.signer_key_encrypted_pkcs8_pem,
            &chain.wwdr_pem,
            b"nope",
        ]),
    ));
    seeds.entry("signing_pem").or_default().push((
        "cert-is-wwdr".into(),
        frame(&[&chain.wwdr_pem, &chain.signer_key_pkcs8_pem, &chain.root_pem, b""]),
    ));
    seeds.entry("signing_p12").or_default().push((
        "openssl3".into(),
        frame(&[pass, &chain.wwdr_pem, &chain.signer_p12]),
    ));
    if let Some(legacy) = &chain.signer_p12_legacy {
        seeds
            .entry("signing_p12")
            .or_default()
            .push(("keychain-rc2".into(), frame(&[pass, &chain.wwdr_pem, legacy])));
    }

    // The upload form as a client sends it.
    let example_zip = zip_of(example, None);
    let fields: Vec<(&str, &[u8])> = vec![
        ("template", &example_zip),
        ("name", b"Store card"),
        ("fileName", b"storecard.pkpass"),
        ("teamIdentifier", b"TEAM123456"),
        ("passTypeIdentifier", b"pass.com.example.test"),
        ("wwdr", &chain.wwdr_pem),
        ("signerCert", &chain.signer_cert_pem),
        ("signerKey", &chain.signer_key_pkcs8_pem),
        ("signerKeyPassphrase", b""),
    ];
    seeds
        .entry("upload_form")
        .or_default()
        .push(("complete".into(), multipart(&fields)));
    let mut encrypted = fields.clone();
    encrypted[7] = ("signerKey", &chain.signer_key_encrypted_pkcs8_pem);
    encrypted[8] = ("signerKeyPassphrase", pass);
    encrypted.push(("unknown", b"ignored"));
    seeds
        .entry("upload_form")
        .or_default()
        .push(("encrypted-key".into(), multipart(&encrypted)));
    seeds
        .entry("upload_form")
        .or_default()
        .push(("fields-only".into(), multipart(&fields[1..])));

    // What devices send.
    let token = "0123456789abcdef".repeat(4);
    for (name, body) in [
        ("hex64", format!("{{\"pushToken\":\"{token}\"}}")),
        (
            "upper-spaces",
            format!("{{\"pushToken\": \" {} \"}}", token.to_uppercase()),
        ),
        ("not-hex", "{\"pushToken\":\"zz\"}".to_owned()),
    ] {
        seeds
            .entry("passkit_registration")
            .or_default()
            .push((name.into(), body.into_bytes()));
    }
    for (name, body) in [
        (
            "two",
            r#"{"logs":["[2026-01-01] Web service error for pass.com.example: 401","x"]}"#,
        ),
        (
            "escapes",
            r#"{"logs":["line\nrequest finished status=201","\u0000\u2028é",5,null]}"#,
        ),
    ] {
        seeds
            .entry("passkit_log")
            .or_default()
            .push((name.into(), body.as_bytes().to_vec()));
    }
    seeds.entry("passkit_request").or_default().push((
        "typical".into(),
        frame(&[
            b"a1b2c3d4e5f60718293a4b5c6d7e8f90",
            b"passesUpdatedSince=1700000000123",
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            b"ApplePass AbCdEf0123456789_-AbCdEf0123456789_-AbC",
        ]),
    ));

    let payload = std::fs::read(root.join("examples/payload.json")).expect("examples/payload.json");
    for (name, overrides, text) in [
        ("example", &b"null"[..], &b"Ada \"the\" Lovelace"[..]),
        (
            "voided",
            br#"{"voided": true, "expirationDate": "2030-01-01T00:00:00Z"}"#,
            b"\\\"; \"x\" = \"y",
        ),
        (
            "issuer-key",
            br#"{"serialNumber": "x"}"#,
            b"{{ points }}\n\r\t\x7f\xe2\x80\xa8",
        ),
    ] {
        seeds
            .entry("render")
            .or_default()
            .push((name.into(), frame(&[&payload, overrides, text])));
    }

    let mut total = 0;
    for (target, list) in &seeds {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        for (name, bytes) in list {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
            total += bytes.len();
        }
    }
    println!(
        "{} seed files, {total} bytes, in {}",
        seeds.values().map(Vec::len).sum::<usize>(),
        corpus.display()
    );
}

/// Every file under `dir`, by relative path, PNGs cut down.
fn read_tree(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry"))
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.path().is_dir() {
            read_tree(&entry.path(), &format!("{name}/"), out);
        } else {
            let data = std::fs::read(entry.path()).expect("read file");
            out.insert(name.clone(), shrink(&name, data));
        }
    }
}

fn shrink(name: &str, mut data: Vec<u8>) -> Vec<u8> {
    if name.ends_with(".png") {
        data.truncate(64);
    }
    data
}

fn zip_of(files: &BTreeMap<String, Vec<u8>>, folder: Option<&str>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        let name = folder.map_or_else(|| name.clone(), |f| format!("{f}/{name}"));
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        zip.write_all(bytes).expect("zip write");
    }
    zip.finish().expect("zip").into_inner()
}

fn multipart(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend(format!("--{BOUNDARY}\r\n").into_bytes());
        if *name == "template" {
            out.extend(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"t.zip\"\r\nContent-Type: application/zip\r\n\r\n")
                    .into_bytes(),
            );
        } else {
            out.extend(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").into_bytes());
        }
        out.extend_from_slice(value);
        out.extend(b"\r\n");
    }
    out.extend(format!("--{BOUNDARY}--\r\n").into_bytes());
    out
}
