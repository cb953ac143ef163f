//! The holder page of a pass and the page of a bundle: the pass previewed as Wallet shows it,
//! the Add to Apple Wallet button, and a QR code of the page for someone on a desktop.
use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};

use super::headers::{Nonce, secured};
use super::{STYLESHEET_PATH, ShareError, token_of};
use crate::app::AppState;
use crate::preview::{PassPreview, qr_svg};
use crate::store::PassRecord;

/// The page's own layout, served after the preview's stylesheet.
const PAGE_CSS: &str = include_str!("page.css");

/// One previewed pass on a page.
pub struct PassView {
    pub preview: PassPreview,
    pub front: String,
    pub back: String,
}

/// What the holder page shows (the model the template renders).
#[derive(Template)]
#[template(path = "share/holder.html")]
pub struct HolderPage {
    pub nonce: String,
    pub stylesheet: String,
    pub title: String,
    pub lang: String,
    pub css_rules: String,
    pub pass: PassView,
    /// Relative link to the `.pkpass` (works behind any path prefix).
    pub download_href: String,
    /// The page's own public URL, drawn as a QR code for desktop visitors.
    pub page_url: String,
    pub page_qr: String,
    /// "Save to Google Wallet" (SPEC 13), when that is on for the pass's template.
    pub google_save_url: Option<String>,
}

/// What the bundle page shows.
#[derive(Template)]
#[template(path = "share/bundle.html")]
pub struct BundlePage {
    pub nonce: String,
    pub stylesheet: String,
    pub title: String,
    pub lang: String,
    pub css_rules: String,
    pub passes: Vec<PassView>,
    pub download_href: String,
    pub page_url: String,
    pub page_qr: String,
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 512)
}

/// The preview of a stored pass, in the visitor's language.
async fn view(state: &AppState, pass: &PassRecord, language: Option<&str>) -> Result<PassView, ShareError> {
    let signed = state.domain.signed_pass(pass).await?;
    let bytes = signed.bytes.to_vec();
    let language = language.map(str::to_string);
    let mut preview =
        tokio::task::spawn_blocking(move || PassPreview::from_pkpass(&bytes, language.as_deref()))
            .await
            .map_err(|_| ShareError::Internal)?
            .map_err(|e| {
                tracing::error!(error = %e, pass_id = %pass.id, "a signed pass could not be read back");
                ShareError::Internal
            })?;
    preview.voided |= pass.voided;
    Ok(PassView {
        front: preview.front_html(),
        back: preview.back_html(),
        preview,
    })
}

fn page_title(preview: &PassPreview) -> String {
    [preview.organization_name.as_str(), preview.description.as_str()]
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or("Your pass")
        .to_string()
}

fn html(page: impl Template, nonce: &Nonce) -> Result<Response, ShareError> {
    let text = page.render().map_err(|e| {
        tracing::error!(error = %e, "a holder page did not render");
        ShareError::Internal
    })?;
    Ok(secured(Html(text).into_response(), nonce))
}

/// `GET /p/{token}`.
pub async fn holder(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ShareError> {
    let token = token_of(path)?;
    let record = state.domain.shared_pass(&token).await?;
    let pass = view(&state, &record, accept_language(&headers)).await?;
    // SPEC 13: the Google Wallet button, when Google Wallet is on for this pass's template.
    let google_save_url = state.domain.google_save_url(&record).await?;
    let nonce = Nonce::new();
    let page_url = format!("{}/p/{token}", state.public_url);
    let page = HolderPage {
        nonce: nonce.as_str().to_string(),
        stylesheet: format!("..{STYLESHEET_PATH}"),
        title: page_title(&pass.preview),
        lang: pass.preview.language.clone().unwrap_or_else(|| "en".into()),
        css_rules: pass.preview.css_rules(),
        download_href: format!("{token}/pass.pkpass"),
        page_qr: qr_svg(&page_url),
        page_url,
        google_save_url,
        pass,
    };
    html(page, &nonce)
}

/// `GET /b/{token}`.
pub async fn bundle(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ShareError> {
    let token = token_of(path)?;
    let shared = state.domain.shared_bundle(&token).await?;
    let language = accept_language(&headers);
    let mut passes = Vec::with_capacity(shared.passes.len());
    for pass in &shared.passes {
        passes.push(view(&state, pass, language).await?);
    }
    let nonce = Nonce::new();
    let page_url = format!("{}/b/{token}", state.public_url);
    let page = BundlePage {
        nonce: nonce.as_str().to_string(),
        stylesheet: format!("..{STYLESHEET_PATH}"),
        title: match passes.len() {
            1 => "1 pass".to_string(),
            n => format!("{n} passes"),
        },
        lang: passes
            .first()
            .and_then(|p| p.preview.language.clone())
            .unwrap_or_else(|| "en".into()),
        css_rules: passes.iter().map(|p| p.preview.css_rules()).collect(),
        download_href: format!("{token}/passes.pkpasses"),
        page_qr: qr_svg(&page_url),
        page_url,
        passes,
    };
    html(page, &nonce)
}

/// `GET /share/style.css`: the preview's stylesheet, then the page's.
pub async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        format!("{}\n{PAGE_CSS}", crate::preview::STYLESHEET),
    )
        .into_response()
}
