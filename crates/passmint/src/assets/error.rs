//! The assets route's one error type: bare status codes, like any static file server.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::DomainError;

#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum AssetError {
    /// No such image (or Google Wallet is off, or the path is not one passmint makes).
    #[error("not found")]
    NotFound,
    /// The database is unavailable (503).
    #[error("unavailable")]
    Unavailable,
    /// A bug or damaged data (500).
    #[error("internal error")]
    Internal,
}

/// The assets route's one mapping of domain errors.
impl From<DomainError> for AssetError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::NotFound(_) | DomainError::Invalid { .. } => Self::NotFound,
            DomainError::Unavailable(_) => Self::Unavailable,
            DomainError::Conflict { .. } | DomainError::TooLarge { .. } | DomainError::Internal(_) => {
                tracing::warn!(%error, "cannot serve an asset");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for AssetError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        status.into_response()
    }
}
