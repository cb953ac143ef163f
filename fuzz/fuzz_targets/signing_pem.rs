//! Signing material as a template upload carries it: the pass type certificate, its key (PEM
//! or DER, encrypted or not), the WWDR certificate, and the key's passphrase. Loading it, and
//! checking the certificate against identifiers, must never panic.
//!
//! Input: `fields(data, 4)` = certificate, key, WWDR, passphrase (see `passmint_fuzz::fields`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkpass::{SigningIdentity, SigningMaterial};

fuzz_target!(|data: &[u8]| {
    let f = passmint_fuzz::fields(data, 4);
    let passphrase = String::from_utf8_lossy(f[3]);
    let material = SigningMaterial {
        signer_cert: f[0],
        signer_key: f[1],
        passphrase: Some(&passphrase),
        wwdr: f[2],
    };
    let _ = pkpass::sign::check_certificate_identifiers(f[0], "pass.com.example.test", "TEAM123456");
    if let Ok(identity) = SigningIdentity::load(material) {
        let _ = identity.expires_at();
        let _ = identity.pass_type_identifier();
        let _ = identity.team_identifier();
    }
});
