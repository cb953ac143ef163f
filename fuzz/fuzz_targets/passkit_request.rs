//! The rest of what a device sends the PassKit routes: the path segments (device library id,
//! pass type, serial), the `passesUpdatedSince` query, `If-Modified-Since`, and
//! `Authorization: ApplePass …`. Each is checked before any storage is touched; none may panic.
//!
//! Input: `fields(data, 4)` = path segment, raw query, If-Modified-Since, Authorization.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use passmint::passkit::{self, serials};

fuzz_target!(|data: &[u8]| {
    let f = passmint_fuzz::fields(data, 4);
    let segment = String::from_utf8_lossy(f[0]);
    for max in [
        passkit::MAX_DEVICE_ID_CHARS,
        passkit::MAX_PASS_TYPE_CHARS,
        passkit::MAX_SERIAL_CHARS,
    ] {
        if passkit::segment(&segment, max, "segment").is_ok() {
            assert!(segment.chars().count() <= max && !segment.chars().any(char::is_control));
        }
    }
    let query = String::from_utf8_lossy(f[1]);
    if let Err(e) = serials::since(Some(&query)) {
        assert_eq!(e.status().as_u16(), 400);
    }
    if let Ok(text) = std::str::from_utf8(f[2]) {
        let _ = passmint::wire::parse_http_date(text);
    }
    if let Ok(value) = HeaderValue::from_bytes(f[3]) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        if let Some(token) = passkit::apple_pass_token(&headers) {
            assert!(!token.is_empty() && token.len() <= 512);
        }
    }
});
