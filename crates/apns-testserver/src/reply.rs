//! Scripted answers.

/// How the test server answers one request that passed APNs's request checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `200` with an `apns-id` (the default).
    Success,
    /// An error status with `{"reason": …}` (and `timestamp` when given, as for 410).
    Status {
        /// HTTP status.
        status: u16,
        /// APNs reason string.
        reason: String,
        /// Milliseconds since the Unix epoch (410 only, in real APNs).
        timestamp: Option<i64>,
        /// A `retry-after` header, in seconds.
        retry_after: Option<u64>,
    },
    /// Close the TCP connection without answering (and without a GOAWAY or TLS close_notify).
    DropConnection,
    /// Answer `200`, then start a graceful shutdown of the connection (GOAWAY), as APNs does
    /// before it goes away.
    GoAway,
    /// Never answer; the stream stays open until the client gives up (for timeout tests).
    NoAnswer,
}

impl Reply {
    /// An error answer with `status` and `reason`.
    #[must_use]
    pub fn status(status: u16, reason: &str) -> Self {
        Self::Status {
            status,
            reason: reason.to_owned(),
            timestamp: None,
            retry_after: None,
        }
    }

    /// `410 Unregistered` with the time (ms since the Unix epoch) the token became invalid.
    #[must_use]
    pub fn unregistered(timestamp_ms: i64) -> Self {
        Self::Status {
            status: 410,
            reason: "Unregistered".to_owned(),
            timestamp: Some(timestamp_ms),
            retry_after: None,
        }
    }
}
