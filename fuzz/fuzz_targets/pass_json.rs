//! `pass.json` bytes: parsing and every check, as a template's and as a rendered pass's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkpass::Findings;
use pkpass::pass_json::{self, Mode};

fuzz_target!(|data: &[u8]| {
    let mut findings = Findings::default();
    let Some(map) = pass_json::parse(data, &mut findings) else {
        return;
    };
    pass_json::check(&map, Mode::Template, &mut findings);
    let mut findings = Findings::default();
    pass_json::check(&map, Mode::Rendered, &mut findings);
});
