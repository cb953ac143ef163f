//! The latest version of a pass, for a device.
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_TYPE, IF_MODIFIED_SINCE, LAST_MODIFIED};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{PasskitError, authorize};
use crate::app::{AppState, RequestId};
use crate::domain::PassId;
use crate::wire::{PKPASS_TYPE, http_date, parse_http_date, pass_body};

/// `GET /passkit/v1/passes/{passType}/{serial}` (and HEAD): 200 with the signed pass and
/// `Last-Modified`; 304 when `If-Modified-Since` is at or after the pass's `Last-Modified`
/// (decided from the token lookup alone: no payload loaded, nothing rendered); 401.
pub async fn latest(
    State(state): State<AppState>,
    request_id: RequestId,
    method: Method,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, PasskitError> {
    let Path((pass_type, serial)) = p.map_err(|_| PasskitError::BadRequest("path"))?;
    let head = match authorize(&state, &headers, &pass_type, &serial).await {
        Ok(head) => head,
        Err(error) => {
            if matches!(error, PasskitError::Unauthorized) {
                state.domain.device_auth_failed(request_id.as_str(), "pass").await;
            }
            return Err(error);
        }
    };
    let last_modified =
        HeaderValue::from_str(&http_date(head.last_modified)).map_err(|_| PasskitError::Internal)?;
    let since = headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    if since.is_some_and(|s| s >= head.last_modified) {
        state.domain.note_fetch(&head.id, 304, since);
        return Ok((StatusCode::NOT_MODIFIED, [(LAST_MODIFIED, last_modified)]).into_response());
    }
    let content_type = HeaderValue::from_static(PKPASS_TYPE);
    if method == Method::HEAD {
        return Ok((
            StatusCode::OK,
            [(CONTENT_TYPE, content_type), (LAST_MODIFIED, last_modified)],
        )
            .into_response());
    }
    state.domain.note_fetch(&head.id, 200, since);
    let pass = state.domain.pass(&PassId::from_stored(head.id)).await?;
    let signed = state.domain.signed_pass(&pass).await?;
    // The pass may have changed between the two reads: its own Last-Modified goes out.
    let last_modified =
        HeaderValue::from_str(&http_date(signed.last_modified)).map_err(|_| PasskitError::Internal)?;
    Ok((
        StatusCode::OK,
        [(CONTENT_TYPE, content_type), (LAST_MODIFIED, last_modified)],
        pass_body(signed.bytes),
    )
        .into_response())
}
