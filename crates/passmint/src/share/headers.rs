//! The holder pages' security headers: nothing but this origin's stylesheet and inline
//! `data:` images may load, no script at all, never framed, never cached, no referrer.
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use base64::Engine;

/// A fresh per-response nonce for the page's one `<style>` (the pass's colours).
#[derive(Debug, Clone)]
pub struct Nonce(String);

impl Nonce {
    pub fn new() -> Self {
        let mut raw = [0u8; 18];
        rand::fill(&mut raw);
        Self(base64::engine::general_purpose::STANDARD.encode(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Nonce {
    fn default() -> Self {
        Self::new()
    }
}

/// The CSP of a page whose inline `<style>` carries `nonce`.
pub fn content_security_policy(nonce: &Nonce) -> String {
    format!(
        "default-src 'none'; style-src 'self' 'nonce-{}'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        nonce.as_str()
    )
}

/// `response` with the pages' headers.
pub fn secured(mut response: Response, nonce: &Nonce) -> Response {
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(nonce)) {
        headers.insert(CONTENT_SECURITY_POLICY, csp);
    }
    no_store(&mut response);
    response
}

/// The headers every public response here gets (downloads too).
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
}
