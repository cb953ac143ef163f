//! Passes reach people (SPEC 9): the public holder page of a pass (`/p/{token}`), its download
//! (`/p/{token}/pass.pkpass`), the bundle page (`/b/{token}`) and its `.pkpasses`.
//!
//! No authentication: the unguessable token in the path is the key. The routes sit behind the
//! same per-client rate limit and listener limits as the PassKit routes (`app::edge`,
//! `listener`), answer anything that isn't a current token with the same 404 page, and send
//! strict headers (`headers.rs`): the pages load this origin's stylesheet and `data:` images
//! only, and need no JavaScript (there is none).
use axum::Router;
use axum::routing::get;

use crate::app::AppState;

mod downloads;
pub mod error;
pub mod headers;
mod pages;

pub use error::ShareError;

/// Where the pages' stylesheet is served (the preview's, then the page's own).
pub const STYLESHEET_PATH: &str = "/share/style.css";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/p/{token}", get(pages::holder))
        .route("/p/{token}/pass.pkpass", get(downloads::pass))
        .route("/b/{token}", get(pages::bundle))
        .route("/b/{token}/passes.pkpasses", get(downloads::bundle))
        .route("/p/", get(not_found))
        .route("/b/", get(not_found))
        .route(STYLESHEET_PATH, get(pages::stylesheet))
}

async fn not_found() -> ShareError {
    ShareError::NotFound
}

/// A token from the path: anything the router matched, or 400 when it isn't UTF-8.
fn token_of(
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ShareError> {
    path.map(|p| p.0)
        .map_err(|_| ShareError::BadRequest("the link is not valid text"))
}
