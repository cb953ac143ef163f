//! The dashboard's one error mapping: signed out → the sign-in page (keeping where the person
//! was going); anything else → an HTML page with the status and a plain message.
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::view::{Chrome, ErrorPage};
use crate::domain::DomainError;

#[derive(Debug)]
pub enum DashboardError {
    /// No (live) session: go sign in, then back to `next`.
    SignedOut {
        next: String,
    },
    /// A form without this session's CSRF token, or posted from another origin.
    Forbidden(&'static str),
    NotFound(&'static str),
    BadRequest(String),
    Domain(DomainError),
}

impl From<DomainError> for DashboardError {
    fn from(e: DomainError) -> Self {
        Self::Domain(e)
    }
}

/// `/dashboard/login?next=…`, with `next` percent-encoded.
pub fn login_url(next: &str) -> String {
    let mut out = String::from("/dashboard/login?next=");
    for b in next.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A page of the dashboard, with its CSP.
pub fn page(status: StatusCode, html: String, nonce: &str) -> Response {
    let csp = format!(
        "default-src 'none'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Not `no-referrer`: with it, browsers send `Origin: null` on the forms' POSTs, and the
    // origin check needs the real one. Other sites still get no referrer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            Self::SignedOut { next } => {
                return (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, login_url(&next))],
                    [(header::CACHE_CONTROL, "no-store")],
                )
                    .into_response();
            }
            Self::Forbidden(why) => (StatusCode::FORBIDDEN, "Refused", why.to_string()),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, "Not found", format!("No such {what}.")),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "Bad request", message),
            Self::Domain(e) => match e {
                DomainError::NotFound(missing) => (
                    StatusCode::NOT_FOUND,
                    "Not found",
                    format!("No such {}.", missing.noun()),
                ),
                DomainError::Invalid { .. } | DomainError::Conflict { .. } => {
                    let mut text = e.to_string();
                    for p in e.problems() {
                        text.push_str(&format!(" {}: {}.", p.param, p.msg));
                    }
                    (StatusCode::BAD_REQUEST, "Not accepted", text)
                }
                DomainError::TooLarge { message } => (StatusCode::PAYLOAD_TOO_LARGE, "Too large", message),
                DomainError::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The database does not answer; try again shortly.".to_string(),
                ),
                DomainError::Internal(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "An internal error happened; it is in the server's log.".to_string(),
                ),
            },
        };
        let chrome = Chrome::bare(heading);
        let html = ErrorPage {
            c: &chrome,
            heading,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        page(status, html, &chrome.nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_link_keeps_the_page_and_its_query() {
        assert_eq!(
            login_url("/dashboard/passes?serial=A B&x=1"),
            "/dashboard/login?next=/dashboard/passes%3Fserial%3DA%20B%26x%3D1"
        );
    }
}
