//! Scripted faults: the next calls matching a target get a chosen answer instead of the real one.

use std::time::Duration;

/// Which requests a [`Fault`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every request.
    Any,
    /// The OAuth token endpoint.
    Token,
    /// Every walletobjects request.
    Api,
    /// Requests to one resource type, e.g. `eventTicketObject` (its collection and its items).
    Resource(String),
}

/// What a faulty answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer with this status and Google's error body for it (the OAuth error body on the token
    /// endpoint).
    Status {
        /// The HTTP status.
        status: u16,
        /// A `Retry-After` header, in seconds.
        retry_after: Option<u64>,
        /// The canonical `error.status` (defaults to the one Google uses for the code; `ABORTED` for
        /// a concurrent-write 409).
        canonical: Option<String>,
        /// The legacy `errors[0].reason` (defaults to Google's for the code).
        reason: Option<String>,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Never answer (until the server is dropped): for client timeouts.
    Hang,
}

/// One scripted fault: `action` for the next `times` requests matching `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub(crate) target: Target,
    pub(crate) times: usize,
    pub(crate) action: Action,
}

impl Fault {
    /// The next matching request is answered with `status` (and Google's error body).
    #[must_use]
    pub fn status(status: u16) -> Self {
        Self {
            target: Target::Any,
            times: 1,
            action: Action::Status {
                status,
                retry_after: None,
                canonical: None,
                reason: None,
            },
        }
    }

    /// A 409 whose `error.status` is `ABORTED`: a concurrent write, worth retrying.
    #[must_use]
    pub fn aborted() -> Self {
        Self::status(409).canonical("ABORTED", "aborted")
    }

    /// A 403 whose reason is `rateLimitExceeded` (Google's older quota errors).
    #[must_use]
    pub fn rate_limit_403() -> Self {
        Self::status(403).canonical("PERMISSION_DENIED", "rateLimitExceeded")
    }

    /// The next matching request is answered only after `delay`.
    #[must_use]
    pub fn delay(delay: Duration) -> Self {
        Self {
            target: Target::Any,
            times: 1,
            action: Action::Delay(delay),
        }
    }

    /// The next matching request is never answered.
    #[must_use]
    pub fn hang() -> Self {
        Self {
            target: Target::Any,
            times: 1,
            action: Action::Hang,
        }
    }

    /// For this many matching requests instead of one.
    #[must_use]
    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    /// Only requests to the token endpoint.
    #[must_use]
    pub fn on_token(mut self) -> Self {
        self.target = Target::Token;
        self
    }

    /// Only walletobjects requests.
    #[must_use]
    pub fn on_api(mut self) -> Self {
        self.target = Target::Api;
        self
    }

    /// Only requests to `resource` (`eventTicketClass`, `loyaltyObject`, …).
    #[must_use]
    pub fn on(mut self, resource: &str) -> Self {
        self.target = Target::Resource(resource.to_owned());
        self
    }

    /// With a `Retry-After: <seconds>` header (status faults only).
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let Action::Status { retry_after, .. } = &mut self.action {
            *retry_after = Some(seconds);
        }
        self
    }

    fn canonical(mut self, status_text: &str, reason_text: &str) -> Self {
        if let Action::Status {
            canonical, reason, ..
        } = &mut self.action
        {
            *canonical = Some(status_text.to_owned());
            *reason = Some(reason_text.to_owned());
        }
        self
    }

    pub(crate) fn matches(&self, is_token: bool, resource: Option<&str>) -> bool {
        match &self.target {
            Target::Any => true,
            Target::Token => is_token,
            Target::Api => !is_token,
            Target::Resource(r) => resource == Some(r.as_str()),
        }
    }
}
