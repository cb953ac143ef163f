//! Reading templates: hostile archives and invalid passes get a specific error each, never a panic.
mod common;

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use common::*;
use pkpass::{Findings, Limits, Template, TemplateError};
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

fn findings(result: Result<Template, TemplateError>) -> Findings {
    match result {
        Err(TemplateError::Invalid { findings }) => findings,
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(t) => panic!(
            "expected Invalid, got a template with warnings {:?}",
            t.warnings()
        ),
    }
}

/// Asserts one error whose location and message contain the given texts.
fn assert_error(findings: &Findings, location: &str, message: &str) {
    assert!(
        findings
            .errors
            .iter()
            .any(|p| p.location.contains(location) && p.message.contains(message)),
        "no error at {location:?} saying {message:?} in {:#?}",
        findings.errors
    );
}

fn assert_warning(warnings: &[pkpass::Problem], location: &str, message: &str) {
    assert!(
        warnings
            .iter()
            .any(|p| p.location.contains(location) && p.message.contains(message)),
        "no warning at {location:?} saying {message:?} in {warnings:#?}"
    );
}

fn with_pass(pass: &Value) -> Result<Template, TemplateError> {
    Template::from_zip(&zip_files(&template_files(pass)), &limits())
}

fn with_files(files: &BTreeMap<String, Vec<u8>>) -> Result<Template, TemplateError> {
    Template::from_zip(&zip_files(files), &limits())
}

#[test]
fn reads_a_valid_template_from_a_zip_and_a_folder() {
    let files = template_files(&store_card_json());
    let from_zip = with_files(&files).unwrap();
    assert_eq!(from_zip.files(), &files);
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in &files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let from_dir = Template::from_dir(dir.path(), &limits()).unwrap();
    assert_eq!(from_dir.files(), &files);
    assert_eq!(from_dir.pass_json()["organizationName"], "Example Coffee");
}

#[test]
fn accepts_one_wrapping_folder_and_ignores_finder_junk_and_an_old_signature() {
    let files = template_files(&store_card_json());
    let mut entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, b)| (format!("MyPass.pass/{n}"), b.clone()))
        .collect();
    entries.push(("MyPass.pass/.DS_Store".into(), b"junk".to_vec()));
    entries.push(("__MACOSX/MyPass.pass/._pass.json".into(), b"junk".to_vec()));
    entries.push(("MyPass.pass/manifest.json".into(), b"{}".to_vec()));
    entries.push(("MyPass.pass/signature".into(), b"old".to_vec()));
    let zip = zip_of(entries.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let template = Template::from_zip(&zip, &limits()).unwrap();
    assert_eq!(template.files(), &files);
}

#[test]
fn refuses_an_archive_over_the_size_limit_as_too_large() {
    let zip = zip_files(&template_files(&store_card_json()));
    let limits = Limits {
        max_zip_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        Template::from_zip(&zip, &limits),
        Err(TemplateError::TooLarge { limit: 100 })
    ));
}

#[test]
fn refuses_zip_slip_absolute_and_backslash_paths() {
    for (name, why) in [
        ("../evil.png", "'..'"),
        ("a/../../evil.png", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/evil.png", "absolute"),
        ("..\\evil.png", "backslash"),
    ] {
        let mut files = template_files(&store_card_json());
        files.insert(name.to_owned(), b"x".to_vec());
        let found = findings(with_files(&files));
        assert_error(&found, name, why);
    }
}

#[test]
fn refuses_symlinks() {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in template_files(&store_card_json()) {
        w.start_file(name, SimpleFileOptions::default()).unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.add_symlink("logo@2x.png", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let zip = w.finish().unwrap().into_inner();
    let found = findings(Template::from_zip(&zip, &limits()));
    assert_error(&found, "logo@2x.png", "link");
}

#[cfg(unix)]
#[test]
fn refuses_symlinks_in_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in template_files(&store_card_json()) {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("strip.png")).unwrap();
    let found = findings(Template::from_dir(dir.path(), &limits()));
    assert_error(&found, "strip.png", "link");
}

#[test]
fn refuses_a_bomb_of_one_gib_of_zeros_by_bytes_actually_inflated() {
    // 1 MB of deflate that inflates to 1 GiB; the limit on the .zip itself is raised so the
    // inflation cap is what stops it.
    let limits = Limits {
        max_zip_bytes: 4 << 20,
        ..Limits::default()
    };
    let bomb = include_bytes!("data/hostile/bomb.zip");
    let found = findings(Template::from_zip(bomb, &limits));
    assert_error(&found, "template", "zip bomb");
    // Stated sizes that understate the content don't get past the cap either.
    let understated = include_bytes!("data/hostile/understated.zip");
    let found = findings(Template::from_zip(understated, &limits));
    assert_error(&found, "zeros.bin", "larger than its declared");
}

#[test]
fn refuses_five_thousand_entries() {
    let names: Vec<String> = (0..5000).map(|i| format!("f{i}.txt")).collect();
    let zip = zip_of(names.iter().map(|n| (n.as_str(), b"x".as_slice())));
    let found = findings(Template::from_zip(&zip, &limits()));
    assert_error(&found, "template", "5000 entries");
}

#[test]
fn refuses_a_truncated_zip_and_garbage_bytes() {
    let zip = zip_files(&template_files(&store_card_json()));
    for bytes in [
        &zip[..zip.len() / 2],
        b"definitely not a zip".as_slice(),
        b"".as_slice(),
    ] {
        let found = findings(Template::from_zip(bytes, &limits()));
        assert_error(&found, "template", "not a readable .zip");
    }
}

#[test]
fn refuses_duplicate_names() {
    let files = template_files(&store_card_json());
    let mut entries: Vec<(String, Vec<u8>)> = files.into_iter().collect();
    entries.push(("icon.pnX".into(), b"other".to_vec()));
    let mut zip = zip_of(entries.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    // Rename the extra entry to a name already taken, in both headers.
    let needle = b"icon.pnX";
    let mut i = 0;
    while let Some(pos) = zip[i..].windows(needle.len()).position(|w| w == needle) {
        zip[i + pos + 7] = b'g';
        i += pos + 1;
    }
    let found = findings(Template::from_zip(&zip, &limits()));
    assert_error(&found, "", "more than once");
}

#[test]
fn refuses_missing_and_invalid_pass_json() {
    let mut files = template_files(&store_card_json());
    files.remove("pass.json");
    assert_error(&findings(with_files(&files)), "pass.json", "missing");
    files.insert("pass.json".into(), b"{ \"description\": ".to_vec());
    assert_error(&findings(with_files(&files)), "pass.json", "not valid JSON");
    files.insert("pass.json".into(), b"[1, 2]".to_vec());
    assert_error(&findings(with_files(&files)), "pass.json", "JSON object");
}

#[test]
fn refuses_two_styles_and_no_style() {
    let mut pass = store_card_json();
    pass["coupon"] = json!({});
    assert_error(
        &findings(with_pass(&pass)),
        "coupon, storeCard",
        "exactly one style",
    );
    let mut pass = store_card_json();
    pass.as_object_mut().unwrap().remove("storeCard");
    assert_error(&findings(with_pass(&pass)), "(style)", "exactly one style");
}

#[test]
fn refuses_duplicate_field_keys_across_the_pass() {
    let mut pass = store_card_json();
    pass["storeCard"]["backFields"] = json!([{"key": "points", "label": "x", "value": "y"}]);
    assert_error(
        &findings(with_pass(&pass)),
        "pass.json: storeCard.backFields[0].key",
        "already used by storeCard.headerFields[0]",
    );
}

#[test]
fn enforces_transit_type_on_boarding_passes_only() {
    let mut pass = store_card_json();
    pass["storeCard"]["transitType"] = json!("PKTransitTypeAir");
    assert_error(
        &findings(with_pass(&pass)),
        "storeCard.transitType",
        "only allowed on a boardingPass",
    );

    let mut pass = store_card_json();
    let fields = pass.as_object_mut().unwrap().remove("storeCard").unwrap();
    pass["boardingPass"] = fields.clone();
    assert_error(
        &findings(with_pass(&pass)),
        "boardingPass.transitType",
        "is required",
    );
    pass["boardingPass"]["transitType"] = json!("PKTransitTypeRocket");
    assert_error(
        &findings(with_pass(&pass)),
        "boardingPass.transitType",
        "not one of",
    );
    pass["boardingPass"]["transitType"] = json!("PKTransitTypeTrain");
    with_pass(&pass).unwrap();
}

#[test]
fn checks_barcodes_colours_change_messages_and_dates() {
    let mut pass = store_card_json();
    pass["barcodes"] = json!([
        {"format": "PKBarcodeFormatQRR", "message": "x", "messageEncoding": "iso-8859-1"},
        {"format": "PKBarcodeFormatQR", "message": "x"},
        {"format": "PKBarcodeFormatQR", "message": "x", "messageEncoding": "klingon"}
    ]);
    pass["backgroundColor"] = json!("blue");
    pass["labelColor"] = json!("#3c414c");
    pass["storeCard"]["headerFields"][0]["changeMessage"] = json!("Points changed");
    pass["relevantDate"] = json!("next tuesday");
    pass["expirationDate"] = json!("2026-05-01");
    let found = findings(with_pass(&pass));
    assert_error(&found, "pass.json: barcodes[0].format", "not one of");
    assert_error(&found, "pass.json: barcodes[1].messageEncoding", "required");
    assert_error(&found, "pass.json: barcodes[2].messageEncoding", "klingon");
    assert_error(&found, "pass.json: backgroundColor", "not a colour");
    assert_error(&found, "storeCard.headerFields[0].changeMessage", "%@");
    assert_error(&found, "pass.json: relevantDate", "W3C");
    assert_error(&found, "pass.json: expirationDate", "W3C");
    assert_warning(&found.warnings, "pass.json: labelColor", "iOS 18");
    // Every problem at once, not just the first.
    assert!(found.errors.len() >= 7, "{:#?}", found.errors);
}

#[test]
fn a_hex_colour_is_only_a_warning() {
    let mut pass = store_card_json();
    pass["backgroundColor"] = json!("#3c414c");
    let template = with_pass(&pass).unwrap();
    assert_warning(template.warnings(), "backgroundColor", "iOS 18");
}

#[test]
fn checks_required_keys_and_types() {
    let mut pass = store_card_json();
    let obj = pass.as_object_mut().unwrap();
    obj.remove("description");
    obj.insert("organizationName".into(), json!(42));
    obj.insert("voided".into(), json!("yes"));
    obj.insert("formatVersion".into(), json!(2));
    let found = findings(with_pass(&pass));
    assert_error(&found, "pass.json: description", "required");
    assert_error(&found, "pass.json: organizationName", "must be a string");
    assert_error(&found, "pass.json: voided", "true or false");
    assert_error(&found, "pass.json: formatVersion", "must be 1");
}

#[test]
fn pairs_web_service_url_and_authentication_token() {
    let mut pass = store_card_json();
    pass["webServiceURL"] = json!("https://example.com/passes");
    assert_error(
        &findings(with_pass(&pass)),
        "authenticationToken",
        "required when webServiceURL",
    );
    let mut pass = store_card_json();
    pass["authenticationToken"] = json!("0123456789abcdef0123");
    assert_error(
        &findings(with_pass(&pass)),
        "webServiceURL",
        "required when authenticationToken",
    );
    pass["webServiceURL"] = json!("ftp://example.com");
    assert_error(&findings(with_pass(&pass)), "webServiceURL", "https://");
    pass["webServiceURL"] = json!("https://example.com");
    pass["authenticationToken"] = json!("short");
    assert_error(
        &findings(with_pass(&pass)),
        "authenticationToken",
        "16 characters",
    );
}

#[test]
fn limits_locations_and_beacons_to_ten() {
    let mut pass = store_card_json();
    pass["locations"] = json!(vec![json!({"latitude": 1.0, "longitude": 2.0}); 11]);
    pass["beacons"] = json!(vec![
        json!({"proximityUUID": "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0"});
        11
    ]);
    let found = findings(with_pass(&pass));
    assert_error(&found, "pass.json: locations", "at most 10");
    assert_error(&found, "pass.json: beacons", "at most 10");
    let mut pass = store_card_json();
    pass["locations"] = json!([{"latitude": 91, "longitude": 2}, {"longitude": 2}]);
    pass["beacons"] = json!([{"proximityUUID": "nope", "major": 70000}]);
    let found = findings(with_pass(&pass));
    assert_error(&found, "locations[0].latitude", "between -90 and 90");
    assert_error(&found, "locations[1].latitude", "required");
    assert_error(&found, "beacons[0].proximityUUID", "not a UUID");
    assert_error(&found, "beacons[0].major", "65535");
}

#[test]
fn checks_the_nfc_dictionary() {
    let mut pass = store_card_json();
    pass["nfc"] = json!({"encryptionPublicKey": 5, "requiresAuthentication": "no"});
    let found = findings(with_pass(&pass));
    assert_error(&found, "nfc.message", "required");
    assert_error(&found, "nfc.encryptionPublicKey", "string");
    assert_error(&found, "nfc.requiresAuthentication", "true or false");
    pass["nfc"] = json!({"message": "x".repeat(65), "encryptionPublicKey": "MDkw"});
    assert_error(&findings(with_pass(&pass)), "nfc.message", "64 bytes");
}

#[test]
fn knows_the_ios_18_keys_and_warns_about_unknown_ones() {
    let mut pass = store_card_json();
    let fields = pass.as_object_mut().unwrap().remove("storeCard").unwrap();
    pass["eventTicket"] = fields;
    pass["preferredStyleSchemes"] = json!(["posterEventTicket", "eventTicket"]);
    pass["eventLogoText"] = json!("Live");
    pass["relevantDates"] = json!([{"startDate": "2026-05-01T19:00:00Z", "endDate": "2026-05-01T23:00:00Z"}]);
    pass["semantics"] = json!({"eventName": "Live"});
    pass["bagPolicyURL"] = json!("https://example.com/bags");
    pass["frobnicate"] = json!(true);
    let template = with_pass(&pass).unwrap();
    assert_eq!(template.warnings().len(), 1, "{:#?}", template.warnings());
    assert_warning(template.warnings(), "pass.json: frobnicate", "no effect");
}

#[test]
fn warns_about_app_launch_url_without_store_identifiers() {
    let mut pass = store_card_json();
    pass["appLaunchURL"] = json!("myapp://x");
    assert_warning(
        with_pass(&pass).unwrap().warnings(),
        "appLaunchURL",
        "associatedStoreIdentifiers",
    );
    pass["associatedStoreIdentifiers"] = json!([123456]);
    assert!(with_pass(&pass).unwrap().warnings().is_empty());
}

#[test]
fn requires_an_icon_at_any_scale_top_level_or_localised() {
    let mut files = template_files(&store_card_json());
    files.remove("icon.png");
    files.remove("icon@2x.png");
    assert_error(&findings(with_files(&files)), "icon.png", "missing");
    files.insert("de.lproj/icon@3x.png".into(), png(87, 87));
    with_files(&files).unwrap();
}

#[test]
fn image_sizes_are_warnings_and_non_pngs_errors() {
    let mut files = template_files(&store_card_json());
    files.insert("logo@2x.png".into(), png(2000, 2000));
    files.insert("footer.png".into(), png(286, 15));
    let template = with_files(&files).unwrap();
    assert_warning(template.warnings(), "logo@2x.png", "at most 320x100");
    assert_warning(template.warnings(), "footer.png", "don't show");
    files.insert("strip.png".into(), b"GIF89a".to_vec());
    assert_error(&findings(with_files(&files)), "strip.png", "not a PNG");
}

#[test]
fn parses_pass_strings_in_utf8_and_utf16_and_names_bad_ones() {
    let mut files = template_files(&store_card_json());
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        "\"POINTS\" = \"Punkte\";\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    files.insert("de.lproj/pass.strings".into(), utf16);
    with_files(&files).unwrap();

    files.insert(
        "it.lproj/pass.strings".into(),
        b"\"POINTS\" = \"Punti\"\n\"x\" = ;".to_vec(),
    );
    files.insert(
        "es.lproj/pass.strings".into(),
        b"\"a\" = \"\xff\xfe\xfd\";".to_vec(),
    );
    let found = findings(with_files(&files));
    assert_error(&found, "it.lproj/pass.strings", "line 2");
    assert_error(&found, "es.lproj/pass.strings", "UTF");
}

#[test]
fn placeholders_skip_format_checks_until_rendered() {
    let mut pass = store_card_json();
    pass["relevantDate"] = json!("{{ when }}");
    pass["backgroundColor"] = json!("{{ colour }}");
    pass["locations"] = json!("{{ places }}");
    pass["voided"] = json!("{{ voided }}");
    with_pass(&pass).unwrap();
}

#[test]
fn the_types_the_server_shares_across_threads_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<pkpass::PreparedTemplate>();
    assert_send_sync::<pkpass::SigningIdentity>();
}

#[test]
fn survives_thousands_of_corrupted_archives_without_panicking() {
    let zip = zip_files(&template_files(&store_card_json()));
    let mut x = 0x9E37_79B9_u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as usize
    };
    let mut refused = 0;
    for round in 0..3000 {
        let mut bytes = zip.clone();
        for _ in 0..1 + round % 8 {
            let i = next() % bytes.len();
            bytes[i] = next() as u8;
        }
        if round % 5 == 0 {
            bytes.truncate(next() % bytes.len());
        }
        match Template::from_zip(&bytes, &limits()) {
            Err(TemplateError::Invalid { findings }) => {
                assert!(!findings.errors.is_empty());
                refused += 1;
            }
            Ok(_) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(refused > 1000, "only {refused} corrupted archives refused");
}
