//! A `.p12` (PKCS#12) as `passmint sign --key x.p12` reads one: opening it with a passphrase and
//! checking what it holds against the WWDR certificate must never panic.
//!
//! Input: `fields(data, 3)` = passphrase, WWDR PEM, the .p12.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkpass::SigningIdentity;

fuzz_target!(|data: &[u8]| {
    let f = passmint_fuzz::fields(data, 3);
    let passphrase = String::from_utf8_lossy(f[0]);
    if let Ok(identity) = SigningIdentity::from_p12(f[2], &passphrase, f[1]) {
        let _ = identity.expires_at();
    }
});
