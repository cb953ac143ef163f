//! Bearer-token authentication of the management API.
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::app::AppState;
use crate::tokens;

/// Proof that the request carries a valid admin token: `PASSMINT_ADMIN_TOKEN` (compared in
/// constant time) or one made by `passmint token create` (looked up by hash).
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if is_admin(state, &parts.headers).await? {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// Whether `headers` carry a valid admin bearer token.
pub async fn is_admin(state: &AppState, headers: &axum::http::HeaderMap) -> Result<bool, ApiError> {
    let Some(token) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
    else {
        return Ok(false);
    };
    if let Some(admin) = &state.settings.admin_token
        && tokens::equal(token, admin.expose())
    {
        return Ok(true);
    }
    Ok(state.domain.api_token_exists(&tokens::hash(token)).await?)
}
