//! `GET /assets/{templateId}/{revision}/{file}`: a template revision's images, public, for
//! Google Wallet to fetch (SPEC 13: Google takes images by URL). Only while Google Wallet is
//! on; everything else is a 404.
//!
//! The URL names the revision, so its bytes never change: `Cache-Control: public,
//! max-age=31536000, immutable`. Only the current revision is kept, so an older revision's URL
//! is a 404 rather than other bytes. Only top-level images (`.png`, `.jpg`, `.gif`) are served;
//! `pass.json`, `.strings` and anything in a folder are not. Hostile path input (a bad id, a
//! revision that is not a number, `..`, encoded slashes) is a 404, never a 500. The public rate
//! limit applies (`app::edge`).
mod error;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use error::AssetError;

use crate::app::AppState;
use crate::domain::TemplateId;

/// Google caches per URL; a year is the most HTTP caches honour.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn router() -> Router<AppState> {
    Router::new().route("/assets/{template_id}/{revision}/{file}", get(image))
}

/// One image of one template revision (and HEAD, which axum answers from GET).
async fn image(
    State(state): State<AppState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, AssetError> {
    let Path((template_id, revision, file)) = path.map_err(|_| AssetError::NotFound)?;
    if state.domain.google().is_none() {
        return Err(AssetError::NotFound);
    }
    let template_id = TemplateId::parse(&template_id).ok_or(AssetError::NotFound)?;
    let revision: i64 = revision
        .parse()
        .ok()
        .filter(|r| *r >= 1)
        .ok_or(AssetError::NotFound)?;
    if file.is_empty() || file.contains(['/', '\\']) || file.starts_with('.') {
        return Err(AssetError::NotFound);
    }
    let (bytes, content_type) = state
        .domain
        .google_asset(template_id.as_str(), revision, &file)
        .await?
        .ok_or(AssetError::NotFound)?;
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        bytes,
    )
        .into_response())
}
