//! The management API's one error type and its wire shape `{code, message, details}`.
//! Every failure of the management API becomes an [`ApiError`] here, in one place.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{DomainError, Problem};

/// One problem with the request: `param` names the form field or query parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Detail {
    pub param: String,
    pub location: String,
    pub msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Detail {
    /// A problem with a multipart/JSON body field.
    pub fn body(param: &str, msg: impl Into<String>) -> Self {
        Self {
            param: param.to_string(),
            location: "body".into(),
            msg: msg.into(),
            value: None,
        }
    }

    /// A problem with a query parameter.
    pub fn query(param: &str, msg: impl Into<String>, value: &str) -> Self {
        Self {
            param: param.to_string(),
            location: "query".into(),
            msg: msg.into(),
            value: Some(value.to_string()),
        }
    }

    /// A problem with a path parameter.
    pub fn path(param: &str, msg: impl Into<String>, value: &str) -> Self {
        Self {
            param: param.to_string(),
            location: "path".into(),
            msg: msg.into(),
            value: Some(value.to_string()),
        }
    }

    #[must_use]
    pub fn with_value(mut self, value: &str) -> Self {
        self.value = Some(value.to_string());
        self
    }
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub details: Vec<Detail>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Vec<Detail>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>, details: Vec<Detail>) -> Self {
        Self {
            details,
            ..Self::new(StatusCode::BAD_REQUEST, message)
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "missing or invalid bearer token")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is unavailable, try again later",
        )
    }

    /// 503 for a request that ran past the request time limit.
    pub fn timed_out(limit_seconds: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than the {limit_seconds} s limit (PASSMINT_REQUEST_TIMEOUT_SECONDS)"
            ),
        )
    }

    /// The SPEC's `code` for this status.
    pub fn code(&self) -> &'static str {
        code_for(self.status)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_string(),
            message: self.message.clone(),
            details: self.details.clone(),
        }
    }
}

/// The SPEC's error `code` for a status.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequestError",
        401 => "UnauthorizedError",
        404 => "NotFoundError",
        405 => "MethodNotAllowedError",
        409 => "ConflictError",
        413 => "PayloadTooLargeError",
        503 => "ServiceUnavailableError",
        _ => "InternalServerError",
    }
}

impl From<&Problem> for Detail {
    fn from(p: &Problem) -> Self {
        let detail = Detail::body(&p.param, p.msg.clone());
        match &p.value {
            Some(v) => detail.with_value(v),
            None => detail,
        }
    }
}

/// The management API's one mapping of domain errors to the wire.
impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let details = |problems: &[Problem]| problems.iter().map(Detail::from).collect();
        match &error {
            DomainError::Invalid { message, problems } => {
                Self::bad_request(message.clone(), details(problems))
            }
            DomainError::NotFound(what) => Self::not_found(format!("{} not found", what.noun())),
            DomainError::Conflict { message, problems } => Self {
                details: details(problems),
                ..Self::conflict(message.clone())
            },
            DomainError::TooLarge { message } => Self::payload_too_large(message.clone()),
            DomainError::Unavailable(_) => Self::unavailable(),
            DomainError::Internal(_) => Self::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
