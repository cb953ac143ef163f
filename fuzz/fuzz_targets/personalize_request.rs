//! Wallet's personalize body (`{"personalizationToken": …, "requiredPersonalizationInfo": {…}}`),
//! as `POST /passkit/v1/passes/{type}/{serial}/personalize` reads it: a bounded token and
//! bounded, documented members out, or problems naming what is wrong; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkpass::personalization::{INFO_KEYS, MAX_TOKEN_BYTES, MAX_VALUE_CHARS, parse_request};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(request) => {
            assert!(!request.token.is_empty() && request.token.len() <= MAX_TOKEN_BYTES);
            for key in request.info.keys() {
                assert!(INFO_KEYS.contains(&key));
                let value = request.info.get(key).unwrap();
                assert!(value.chars().count() <= MAX_VALUE_CHARS);
                assert!(!value.chars().any(char::is_control));
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            assert!(problems.iter().all(|p| p.location.chars().count() <= 128));
        }
    }
});
