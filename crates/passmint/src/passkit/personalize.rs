//! Rewards enrollment: what Wallet posts once the holder filled in the signup form.
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{MAX_PASS_TYPE_CHARS, MAX_SERIAL_CHARS, PasskitError, segment};
use crate::app::{AppState, RequestId};

/// Largest personalize body: the token and seven short strings fit in far less.
pub const MAX_PERSONALIZE_BYTES: usize = 16 * 1024;

/// `POST /passkit/v1/passes/{passType}/{serial}/personalize`, body
/// `{"personalizationToken": "…", "requiredPersonalizationInfo": {…}}` (Apple sends no
/// `Authorization`): 200 with the token's PKCS#7 detached signature
/// (`application/octet-stream`); 400 bad body or required fields missing, 404 no such pass or
/// not personalizable, 409 personalized before with other data, 413 over 16 KiB. The same
/// request again (Wallet retrying) is answered again without changing anything.
pub async fn personalize(
    State(state): State<AppState>,
    request_id: RequestId,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PasskitError> {
    let Path((pass_type, serial)) = p.map_err(|_| PasskitError::BadRequest("path"))?;
    segment(&pass_type, MAX_PASS_TYPE_CHARS, "passTypeIdentifier")?;
    segment(&serial, MAX_SERIAL_CHARS, "serialNumber")?;
    let parsed = super::body(body).and_then(|body| {
        pkpass::personalization::parse_request(&body).map_err(|problems| {
            tracing::info!(
                problems = %crate::logtext::escape(
                    &problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                ),
                "personalize body refused"
            );
            PasskitError::BadRequest("personalize body")
        })
    });
    let request = match parsed {
        Ok(request) => request,
        Err(error) => {
            state
                .domain
                .personalize_refused(
                    request_id.as_str(),
                    json!({ "status": error.status().as_u16(), "reason": error.to_string() }),
                )
                .await;
            return Err(error);
        }
    };
    let done = state
        .domain
        .personalize(&pass_type, &serial, &request, request_id.as_str())
        .await??;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))],
        done.signed_token,
    )
        .into_response())
}
