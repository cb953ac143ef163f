//! A template .zip as uploaded (and as `passmint lint` reads one): reading and checking it,
//! then preparing it for issuing and rendering it once, must never panic whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkpass::{Limits, PassIdentity, PreparedTemplate, RenderInput, Template};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(template) = Template::from_zip(data, &Limits::default()) else {
        return;
    };
    // A template that was accepted must be preparable and renderable (placeholders may be
    // missing: that is an error, not a panic).
    let prepared = PreparedTemplate::new(template);
    let input = RenderInput {
        payload: &Value::Null,
        overrides: &Value::Null,
        identity: PassIdentity {
            pass_type_identifier: "pass.com.example.fuzz",
            team_identifier: "FUZZTEAM",
            serial_number: "1",
            web_service: Some(("https://example.invalid/passkit", "0123456789abcdef")),
        },
    };
    let _ = prepared.fingerprint(&input);
});
