//! The domain's one error type. It names what went wrong in the caller's terms (which field,
//! which item) and knows no protocol: each surface maps it to its wire once (`api::error`,
//! `passkit::error`).
use crate::store::StoreError;

/// One problem with what the caller sent: `param` names the member at fault (`payload`,
/// `items[3].serialNumber`, `signerCert`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub param: String,
    pub msg: String,
    /// The offending value, when showing it helps and it is no secret.
    pub value: Option<String>,
}

impl Problem {
    pub fn new(param: impl Into<String>, msg: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            msg: msg.into(),
            value: None,
        }
    }

    #[must_use]
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// The same problem under `prefix` (`payload` → `items[3].payload`).
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        self.param = format!("{prefix}.{}", self.param);
        self
    }
}

/// What a resource lookup did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Template,
    Pass,
    Rollout,
    Webhook,
    Bundle,
}

impl Missing {
    pub fn noun(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::Pass => "pass",
            Self::Rollout => "rollout",
            Self::Webhook => "webhook",
            Self::Bundle => "bundle",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// The caller's input is wrong; every problem found, not just the first.
    #[error("{message}")]
    Invalid { message: String, problems: Vec<Problem> },
    #[error("{} not found", .0.noun())]
    NotFound(Missing),
    /// The request collides with what is stored (a serial number taken, a concurrent change).
    #[error("{message}")]
    Conflict { message: String, problems: Vec<Problem> },
    /// Something the caller sent is over a configured limit.
    #[error("{message}")]
    TooLarge { message: String },
    /// The database can't be reached: try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug, damaged data or a failed background task. Logged where it is made; the caller
    /// only learns that it was the server's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(message: impl Into<String>, problems: Vec<Problem>) -> Self {
        Self::Invalid {
            message: message.into(),
            problems,
        }
    }

    pub fn conflict(message: impl Into<String>, problems: Vec<Problem>) -> Self {
        Self::Conflict {
            message: message.into(),
            problems,
        }
    }

    /// An internal error, logged once here with what the operator needs to find it.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        let text = what.to_string();
        tracing::error!(error = %text, "internal error");
        Self::Internal(text)
    }

    /// The problems to show, if any.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems, .. } | Self::Conflict { problems, .. } => problems,
            _ => &[],
        }
    }
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(%error, "database unavailable");
                Self::Unavailable(error.to_string())
            }
            StoreError::Conflict(_) => Self::conflict("the resource already exists", Vec::new()),
            other => Self::internal(other),
        }
    }
}

impl From<tokio::task::JoinError> for DomainError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::internal(format!("background task failed: {error}"))
    }
}
