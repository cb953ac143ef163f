//! Registering a device for a pass's updates, and unregistering it.
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{MAX_DEVICE_ID_CHARS, MAX_PUSH_TOKEN_CHARS, PasskitError, authorize, segment};
use crate::app::{AppState, RequestId};
use crate::domain::Registration;
use crate::store::RegisterOutcome;

type DevicePath = Result<Path<(String, String, String)>, PathRejection>;

fn path(p: DevicePath) -> Result<(String, String, String), PasskitError> {
    let Path((device, pass_type, serial)) = p.map_err(|_| PasskitError::BadRequest("path"))?;
    segment(&device, MAX_DEVICE_ID_CHARS, "deviceLibraryIdentifier")?;
    Ok((device, pass_type, serial))
}

/// The push token of a registration body `{"pushToken": "…"}`.
pub fn push_token(body: &[u8]) -> Result<String, PasskitError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| PasskitError::BadRequest("body is not JSON"))?;
    let token = value
        .get("pushToken")
        .and_then(Value::as_str)
        .ok_or(PasskitError::BadRequest("pushToken missing"))?;
    if token.len() > MAX_PUSH_TOKEN_CHARS {
        return Err(PasskitError::BadRequest("pushToken too long"));
    }
    // Only a token APNs could accept is stored (hex, 64–200 digits, kept lower-case), so junk
    // never reaches the push queue.
    let token = apns::DeviceToken::parse(token)
        .map_err(|_| PasskitError::BadRequest("pushToken is not an APNs device token"))?;
    Ok(token.as_str().to_string())
}

/// `POST /passkit/v1/devices/{device}/registrations/{passType}/{serial}`: 201 new, 200 already
/// registered (push token refreshed), 400 bad body, 401, 409 when the pass has
/// [`MAX_DEVICES_PER_PASS`] devices already, 413 over 4 KiB.
pub async fn register(
    State(state): State<AppState>,
    request_id: RequestId,
    headers: HeaderMap,
    p: DevicePath,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, PasskitError> {
    let result = async {
        let (device, pass_type, serial) = path(p)?;
        let body = super::body(body)?;
        let head = authorize(&state, &headers, &pass_type, &serial).await?;
        let token = push_token(&body)?;
        let registration = Registration {
            device,
            pass_type_identifier: pass_type.clone(),
            serial_number: serial.clone(),
            push_token: token,
        };
        let outcome = state
            .domain
            .register_device(&head, registration, request_id.as_str())
            .await?;
        Ok((outcome, head.id, pass_type, serial))
    }
    .await;
    match result {
        Ok((outcome, pass_id, pass_type, serial)) => {
            let status = match outcome {
                RegisterOutcome::Created => StatusCode::CREATED,
                RegisterOutcome::Refreshed => StatusCode::OK,
                RegisterOutcome::PassGone => {
                    // Deleted between the token check and the write: an unknown pass.
                    let error = PasskitError::Unauthorized;
                    record_fail(&state, &request_id, &error).await;
                    return Err(error);
                }
                RegisterOutcome::TooMany => {
                    let error = PasskitError::TooManyRegistrations;
                    record_fail(&state, &request_id, &error).await;
                    return Err(error);
                }
            };
            // PASSKIT_DEVICE_REGISTER_SUCCESS was written with the registration.
            tracing::debug!(%pass_id, %pass_type, %serial, "device registered");
            Ok(status)
        }
        Err(error) => {
            record_fail(&state, &request_id, &error).await;
            Err(error)
        }
    }
}

async fn record_fail(state: &AppState, request_id: &RequestId, error: &PasskitError) {
    let data = json!({ "status": error.status().as_u16(), "reason": error.to_string() });
    state.domain.registration_failed(request_id.as_str(), data).await;
}

/// `DELETE …/registrations/{passType}/{serial}`: 200 (also when the device was not
/// registered), 401.
pub async fn unregister(
    State(state): State<AppState>,
    request_id: RequestId,
    headers: HeaderMap,
    p: DevicePath,
) -> Result<StatusCode, PasskitError> {
    let (device, pass_type, serial) = path(p)?;
    let head = match authorize(&state, &headers, &pass_type, &serial).await {
        Ok(head) => head,
        Err(error) => {
            if matches!(error, PasskitError::Unauthorized) {
                state
                    .domain
                    .device_auth_failed(request_id.as_str(), "unregister")
                    .await;
            }
            return Err(error);
        }
    };
    state
        .domain
        .unregister_device(&head, &device, &pass_type, &serial, request_id.as_str())
        .await?;
    Ok(StatusCode::OK)
}
