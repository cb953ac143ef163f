//! Which of a device's passes changed since a tag.
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{MAX_DEVICE_ID_CHARS, MAX_PASS_TYPE_CHARS, PasskitError, segment};
use crate::app::AppState;

/// Most serial numbers returned at once. `lastUpdated` is then the tag of the last one
/// returned, so the device gets the rest on its next call: nothing is missed.
pub const MAX_SERIALS: i64 = 1000;
/// Longest `passesUpdatedSince` accepted (our tags are decimal `i64`s).
const MAX_TAG_CHARS: usize = 32;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SerialNumbers {
    serial_numbers: Vec<String>,
    /// A JSON string, as Apple's protocol has it.
    last_updated: String,
}

/// `passesUpdatedSince` from the raw query. A tag we never issued (not a number) is treated
/// as "no tag": the device gets all its passes, which can only mean an extra fetch, never a
/// missed update.
pub fn since(query: Option<&str>) -> Result<Option<i64>, PasskitError> {
    let Some(query) = query else { return Ok(None) };
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "passesUpdatedSince" {
            if value.len() > MAX_TAG_CHARS {
                return Err(PasskitError::BadRequest("passesUpdatedSince too long"));
            }
            return Ok(value.parse::<i64>().ok());
        }
    }
    Ok(None)
}

/// `GET /passkit/v1/devices/{device}/registrations/{passType}?passesUpdatedSince=<tag>`: 200
/// `{"serialNumbers": […], "lastUpdated": "<tag>"}`, or 204 when nothing changed since the tag
/// (or the device has no passes of that type). No authentication (Apple sends none).
pub async fn list(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, PasskitError> {
    let Path((device, pass_type)) = p.map_err(|_| PasskitError::BadRequest("path"))?;
    segment(&device, MAX_DEVICE_ID_CHARS, "deviceLibraryIdentifier")?;
    segment(&pass_type, MAX_PASS_TYPE_CHARS, "passTypeIdentifier")?;
    let since = since(query.as_deref())?;
    let rows = state
        .domain
        .serials_updated_since(&device, &pass_type, since, MAX_SERIALS)
        .await?;
    let Some(last) = rows.iter().map(|(_, tag)| *tag).max() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let serial_numbers: Vec<String> = rows.into_iter().map(|(serial, _)| serial).collect();
    state
        .domain
        .note_serials(&device, &pass_type, since, &serial_numbers, last);
    Ok(Json(SerialNumbers {
        serial_numbers,
        last_updated: last.to_string(),
    })
    .into_response())
}
