//! The render step with hostile payload values: templates fixed (the repository's example store
//! card, and one whose `pass.strings` files, UTF-8 and UTF-16, hold placeholders), payload and
//! overrides from the fuzzer. Rendering must never panic, and what it writes must still read:
//! every rendered strings file parses.
//!
//! Input: `fields(data, 3)` = payload JSON, overrides JSON, text. The payload is used when it
//! parses; the text is also put in every placeholder (the way an API client's string values
//! arrive), so escaping sees arbitrary strings.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pkpass::strings::{self, Encoding};
use pkpass::{Limits, PassIdentity, PreparedTemplate, RenderInput, Template};
use serde_json::{Value, json};

fn templates() -> &'static [PreparedTemplate] {
    static TEMPLATES: OnceLock<Vec<PreparedTemplate>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let example = passmint_fuzz::repo_root().join("examples/storecard.pass");
        let example = Template::from_dir(&example, &Limits::default()).expect("the example template");
        let pass = std::fs::read(passmint_fuzz::repo_root().join("examples/storecard.pass/pass.json"))
            .expect("the example pass.json");
        let icon = std::fs::read(passmint_fuzz::repo_root().join("examples/storecard.pass/icon.png"))
            .expect("the example icon");
        let strings_text = "/* placeholders in strings, and in a comment: {{ member.id }} */\n// {{ member.tier }}\n\"MEMBER\" = \"{{ member.name }} ({{member.tier}})\";\n\"TERMS\" = \"{{ points }} points, {{ balance }}\";\n";
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("pass.json", pass),
            ("icon.png", icon),
            ("en.lproj/pass.strings", strings::encode(strings_text, Encoding::Utf8)),
            ("de.lproj/pass.strings", strings::encode(strings_text, Encoding::Utf16Le)),
            ("fr.lproj/pass.strings", strings::encode(strings_text, Encoding::Utf16Be)),
        ];
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in &files {
            zip.start_file(*name, zip::write::SimpleFileOptions::default()).expect("zip entry");
            zip.write_all(bytes).expect("zip write");
        }
        let zip = zip.finish().expect("zip").into_inner();
        let dynamic = Template::from_zip(&zip, &Limits::default()).expect("the placeholder template");
        vec![PreparedTemplate::new(example), PreparedTemplate::new(dynamic)]
    })
}

fn check(template: &PreparedTemplate, payload: &Value, overrides: &Value) {
    let input = RenderInput {
        payload,
        overrides,
        identity: PassIdentity {
            pass_type_identifier: "pass.com.example.fuzz",
            team_identifier: "FUZZTEAM",
            serial_number: "1",
            web_service: Some(("https://example.invalid/passkit", "0123456789abcdef")),
        },
    };
    let rendered = template.render_json(&input);
    let fingerprint = template.fingerprint(&input);
    assert_eq!(rendered.is_ok(), fingerprint.is_ok());
    if let Ok((pass, texts)) = rendered {
        assert!(serde_json::to_vec(&pass).is_ok());
        for text in texts {
            if let Err(e) = strings::parse(&text) {
                panic!("a rendered strings file doesn't parse: {e}\n{text}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let f = passmint_fuzz::fields(data, 3);
    let overrides = serde_json::from_slice(f[1]).unwrap_or(Value::Null);
    let text = String::from_utf8_lossy(f[2]);
    let hostile = json!({
        "member": {"id": text, "name": text, "tier": text},
        "points": text,
        "balance": text,
    });
    let payload: Option<Value> = serde_json::from_slice(f[0]).ok();
    for template in templates() {
        check(template, &hostile, &overrides);
        if let Some(payload) = &payload {
            check(template, payload, &overrides);
        }
    }
});
