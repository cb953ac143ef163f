//! Messages devices send when something goes wrong on their side.
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde_json::Value;

use super::PasskitError;
use crate::app::{AppState, RequestId};

/// Most messages kept from one request; the rest are counted, not stored.
pub const MAX_MESSAGES_PER_REQUEST: usize = 100;
/// Longest message kept (characters); longer ones are cut.
pub const MAX_MESSAGE_CHARS: usize = 2048;

/// `POST /passkit/v1/log`, body `{"logs": ["…"]}`: 200. Each message is kept as a
/// `PASSKIT_DEVICE_LOG` device record (apart from the management events, capped by count and
/// bytes, repeats aggregated). 400 bad JSON, 413 over 64 KiB.
pub async fn receive(
    State(state): State<AppState>,
    request_id: RequestId,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, PasskitError> {
    let body = super::body(body)?;
    let (messages, dropped) = messages(&body)?;
    state
        .domain
        .device_logs(request_id.as_str(), &messages, dropped)
        .await;
    Ok(StatusCode::OK)
}

/// The messages of a log body `{"logs": ["…"]}` (at most [`MAX_MESSAGES_PER_REQUEST`], each cut
/// to [`MAX_MESSAGE_CHARS`]) and how many entries were not kept.
pub fn messages(body: &[u8]) -> Result<(Vec<String>, usize), PasskitError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| PasskitError::BadRequest("body is not JSON"))?;
    let logs = value
        .get("logs")
        .and_then(Value::as_array)
        .ok_or(PasskitError::BadRequest("logs missing"))?;
    let messages: Vec<String> = logs
        .iter()
        .filter_map(Value::as_str)
        .take(MAX_MESSAGES_PER_REQUEST)
        .map(|m| m.chars().take(MAX_MESSAGE_CHARS).collect())
        .collect();
    let dropped = logs.len() - messages.len();
    Ok((messages, dropped))
}
