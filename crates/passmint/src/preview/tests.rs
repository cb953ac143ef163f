use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn storecard_files() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert(
        "logo.png".to_string(),
        include_bytes!("../../../../examples/storecard.pass/logo.png").to_vec(),
    );
    files.insert(
        "de.lproj/pass.strings".to_string(),
        include_bytes!("../../../../examples/storecard.pass/de.lproj/pass.strings").to_vec(),
    );
    files.insert(
        "en.lproj/pass.strings".to_string(),
        include_bytes!("../../../../examples/storecard.pass/en.lproj/pass.strings").to_vec(),
    );
    files
}

fn storecard_json() -> Value {
    let text = include_str!("../../../../examples/storecard.pass/pass.json")
        .replace("{{ member.id }}", "M-0042")
        .replace("{{ points }}", "120")
        .replace("\"{{ balance }}\"", "12.5")
        .replace("{{ member.name }}", "Ada <Lovelace>")
        .replace("{{ member.tier }}", "Gold");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_store_card_front_shows_its_fields_colours_logo_and_barcode() {
    let preview = PassPreview::from_rendered(&storecard_json(), &storecard_files(), None, false);
    let front = preview.front_html();
    assert_eq!(preview.style, Style::StoreCard);
    assert!(front.contains("pm-style-store"));
    assert!(front.contains(">120<"), "{front}");
    assert!(front.contains("$12.50"));
    assert!(front.contains("Ada &#60;Lovelace&#62;") || front.contains("Ada &lt;Lovelace&gt;"));
    assert!(!front.contains("<Lovelace>"), "values are escaped");
    assert!(front.contains("class=\"pm-logo\" src=\"data:image/png;base64,"));
    assert!(front.contains("data-format=\"qr\""));
    assert!(front.contains("data-message=\"M-0042\""));
    assert!(!front.contains("pm-void"));
    let css = preview.css_rules();
    assert!(css.contains("--pm-bg:rgb(60,65,76)"), "{css}");
    assert!(css.contains("--pm-label:rgb(220,180,120)"));
    assert!(css.starts_with(&format!(".{}{{", preview.scope_class())));
}

#[test]
fn the_chosen_language_translates_labels_front_and_back() {
    let preview = PassPreview::from_rendered(&storecard_json(), &storecard_files(), Some("de"), false);
    assert_eq!(preview.language.as_deref(), Some("de"));
    assert!(preview.front_html().contains(">Guthaben<"));
    assert!(preview.back_html().contains(">Bedingungen<"));
    let unknown = PassPreview::from_rendered(&storecard_json(), &storecard_files(), Some("fr"), false);
    assert_eq!(unknown.language, None);
    assert!(unknown.front_html().contains(">BALANCE<"));
}

#[test]
fn a_voided_pass_says_so() {
    let preview = PassPreview::from_rendered(&storecard_json(), &storecard_files(), None, true);
    assert!(preview.front_html().contains("This pass is void"));
    let mut json = storecard_json();
    json["voided"] = json!(true);
    assert!(PassPreview::from_rendered(&json, &storecard_files(), None, false).voided);
}

#[test]
fn each_style_gets_its_layout_and_images() {
    let png = include_bytes!("../../../../examples/storecard.pass/logo.png").to_vec();
    let files: BTreeMap<String, Vec<u8>> = ["strip.png", "thumbnail.png", "background.png", "footer.png"]
        .iter()
        .map(|n| (n.to_string(), png.clone()))
        .collect();
    let fields = json!({"primaryFields": [{"key": "a", "value": "SFO"}, {"key": "b", "value": "JFK"}]});
    let expect = [
        (
            "boardingPass",
            ["pm-footer", "pm-transit"],
            ["pm-strip", "pm-thumbnail"],
        ),
        (
            "coupon",
            ["pm-strip", "pm-primary"],
            ["pm-thumbnail", "pm-footer"],
        ),
        (
            "eventTicket",
            ["pm-background", "pm-strip"],
            ["pm-footer", "pm-transit"],
        ),
        (
            "generic",
            ["pm-thumbnail", "pm-primary"],
            ["pm-strip", "pm-background"],
        ),
        (
            "storeCard",
            ["pm-strip", "pm-primary"],
            ["pm-thumbnail", "pm-footer"],
        ),
    ];
    for (style, present, absent) in expect {
        let json = json!({"serialNumber": style, style: fields.clone()});
        let front = PassPreview::from_rendered(&json, &files, None, false).front_html();
        for class in present {
            assert!(
                front.contains(&format!("class=\"{class}")),
                "{style} lacks {class}"
            );
        }
        for class in absent {
            assert!(
                !front.contains(&format!("class=\"{class}")),
                "{style} has {class}"
            );
        }
    }
}

#[test]
fn the_legacy_barcode_key_and_every_format_are_drawn() {
    for (name, css) in [
        ("PKBarcodeFormatPDF417", "pdf417"),
        ("PKBarcodeFormatAztec", "aztec"),
        ("PKBarcodeFormatCode128", "code128"),
        ("PKBarcodeFormatQR", "qr"),
    ] {
        let json =
            json!({"generic": {}, "barcode": {"format": name, "message": "123456789", "altText": "1234"}});
        let front = PassPreview::from_rendered(&json, &BTreeMap::new(), None, false).front_html();
        assert!(
            front.contains(&format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"pm-code pm-code-{css}\""
            )),
            "{name}"
        );
        assert!(front.contains(">1234<"));
    }
}

#[test]
fn hostile_colours_images_and_messages_are_refused_quietly() {
    let json = json!({
        "generic": {"primaryFields": [{"key": "k", "value": "\"><script>alert(1)</script>"}]},
        "backgroundColor": "red;} body{display:none",
        "foregroundColor": "rgb(300, 0, 0)",
        "barcodes": [{"format": "PKBarcodeFormatCode128", "message": "☃☃☃"}]
    });
    let mut files = BTreeMap::new();
    files.insert("logo.png".to_string(), b"<svg onload=alert(1)>".to_vec());
    let preview = PassPreview::from_rendered(&json, &files, None, false);
    let front = preview.front_html();
    assert!(!front.contains("<script>"));
    assert!(
        !front.contains("pm-logo\""),
        "a logo that isn't a PNG is left out"
    );
    assert_eq!(preview.css_rules(), format!(".{}{{}}\n", preview.scope_class()));
    assert!(front.contains("pm-barcode-unreadable"));
}

#[test]
fn a_pkpass_is_read_back_in_the_visitors_language() {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("pass.json", options).unwrap();
    zip.write_all(storecard_json().to_string().as_bytes()).unwrap();
    for (name, bytes) in storecard_files() {
        zip.start_file(name, options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let preview = PassPreview::from_pkpass(&bytes, Some("de-DE,de;q=0.9,en;q=0.5")).unwrap();
    assert_eq!(preview.language.as_deref(), Some("de"));
    assert!(matches!(
        PassPreview::from_pkpass(b"not a zip", None),
        Err(PreviewError::Archive(_))
    ));
}

#[test]
fn the_stylesheet_is_served_whole() {
    assert!(STYLESHEET.contains(".pm-pass"));
    assert!(STYLESHEET.contains(".pm-back"));
    assert!(qr_svg("https://example.com/p/abc").starts_with("<svg"));
}
