//! The PassKit web service's one error type. Apple's protocol answers errors with bare status
//! codes (no body); every failure of this module is mapped to its code here, once.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::issuing::IssueError;
use crate::store::StoreError;

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
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for PasskitError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "database unavailable");
            Self::Unavailable
        } else {
            tracing::error!(%error, "store failure");
            Self::Internal
        }
    }
}

impl From<IssueError> for PasskitError {
    fn from(error: IssueError) -> Self {
        match error {
            IssueError::Store(e) | IssueError::Signer(crate::signer::SignerError::Store(e)) => e.into(),
            other => {
                tracing::error!(error = %other, "rendering a pass for a device failed");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for PasskitError {
    fn into_response(self) -> Response {
        self.status().into_response()
    }
}
