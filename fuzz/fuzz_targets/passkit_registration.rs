//! A device's registration body (`{"pushToken": "…"}`), as `POST …/registrations/…` reads it:
//! a bad body is a 400 naming the problem, a good one yields a token APNs could accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passmint::passkit::registrations::push_token;

fuzz_target!(|data: &[u8]| {
    match push_token(data) {
        Ok(token) => {
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
            assert!(apns::DeviceToken::parse(&token).is_ok());
        }
        Err(e) => assert_eq!(e.status().as_u16(), 400, "{e}"),
    }
});
