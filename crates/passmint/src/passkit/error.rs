//! The PassKit web service's one error type. Apple's protocol answers errors with bare status
//! codes (no body); every failure of this module is mapped to its code here, once.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::DomainError;
use crate::domain::personalize::Refusal;

#[derive(Debug, Clone, thiserror::Error)]
pub enum PasskitError {
    /// Malformed body, path segment or query (400).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// Missing, malformed or wrong `ApplePass` token, or no such pass (401).
    #[error("unauthorized")]
    Unauthorized,
    /// The pass already has the most devices a pass may have (409).
    #[error("too many devices registered for this pass")]
    TooManyRegistrations,
    /// No such pass, on a route that takes no token (404).
    #[error("not found")]
    NotFound,
    /// The pass was personalized before, with other data (409).
    #[error("already personalized")]
    AlreadyPersonalized,
    /// Body over the route's cap (413).
    #[error("request body too large")]
    TooLarge,
    /// The database is unavailable (503).
    #[error("database unavailable")]
    Unavailable,
    /// A bug or damaged data (500).
    #[error("internal error")]
    Internal,
}

impl PasskitError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::TooManyRegistrations => StatusCode::CONFLICT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyPersonalized => StatusCode::CONFLICT,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The PassKit service's one mapping of domain errors to Apple's status codes.
impl From<DomainError> for PasskitError {
    fn from(error: DomainError) -> Self {
        match error {
            // A pass that exists but no longer renders with its template is the server's
            // problem as far as the device is concerned.
            DomainError::Invalid { .. } | DomainError::Internal(_) => Self::Internal,
            DomainError::NotFound(_) => Self::Unauthorized,
            DomainError::Conflict { .. } => Self::TooManyRegistrations,
            DomainError::TooLarge { .. } => Self::TooLarge,
            DomainError::Unavailable(_) => Self::Unavailable,
        }
    }
}

/// The PassKit service's mapping of a refused personalization: an unknown pass and one that
/// offers no enrollment look the same from outside (404, the route takes no token).
impl From<Refusal> for PasskitError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::UnknownPass | Refusal::NotPersonalizable => Self::NotFound,
            Refusal::Unanswered(_) => Self::BadRequest("required personalization fields missing"),
            Refusal::Unrenderable => Self::BadRequest("the personalized pass does not render"),
            Refusal::AlreadyPersonalized => Self::AlreadyPersonalized,
        }
    }
}

impl IntoResponse for PasskitError {
    fn into_response(self) -> Response {
        self.status().into_response()
    }
}
