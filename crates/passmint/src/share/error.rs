//! The holder pages' one error type, answered as a small HTML page with the same strict
//! headers as the pages themselves (SPEC 9: unknown, replaced or deleted → 404 HTML page).
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::headers::{Nonce, secured};
use crate::domain::DomainError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ShareError {
    /// No such link (unknown, replaced, deleted, or not even shaped like one): 404.
    #[error("not found")]
    NotFound,
    /// A malformed request (a path that isn't UTF-8, …): 400.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The database is unavailable, or the pass can't be rendered right now: 503.
    #[error("unavailable")]
    Unavailable,
    /// A bug or damaged data: 500.
    #[error("internal error")]
    Internal,
}

impl ShareError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn heading(&self) -> &'static str {
        match self {
            Self::NotFound => "This link leads to no pass",
            Self::BadRequest(_) => "This link is malformed",
            Self::Unavailable => "This pass can't be shown right now",
            Self::Internal => "Something went wrong",
        }
    }

    fn explanation(&self) -> &'static str {
        match self {
            Self::NotFound => {
                "It may have been replaced by a newer link, or the pass was removed. Ask whoever sent it for a new one."
            }
            Self::BadRequest(_) => "Check that the whole link was copied.",
            Self::Unavailable => "Please try again in a moment.",
            Self::Internal => "Please try again later.",
        }
    }
}

/// The holder pages' one mapping of domain errors.
impl From<DomainError> for ShareError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::NotFound(_) => Self::NotFound,
            // A pass that no longer renders with its template's current revision is not the
            // visitor's fault, and may pass (the template is being fixed).
            DomainError::Invalid { .. } | DomainError::Conflict { .. } | DomainError::Unavailable(_) => {
                Self::Unavailable
            }
            DomainError::TooLarge { .. } | DomainError::Internal(_) => Self::Internal,
        }
    }
}

#[derive(Template)]
#[template(path = "share/error.html")]
struct ErrorPage<'a> {
    nonce: &'a str,
    status: u16,
    heading: &'a str,
    explanation: &'a str,
}

impl IntoResponse for ShareError {
    fn into_response(self) -> Response {
        let nonce = Nonce::new();
        let html = ErrorPage {
            nonce: nonce.as_str(),
            status: self.status().as_u16(),
            heading: self.heading(),
            explanation: self.explanation(),
        }
        .render()
        .unwrap_or_else(|_| self.heading().to_string());
        secured(
            (self.status(), axum::response::Html(html)).into_response(),
            &nonce,
        )
    }
}
