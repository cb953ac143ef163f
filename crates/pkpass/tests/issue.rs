//! Rendering, signing and zipping passes from a prepared template.
mod common;

use common::*;
use pkpass::{PassIdentity, PreparedTemplate, RenderError, RenderInput, Template};
use serde_json::{Value, json};

fn identity_for(serial: &str) -> PassIdentity<'_> {
    PassIdentity {
        pass_type_identifier: "pass.com.example.test",
        team_identifier: "TEAM123456",
        serial_number: serial,
        web_service: Some((
            "https://passes.example.com/passkit",
            "0123456789abcdef0123456789abcdef",
        )),
    }
}

fn prepared() -> PreparedTemplate {
    let zip = zip_files(&template_files(&store_card_json()));
    PreparedTemplate::new(Template::from_zip(&zip, &limits()).unwrap())
}

#[test]
fn issues_a_pass_that_openssl_verifies_against_the_root() {
    let chain = chain();
    let signer = identity(&chain);
    let payload = payload();
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-1"),
    };
    let pass = prepared().issue(&input, &signer).unwrap();
    let files = verify_pass(&pass.bytes, &chain.root_pem);

    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "en.lproj/pass.strings",
            "fr.lproj/pass.strings",
            "icon.png",
            "icon@2x.png",
            "logo.png",
            "manifest.json",
            "pass.json",
            "signature"
        ]
    );
    let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(pass_json["serialNumber"], "S-1");
    assert_eq!(pass_json["passTypeIdentifier"], "pass.com.example.test");
    assert_eq!(pass_json["teamIdentifier"], "TEAM123456");
    assert_eq!(pass_json["formatVersion"], 1);
    assert_eq!(pass_json["webServiceURL"], "https://passes.example.com/passkit");
    assert_eq!(
        pass_json["authenticationToken"],
        "0123456789abcdef0123456789abcdef"
    );
    // An exact placeholder takes the payload's JSON type; an embedded one becomes text.
    assert_eq!(pass_json["storeCard"]["headerFields"][0]["value"], 120);
    assert_eq!(
        pass_json["storeCard"]["secondaryFields"][0]["value"],
        "Hello Ada \"the\" Lovelace"
    );
    assert_eq!(pass_json["barcodes"][0]["message"], "M-0042");
    // pass.strings values are inserted as text, escaped for the strings syntax.
    let strings = String::from_utf8(files["en.lproj/pass.strings"].clone()).unwrap();
    assert!(
        strings.contains(r#""greeting" = "Hi Ada \"the\" Lovelace";"#),
        "{strings}"
    );
    // The untouched static file is carried over byte for byte.
    assert_eq!(files["icon.png"], png(29, 29));
    assert_eq!(files["fr.lproj/pass.strings"], b"\"POINTS\" = \"Points\";\n");
}

#[test]
fn the_signature_carries_signer_and_wwdr_certificates_and_a_signing_time() {
    let chain = chain();
    let signer = identity(&chain);
    let payload = payload();
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-1"),
    };
    let pass = prepared().issue(&input, &signer).unwrap();
    let files = unzip(&pass.bytes);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signature"), &files["signature"]).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in", "signature"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("signingTime"), "{text}");
    assert!(text.contains("messageDigest"), "{text}");
    assert!(text.contains("contentType"), "{text}");
    assert!(text.contains("eContent: <ABSENT>"), "detached: {text}");
    assert!(
        text.contains("Worldwide Developer Relations"),
        "WWDR included: {text}"
    );
    assert!(
        text.contains("Pass Type ID: pass.com.example.test"),
        "signer included: {text}"
    );
}

#[test]
fn leaves_out_the_web_service_when_none_is_given() {
    let chain = chain();
    let mut pass = store_card_json();
    pass["webServiceURL"] = json!("https://old.example.com");
    pass["authenticationToken"] = json!("an-old-token-of-enough-length");
    let zip = zip_files(&template_files(&pass));
    let prepared = PreparedTemplate::new(Template::from_zip(&zip, &limits()).unwrap());
    let payload = payload();
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: PassIdentity {
            web_service: None,
            ..identity_for("S-2")
        },
    };
    let issued = prepared.issue(&input, &identity(&chain)).unwrap();
    let files = verify_pass(&issued.bytes, &chain.root_pem);
    let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert!(pass_json.get("webServiceURL").is_none());
    assert!(pass_json.get("authenticationToken").is_none());
}

#[test]
fn the_fingerprint_depends_on_content_only_not_on_signing_time() {
    let chain = chain();
    let signer = identity(&chain);
    let prepared = prepared();
    let payload = payload();
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-1"),
    };
    let first = prepared.issue(&input, &signer).unwrap();
    let second = prepared.issue(&input, &signer).unwrap();
    assert_eq!(first.fingerprint, second.fingerprint);
    assert_eq!(prepared.fingerprint(&input).unwrap(), first.fingerprint);

    let changed_payload = json!({"memberId": "M-0042", "points": 121, "member": {"name": "Ada"}});
    let changed = RenderInput {
        payload: &changed_payload,
        ..input
    };
    assert_ne!(prepared.fingerprint(&changed).unwrap(), first.fingerprint);
    let overrides = json!({"relevantDate": "2026-05-01T19:30:00+02:00"});
    let overridden = RenderInput {
        overrides: &overrides,
        ..input
    };
    assert_ne!(prepared.fingerprint(&overridden).unwrap(), first.fingerprint);
}

#[test]
fn names_every_placeholder_without_a_value() {
    let prepared = prepared();
    let payload = json!({"points": 3});
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-1"),
    };
    match prepared.fingerprint(&input) {
        Err(RenderError::MissingPlaceholders(missing)) => {
            let names: Vec<(&str, &str)> = missing
                .iter()
                .map(|p| (p.location.as_str(), p.message.as_str()))
                .collect();
            assert!(
                names.contains(&("pass.json: barcodes[0].message", "memberId")),
                "{names:?}"
            );
            assert!(
                names.contains(&("pass.json: storeCard.secondaryFields[0].value", "member.name")),
                "{names:?}"
            );
            assert!(
                names.contains(&("en.lproj/pass.strings", "member.name")),
                "{names:?}"
            );
        }
        other => panic!("expected missing placeholders, got {other:?}"),
    }
}

#[test]
fn refuses_overrides_of_the_six_issuer_keys() {
    let prepared = prepared();
    let payload = payload();
    let overrides = json!({
        "passTypeIdentifier": "x", "teamIdentifier": "x", "serialNumber": "x",
        "authenticationToken": "x", "webServiceURL": "x", "formatVersion": 2,
        "logoText": "fine"
    });
    let input = RenderInput {
        payload: &payload,
        overrides: &overrides,
        identity: identity_for("S-1"),
    };
    match prepared.fingerprint(&input) {
        Err(RenderError::InvalidOverrides(problems)) => {
            assert_eq!(problems.len(), 6, "{problems:?}");
            assert!(problems.iter().any(|p| p.location == "overrides.serialNumber"));
        }
        other => panic!("expected invalid overrides, got {other:?}"),
    }
}

#[test]
fn merges_overrides_into_the_top_level() {
    let chain = chain();
    let prepared = prepared();
    let payload = payload();
    let overrides =
        json!({"relevantDate": "2026-05-01T19:30:00+02:00", "logoText": "Coffee", "voided": true});
    let input = RenderInput {
        payload: &payload,
        overrides: &overrides,
        identity: identity_for("S-1"),
    };
    let pass = prepared.issue(&input, &identity(&chain)).unwrap();
    let files = verify_pass(&pass.bytes, &chain.root_pem);
    let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(pass_json["relevantDate"], "2026-05-01T19:30:00+02:00");
    assert_eq!(pass_json["logoText"], "Coffee");
    assert_eq!(pass_json["voided"], true);
}

#[test]
fn refuses_overrides_that_are_not_an_object_or_break_the_pass() {
    let prepared = prepared();
    let payload = payload();
    for overrides in [
        json!([1, 2]),
        json!({"relevantDate": "soon"}),
        json!({"coupon": {}}),
    ] {
        let input = RenderInput {
            payload: &payload,
            overrides: &overrides,
            identity: identity_for("S-1"),
        };
        assert!(
            matches!(
                prepared.fingerprint(&input),
                Err(RenderError::InvalidOverrides(_))
            ),
            "{overrides}"
        );
    }
}

#[test]
fn a_payload_that_makes_a_field_value_an_object_is_refused() {
    let prepared = prepared();
    let payload = json!({"memberId": "M", "points": {"a": 1}, "member": {"name": "A"}});
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-1"),
    };
    assert!(matches!(
        prepared.fingerprint(&input),
        Err(RenderError::InvalidOverrides(_))
    ));
}

#[test]
fn exact_placeholders_fill_whole_arrays_and_utf16_strings_stay_utf16() {
    let chain = chain();
    let mut pass = store_card_json();
    pass["locations"] = json!("{{ places }}");
    let mut files = template_files(&pass);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        "\"greeting\" = \"Hallo {{ member.name }}\";\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    files.insert("de.lproj/pass.strings".into(), utf16);
    let template = Template::from_zip(&zip_files(&files), &limits()).unwrap();
    let payload = json!({
        "memberId": "M", "points": 1, "member": {"name": "Zoë"},
        "places": [{"latitude": 48.85, "longitude": 2.35, "relevantText": "Near the shop"}]
    });
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-3"),
    };
    let issued = PreparedTemplate::new(template)
        .issue(&input, &identity(&chain))
        .unwrap();
    let files = verify_pass(&issued.bytes, &chain.root_pem);
    let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(pass_json["locations"][0]["latitude"], 48.85);
    let de = &files["de.lproj/pass.strings"];
    assert_eq!(&de[..2], &[0xFF, 0xFE]);
    let units: Vec<u16> = de[2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(
        String::from_utf16(&units).unwrap(),
        "\"greeting\" = \"Hallo Zoë\";\n"
    );

    let bad = json!({"memberId": "M", "points": 1, "member": {"name": "Z"}, "places": "Paris"});
    let input = RenderInput {
        payload: &bad,
        ..input
    };
    let template = Template::from_zip(&zip_files(&template_files(&pass)), &limits()).unwrap();
    assert!(matches!(
        PreparedTemplate::new(template).fingerprint(&input),
        Err(RenderError::InvalidOverrides(p)) if p.iter().any(|p| p.location == "pass.json: locations")
    ));
}

#[test]
fn the_signature_no_longer_verifies_once_the_manifest_changes() {
    let chain = chain();
    let payload = payload();
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-1"),
    };
    let pass = prepared().issue(&input, &identity(&chain)).unwrap();
    let files = unzip(&pass.bytes);
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = files["manifest.json"].clone();
    let i = manifest
        .iter()
        .position(|b| b.is_ascii_hexdigit() && *b != b'0')
        .unwrap();
    manifest[i] = b'0';
    std::fs::write(dir.path().join("signature"), &files["signature"]).unwrap();
    std::fs::write(dir.path().join("manifest.json"), &manifest).unwrap();
    std::fs::write(dir.path().join("root.pem"), &chain.root_pem).unwrap();
    assert!(!openssl_cms_verify(dir.path()).status.success());
    // And against another root, the untouched pass doesn't verify either.
    let other = pkpass::dev_certs::generate(&Default::default()).unwrap();
    std::fs::write(dir.path().join("manifest.json"), &files["manifest.json"]).unwrap();
    std::fs::write(dir.path().join("root.pem"), &other.root_pem).unwrap();
    assert!(!openssl_cms_verify(dir.path()).status.success());
    std::fs::write(dir.path().join("root.pem"), &chain.root_pem).unwrap();
    assert!(openssl_cms_verify(dir.path()).status.success());
}

#[test]
fn kept_signed_files_reassemble_into_a_pass_that_verifies_without_signing_again() {
    let chain = chain();
    let signer = identity(&chain);
    let payload = payload();
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-kept"),
    };
    let template = prepared();
    let signed = template.sign_files(&input, &signer).unwrap();
    assert!(
        signed.size() < 64 * 1024,
        "kept files are small: {}",
        signed.size()
    );
    let first = template.assemble(&signed);
    let again = template.assemble(&signed);
    // The same signature both times: reassembling signs nothing.
    assert_eq!(first.to_vec(), again.to_vec());
    assert_eq!(first.len(), first.to_vec().len());
    let files = verify_pass(&again.to_vec(), &chain.root_pem);
    let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(pass_json["serialNumber"], "S-kept");
    assert_eq!(signed.pass_json(), files["pass.json"].as_slice());
    assert_eq!(signed.fingerprint, template.fingerprint(&input).unwrap());
}

/// Found by the `render` fuzz target: a placeholder inside a `/* … */` comment of a
/// `pass.strings` file is filled too, and a value holding `*/` closed the comment early, so
/// the rest of the value became strings-file syntax and the rendered file no longer parsed
/// (Wallet would drop the whole table). Values are escaped so they can't end a comment.
#[test]
fn a_value_cannot_close_a_comment_in_a_strings_file() {
    let chain = chain();
    let mut files = template_files(&store_card_json());
    files.insert(
        "en.lproj/pass.strings".into(),
        b"/* for {{ member.name }} */\n\"greeting\" = \"Hi {{ member.name }}\";\n".to_vec(),
    );
    let template = Template::from_zip(&zip_files(&files), &limits()).unwrap();
    let name = "a */ \"x\" = \"y\"; /* b";
    let payload = json!({"memberId": "M", "points": 1, "member": {"name": name}});
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: identity_for("S-comment"),
    };
    let issued = PreparedTemplate::new(template)
        .issue(&input, &identity(&chain))
        .unwrap();
    let files = verify_pass(&issued.bytes, &chain.root_pem);
    let text = String::from_utf8(files["en.lproj/pass.strings"].clone()).unwrap();
    let entries = pkpass::strings::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(entries, vec![("greeting".to_owned(), format!("Hi {name}"))]);
}
