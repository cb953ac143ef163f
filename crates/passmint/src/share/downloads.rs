//! Downloads through a share link: the signed `.pkpass` (Safari on iOS opens the Add to Wallet
//! sheet for its type) and a bundle's `.pkpasses`.
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LAST_MODIFIED};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::headers::no_store;
use super::{ShareError, token_of};
use crate::app::{AppState, RequestId};
use crate::wire::{PKPASS_TYPE, http_date, pass_body};

/// Apple's type for a bundle of passes.
pub const PKPASSES_TYPE: &str = "application/vnd.apple.pkpasses";

/// `GET /p/{token}/pass.pkpass`.
pub async fn pass(
    State(state): State<AppState>,
    request_id: RequestId,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ShareError> {
    let token = token_of(path)?;
    let pass = state.domain.shared_pass(&token).await?;
    let signed = state.domain.signed_pass(&pass).await?;
    state
        .domain
        .share_downloaded(&pass, None, request_id.as_str())
        .await;
    let mut response = (StatusCode::OK, pass_body(signed.bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PKPASS_TYPE));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", signed.file_name)) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(signed.last_modified)) {
        headers.insert(LAST_MODIFIED, v);
    }
    no_store(&mut response);
    Ok(response)
}

/// `GET /b/{token}/passes.pkpasses`.
pub async fn bundle(
    State(state): State<AppState>,
    request_id: RequestId,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ShareError> {
    let token = token_of(path)?;
    let shared = state.domain.shared_bundle(&token).await?;
    let zip = state.domain.bundle_pkpasses(&shared.passes).await?;
    for pass in &shared.passes {
        state
            .domain
            .share_downloaded(pass, Some(&shared.bundle.id), request_id.as_str())
            .await;
    }
    let mut response = (
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static(PKPASSES_TYPE)),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"passes.pkpasses\""),
            ),
        ],
        zip,
    )
        .into_response();
    no_store(&mut response);
    Ok(response)
}
