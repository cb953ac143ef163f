//! Apple's PassKit Web Service v1 (SPEC 3), mounted at `/passkit`: what Wallet on an iPhone
//! calls to register for updates, learn which passes changed, fetch them, and send logs.
//!
//! Hostile input is cut off early: each route has a small body cap (4 KiB for a registration,
//! 16 KiB for a personalization, 64 KiB for logs: 413 beyond), path segments longer than any real identifier are refused
//! with 400 before any storage is touched, and a token check is one index lookup by
//! (pass type, serial number) plus a constant-time comparison.
use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::domain::SerialNumber;
use crate::store::PassHead;
use crate::tokens;

pub mod error;
pub mod log;
pub mod passes;
pub mod personalize;
pub mod registrations;
pub mod serials;

pub use error::PasskitError;

/// Where the service is mounted (`webServiceURL = PUBLIC_URL/passkit`).
pub const MOUNT: &str = "/passkit";
/// Largest registration body (`{"pushToken": "…"}`).
pub const MAX_REGISTRATION_BYTES: usize = 4 * 1024;
/// Largest log body.
pub const MAX_LOG_BYTES: usize = 64 * 1024;
/// Longest device library identifier accepted (Apple's are 32 hex characters).
pub const MAX_DEVICE_ID_CHARS: usize = 128;
/// Longest pass type identifier accepted.
pub const MAX_PASS_TYPE_CHARS: usize = 255;
/// Longest serial number accepted (the management API issues at most 128).
pub const MAX_SERIAL_CHARS: usize = SerialNumber::MAX_CHARS;
/// Longest push token accepted (Apple's are 64 hex characters today).
pub const MAX_PUSH_TOKEN_CHARS: usize = 256;
/// Most devices one pass may be registered on; more registrations get 409. A pass is one
/// holder's card: a thousand devices is far beyond any real use, and it bounds what one leaked
/// token can make the server store. (Registrations are group-committed; a burst arriving in
/// one batch can overshoot the cap by at most the batch size, see `domain::registrations`.)
pub const MAX_DEVICES_PER_PASS: i64 = 1000;

pub fn router() -> Router<AppState> {
    let device = format!("{MOUNT}/v1/devices/{{device}}/registrations/{{pass_type}}");
    Router::new()
        .route(
            &format!("{device}/{{serial}}"),
            post(registrations::register).delete(registrations::unregister),
        )
        .layer(DefaultBodyLimit::max(MAX_REGISTRATION_BYTES))
        .route(&device, get(serials::list))
        .route(
            &format!("{MOUNT}/v1/passes/{{pass_type}}/{{serial}}"),
            get(passes::latest),
        )
        .merge(
            Router::new()
                .route(&format!("{MOUNT}/v1/log"), post(log::receive))
                .layer(DefaultBodyLimit::max(MAX_LOG_BYTES)),
        )
        .merge(
            Router::new()
                .route(
                    &format!("{MOUNT}/v1/passes/{{pass_type}}/{{serial}}/personalize"),
                    post(personalize::personalize),
                )
                .layer(DefaultBodyLimit::max(personalize::MAX_PERSONALIZE_BYTES)),
        )
}

/// A path segment within `max` characters and free of control characters, or 400.
pub fn segment(value: &str, max: usize, what: &'static str) -> Result<(), PasskitError> {
    if value.is_empty() || value.len() > max * 4 || value.chars().count() > max {
        return Err(PasskitError::BadRequest(what));
    }
    if value.chars().any(char::is_control) {
        return Err(PasskitError::BadRequest(what));
    }
    Ok(())
}

/// Checks `pass_type`/`serial` and the request's `Authorization: ApplePass <token>` against
/// the pass; the pass's head on success, 401 for a missing, malformed or wrong token or an
/// unknown pass.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    pass_type: &str,
    serial: &str,
) -> Result<PassHead, PasskitError> {
    segment(pass_type, MAX_PASS_TYPE_CHARS, "passTypeIdentifier")?;
    segment(serial, MAX_SERIAL_CHARS, "serialNumber")?;
    let token = apple_pass_token(headers).ok_or(PasskitError::Unauthorized)?;
    let head = state
        .domain
        .pass_head(pass_type, serial)
        .await?
        .ok_or(PasskitError::Unauthorized)?;
    if tokens::equal(token, &head.auth_token) {
        Ok(head)
    } else {
        Err(PasskitError::Unauthorized)
    }
}

/// The token of `Authorization: ApplePass <token>`, if the header has that shape.
pub fn apple_pass_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme == "ApplePass" && !token.is_empty() && token.len() <= 512).then_some(token)
}

/// The body, or 413 over the route's cap / 400 when unreadable.
pub fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, PasskitError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            PasskitError::TooLarge
        } else {
            PasskitError::BadRequest("unreadable body")
        }
    })
}
