//! A device's log body (`{"logs": ["…"]}`), as `POST /passkit/v1/log` reads it: bounded
//! messages out, or a 400.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passmint::passkit::log::{MAX_MESSAGE_CHARS, MAX_MESSAGES_PER_REQUEST, messages};

fuzz_target!(|data: &[u8]| {
    match messages(data) {
        Ok((kept, _dropped)) => {
            assert!(kept.len() <= MAX_MESSAGES_PER_REQUEST);
            assert!(kept.iter().all(|m| m.chars().count() <= MAX_MESSAGE_CHARS));
        }
        Err(e) => assert_eq!(e.status().as_u16(), 400, "{e}"),
    }
});
