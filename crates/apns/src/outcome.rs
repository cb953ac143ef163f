//! What to do after a push: every APNs answer and every transport failure, mapped once.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::Reason;

/// The result of one [`crate::Client::send`], phrased as what the caller should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// APNs accepted the notification (200).
    Delivered {
        /// The `apns-id` APNs answered with, if any.
        apns_id: Option<String>,
    },
    /// Try again later: 429, 5xx, `IdleTimeout`, `ExpiredProviderToken` (a fresh token is made on
    /// the next send), timeouts and connection or TLS failures.
    Retry {
        /// Why.
        reason: RetryReason,
        /// The server's `retry-after`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// 410: the token is no longer valid for the topic. Delete the registration, unless the
    /// device registered again after `timestamp`.
    Unregistered {
        /// `Unregistered` or `ExpiredToken`.
        reason: Reason,
        /// When APNs learnt the token was invalid, in milliseconds since the Unix epoch.
        timestamp: Option<i64>,
    },
    /// 400 `BadDeviceToken` or `DeviceTokenNotForTopic`: the registration can never work; delete it.
    BadToken {
        /// Which of the two.
        reason: Reason,
    },
    /// 403 (bad or expired certificate, wrong environment, invalid provider token…), or the TLS
    /// handshake refused the client certificate (then `reason` is `BadCertificate`): every push
    /// with this credential will fail the same way; stop using it until it is replaced.
    CredentialRejected {
        /// APNs's reason.
        reason: Reason,
    },
    /// Any other refusal (other 4xx, 413): permanent for this push; retrying will not help.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// APNs's reason.
        reason: Reason,
    },
}

/// Why an [`Outcome::Retry`] happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryReason {
    /// APNs answered with a retryable status (429, 5xx) or reason (`IdleTimeout`,
    /// `ExpiredProviderToken`).
    Apns {
        /// The HTTP status.
        status: u16,
        /// APNs's reason.
        reason: Reason,
    },
    /// No answer within the per-request timeout (connecting and waiting for a free stream count).
    Timeout,
    /// Connecting, the TLS handshake or the HTTP/2 exchange failed.
    Connection(String),
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Apns { status, reason } => write!(f, "APNs answered {status} {reason}"),
            Self::Timeout => f.write_str("no answer before the request timeout"),
            Self::Connection(problem) => write!(f, "connection failed: {problem}"),
        }
    }
}

impl Outcome {
    /// Whether the caller should try this push again later.
    #[must_use]
    pub fn is_retry(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }

    /// Maps an APNs response (status, `retry-after` and `apns-id` headers, JSON body).
    #[must_use]
    pub fn from_response(
        status: u16,
        apns_id: Option<String>,
        retry_after: Option<&str>,
        body: &[u8],
    ) -> Self {
        if (200..300).contains(&status) {
            return Self::Delivered { apns_id };
        }
        let ErrorBody { reason, timestamp } = ErrorBody::parse(body);
        let retry = |reason| Self::Retry {
            reason: RetryReason::Apns { status, reason },
            retry_after: retry_after.and_then(parse_retry_after),
        };
        match (status, reason) {
            (_, reason @ (Reason::BadDeviceToken | Reason::DeviceTokenNotForTopic)) => {
                Self::BadToken { reason }
            }
            // The connection sat idle too long; a new one will do.
            (_, reason @ Reason::IdleTimeout) => retry(reason),
            // Our JWT is older than an hour: the next send signs a fresh one.
            (_, reason @ Reason::ExpiredProviderToken) => retry(reason),
            (403, reason) => Self::CredentialRejected { reason },
            (410, reason) => Self::Unregistered { reason, timestamp },
            (429 | 500..=599, reason) => retry(reason),
            (status, reason) => Self::Rejected { status, reason },
        }
    }

    pub(crate) fn connection(problem: impl fmt::Display) -> Self {
        Self::Retry {
            reason: RetryReason::Connection(problem.to_string()),
            retry_after: None,
        }
    }
}

/// `retry-after` as delay-seconds (APNs does not send HTTP dates).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// APNs's error body: `{"reason": "...", "timestamp": 1234}`. Anything unreadable counts as no
/// reason rather than an error: the status alone still decides what to do.
struct ErrorBody {
    reason: Reason,
    timestamp: Option<i64>,
}

impl ErrorBody {
    fn parse(body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            reason: Option<String>,
            #[serde(default)]
            timestamp: Option<serde_json::Value>,
        }
        let Ok(wire) = serde_json::from_slice::<Wire>(body) else {
            return Self {
                reason: Reason::Unspecified,
                timestamp: None,
            };
        };
        let timestamp = match wire.timestamp {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Self {
            reason: wire.reason.as_deref().map_or(Reason::Unspecified, Reason::parse),
            timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, reason: &str) -> Outcome {
        let body = format!(r#"{{"reason":"{reason}"}}"#);
        Outcome::from_response(status, None, None, body.as_bytes())
    }

    /// The status Apple documents for each reason.
    fn documented_status(reason: &Reason) -> u16 {
        use Reason::*;
        match reason {
            BadCertificate
            | BadCertificateEnvironment
            | ExpiredProviderToken
            | Forbidden
            | InvalidProviderToken
            | MissingProviderToken
            | UnrelatedKeyIdInToken => 403,
            BadPath => 404,
            MethodNotAllowed => 405,
            ExpiredToken | Unregistered => 410,
            PayloadTooLarge => 413,
            TooManyProviderTokenUpdates | TooManyRequests => 429,
            InternalServerError => 500,
            ServiceUnavailable | Shutdown => 503,
            _ => 400,
        }
    }

    #[test]
    fn every_documented_reason_maps_to_the_right_action() {
        use Reason::*;
        for reason in Reason::all_named() {
            let status = documented_status(&reason);
            let outcome = answer(status, reason.as_str());
            let expected = match &reason {
                BadDeviceToken | DeviceTokenNotForTopic => Outcome::BadToken {
                    reason: reason.clone(),
                },
                IdleTimeout
                | ExpiredProviderToken
                | TooManyProviderTokenUpdates
                | TooManyRequests
                | InternalServerError
                | ServiceUnavailable
                | Shutdown => Outcome::Retry {
                    reason: RetryReason::Apns {
                        status,
                        reason: reason.clone(),
                    },
                    retry_after: None,
                },
                ExpiredToken | Unregistered => Outcome::Unregistered {
                    reason: reason.clone(),
                    timestamp: None,
                },
                BadCertificate
                | BadCertificateEnvironment
                | Forbidden
                | InvalidProviderToken
                | MissingProviderToken
                | UnrelatedKeyIdInToken => Outcome::CredentialRejected {
                    reason: reason.clone(),
                },
                _ => Outcome::Rejected {
                    status,
                    reason: reason.clone(),
                },
            };
            assert_eq!(outcome, expected, "{status} {reason}");
        }
    }

    #[test]
    fn a_410_carries_its_timestamp_in_milliseconds() {
        let outcome = Outcome::from_response(
            410,
            None,
            None,
            br#"{"reason":"Unregistered","timestamp":1700000000123}"#,
        );
        assert_eq!(
            outcome,
            Outcome::Unregistered {
                reason: Reason::Unregistered,
                timestamp: Some(1_700_000_000_123)
            }
        );
    }

    #[test]
    fn retry_after_seconds_are_kept_and_garbage_bodies_still_classify_by_status() {
        let outcome = Outcome::from_response(503, None, Some("30"), b"<html>oops</html>");
        assert_eq!(
            outcome,
            Outcome::Retry {
                reason: RetryReason::Apns {
                    status: 503,
                    reason: Reason::Unspecified
                },
                retry_after: Some(Duration::from_secs(30)),
            }
        );
        assert_eq!(
            Outcome::from_response(404, None, None, b""),
            Outcome::Rejected {
                status: 404,
                reason: Reason::Unspecified
            }
        );
    }
}
