//! A signed `.pkpass` as `passmint lint FILE.pkpass` reads one, made by anything: checking its
//! zip, manifest, signature, chain, times and contents must never panic, and a pass found clean
//! has a manifest entry for every file.
//!
//! Input: `fields(data, 2)` = extra root certificates (PEM, may be empty), the .pkpass.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkpass::verify::{self, Options};

fuzz_target!(|data: &[u8]| {
    let f = passmint_fuzz::fields(data, 2);
    let options = Options {
        extra_roots: openssl::x509::X509::stack_from_pem(f[0]).unwrap_or_default(),
        // A fixed clock: the same input gives the same findings.
        now: time::OffsetDateTime::from_unix_timestamp(1_790_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        ..Options::default()
    };
    let _ = verify::looks_signed(f[1]);
    let findings = verify::check(f[1], &options);
    if findings.is_ok() {
        let files = zip::ZipArchive::new(std::io::Cursor::new(f[1])).expect("a clean pass is a zip");
        assert!(
            files.len() >= 3,
            "a clean pass holds pass.json, manifest.json and signature"
        );
    }
});
