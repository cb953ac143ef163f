//! The request checks APNs makes before it looks at the device token's state.

use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::Reply;

const PUSH_TYPES: &[&str] = &[
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
    "widgets",
    "controls",
];
const MAX_PAYLOAD: usize = 4096;

/// The device token in a `/3/device/<token>` path.
pub(crate) fn device_token(path: &str) -> Option<&str> {
    path.strip_prefix("/3/device/")
}

/// The error APNs would give this request, or `None` if it is acceptable.
pub(crate) fn check(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    has_client_certificate: bool,
) -> Option<Reply> {
    if *method != Method::POST {
        return Some(Reply::status(405, "MethodNotAllowed"));
    }
    let Some(token) = device_token(path) else {
        return Some(Reply::status(404, "BadPath"));
    };
    if token.is_empty() {
        return Some(Reply::status(400, "MissingDeviceToken"));
    }
    if token.len() < 64 || token.len() > 200 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(Reply::status(400, "BadDeviceToken"));
    }
    let apns_headers = [
        "apns-topic",
        "apns-push-type",
        "apns-priority",
        "apns-expiration",
        "apns-collapse-id",
        "apns-id",
        "authorization",
    ];
    if apns_headers
        .iter()
        .any(|name| headers.get_all(*name).iter().count() > 1)
    {
        return Some(Reply::status(400, "DuplicateHeaders"));
    }
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if !has_client_certificate && text("authorization").is_none() {
        return Some(Reply::status(403, "MissingProviderToken"));
    }
    if text("authorization").is_some_and(|v| !v.starts_with("bearer ")) {
        return Some(Reply::status(403, "InvalidProviderToken"));
    }
    match text("apns-topic") {
        None => return Some(Reply::status(400, "MissingTopic")),
        Some("") => return Some(Reply::status(400, "BadTopic")),
        Some(_) => {}
    }
    if text("apns-push-type").is_some_and(|t| !PUSH_TYPES.contains(&t)) {
        return Some(Reply::status(400, "InvalidPushType"));
    }
    if text("apns-priority").is_some_and(|p| !["1", "5", "10"].contains(&p)) {
        return Some(Reply::status(400, "BadPriority"));
    }
    if text("apns-expiration").is_some_and(|e| e.parse::<u64>().is_err()) {
        return Some(Reply::status(400, "BadExpirationDate"));
    }
    if text("apns-collapse-id").is_some_and(|c| c.len() > 64) {
        return Some(Reply::status(400, "BadCollapseId"));
    }
    if text("apns-id").is_some_and(|id| !is_uuid(id)) {
        return Some(Reply::status(400, "BadMessageId"));
    }
    if body.is_empty() {
        return Some(Reply::status(400, "PayloadEmpty"));
    }
    if body.len() > MAX_PAYLOAD {
        return Some(Reply::status(413, "PayloadTooLarge"));
    }
    None
}

fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}
