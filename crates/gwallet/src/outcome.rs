//! What to do after a call to Google: every answer and every transport failure, mapped once.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// The result of writing a class or object, phrased as what the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Google has the resource as sent (200 on insert, update or patch).
    Done,
    /// Try again later: 408, 429, 5xx, a 403 quota error, a 409 `ABORTED` (a concurrent write), a
    /// missing class (write it first), the token endpoint not answering, timeouts and connection
    /// failures.
    Retry {
        /// Why.
        reason: RetryReason,
        /// Google's `Retry-After`, when it sent one.
        after: Option<Duration>,
    },
    /// Retrying will not help: the request or the credentials are wrong.
    GiveUp {
        /// Why.
        reason: GiveUpReason,
        /// Google's message (its error body's `error.message`), for logs and events.
        message: String,
    },
}

/// Why an [`Outcome::Retry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryReason {
    /// Google answered with a status worth retrying (408, 409 `ABORTED`, 5xx).
    Status(u16),
    /// 429, or a 403 whose reason is a rate or quota limit.
    RateLimited,
    /// An object's class does not exist (404 on insert): write the class, then the object.
    ClassNotFound,
    /// The token endpoint did not give a token (429, 5xx or no answer).
    TokenUnavailable(String),
    /// No answer within the request timeout.
    Timeout,
    /// Connecting or the HTTP exchange failed.
    Connection(String),
}

/// Why an [`Outcome::GiveUp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// 400: Google refuses the JSON (a bad field, id or value).
    BadRequest,
    /// 401 even with a freshly issued token.
    Unauthorized,
    /// 403: the service account may not act for this issuer (add it in the Google Pay & Wallet
    /// console). Every write will fail the same way until that is fixed.
    PermissionDenied,
    /// 404 where a resource had to exist (a patch).
    NotFound,
    /// 409 that is not a concurrent write (for example an insert racing another one after the
    /// update path was taken).
    Conflict,
    /// The token endpoint refused the service account's assertion (a deleted or disabled key, the
    /// wrong key, or a clock far off). Every write will fail the same way.
    CredentialsRefused,
    /// Any other 4xx.
    Status(u16),
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(s) => write!(f, "Google answered {s}"),
            Self::RateLimited => f.write_str("rate limited by Google"),
            Self::ClassNotFound => f.write_str("the object's class does not exist yet"),
            Self::TokenUnavailable(why) => write!(f, "no access token: {why}"),
            Self::Timeout => f.write_str("no answer before the request timeout"),
            Self::Connection(why) => write!(f, "connection failed: {why}"),
        }
    }
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest => f.write_str("bad request"),
            Self::Unauthorized => f.write_str("unauthorized"),
            Self::PermissionDenied => f.write_str("permission denied"),
            Self::NotFound => f.write_str("not found"),
            Self::Conflict => f.write_str("conflict"),
            Self::CredentialsRefused => f.write_str("service account refused"),
            Self::Status(s) => write!(f, "Google answered {s}"),
        }
    }
}

/// Google's JSON error body: `{"error": {"code", "message", "status", "errors": [{"reason", …}]}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GoogleError {
    /// The HTTP status again.
    #[serde(default)]
    pub code: u16,
    /// What went wrong, in Google's words.
    #[serde(default)]
    pub message: String,
    /// The canonical status (`INVALID_ARGUMENT`, `ALREADY_EXISTS`, `ABORTED`, …).
    #[serde(default)]
    pub status: String,
    /// The legacy per-error details; their `reason` tells a quota 403 from a permission 403.
    #[serde(default)]
    pub errors: Vec<GoogleErrorItem>,
}

/// One entry of [`GoogleError::errors`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GoogleErrorItem {
    /// `invalid`, `duplicate`, `notFound`, `rateLimitExceeded`, …
    #[serde(default)]
    pub reason: String,
    /// The message for this entry.
    #[serde(default)]
    pub message: String,
    /// Usually `global`.
    #[serde(default)]
    pub domain: String,
}

impl GoogleError {
    /// Parses an error body; anything unreadable is an empty error (the status alone still decides).
    #[must_use]
    pub fn parse(body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Wire {
            error: GoogleError,
        }
        serde_json::from_slice::<Wire>(body)
            .map(|w| w.error)
            .unwrap_or_default()
    }

    fn has_reason(&self, reasons: &[&str]) -> bool {
        self.errors.iter().any(|e| reasons.contains(&e.reason.as_str()))
    }
}

impl Outcome {
    /// Whether the caller should try again later.
    #[must_use]
    pub fn is_retry(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }

    /// Maps a final answer from the walletobjects API (after the client's own 401, 404 and 409
    /// handling).
    #[must_use]
    pub fn from_response(status: u16, retry_after: Option<&str>, body: &[u8]) -> Self {
        if (200..300).contains(&status) {
            return Self::Done;
        }
        let error = GoogleError::parse(body);
        let after = retry_after.and_then(parse_retry_after);
        let retry = |reason| Self::Retry { reason, after };
        let give_up = |reason| Self::GiveUp {
            reason,
            message: if error.message.is_empty() {
                format!("HTTP {status}")
            } else {
                error.message.clone()
            },
        };
        match status {
            429 => retry(RetryReason::RateLimited),
            // Google's older quota errors are 403s with a rate-limit reason.
            403 if error.has_reason(&["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"]) => {
                retry(RetryReason::RateLimited)
            }
            403 => give_up(GiveUpReason::PermissionDenied),
            400 => give_up(GiveUpReason::BadRequest),
            401 => give_up(GiveUpReason::Unauthorized),
            404 => give_up(GiveUpReason::NotFound),
            409 if error.status == "ABORTED" || error.has_reason(&["aborted"]) => {
                retry(RetryReason::Status(409))
            }
            409 => give_up(GiveUpReason::Conflict),
            408 | 500..=599 => retry(RetryReason::Status(status)),
            _ => give_up(GiveUpReason::Status(status)),
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u16, status: &str, reason: &str) -> Vec<u8> {
        format!(
            r#"{{"error":{{"code":{code},"message":"m{code}","status":"{status}","errors":[{{"message":"m","domain":"global","reason":"{reason}"}}]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn every_documented_status_maps_to_done_retry_or_give_up() {
        let give_up = |reason, code| Outcome::GiveUp {
            reason,
            message: format!("m{code}"),
        };
        let cases = [
            (200, "", "", Outcome::Done),
            (
                400,
                "INVALID_ARGUMENT",
                "invalid",
                give_up(GiveUpReason::BadRequest, 400),
            ),
            (
                401,
                "UNAUTHENTICATED",
                "authError",
                give_up(GiveUpReason::Unauthorized, 401),
            ),
            (
                403,
                "PERMISSION_DENIED",
                "forbidden",
                give_up(GiveUpReason::PermissionDenied, 403),
            ),
            (
                403,
                "PERMISSION_DENIED",
                "rateLimitExceeded",
                Outcome::Retry {
                    reason: RetryReason::RateLimited,
                    after: None,
                },
            ),
            (404, "NOT_FOUND", "notFound", give_up(GiveUpReason::NotFound, 404)),
            (
                409,
                "ALREADY_EXISTS",
                "duplicate",
                give_up(GiveUpReason::Conflict, 409),
            ),
            (
                409,
                "ABORTED",
                "aborted",
                Outcome::Retry {
                    reason: RetryReason::Status(409),
                    after: None,
                },
            ),
            (
                429,
                "RESOURCE_EXHAUSTED",
                "rateLimitExceeded",
                Outcome::Retry {
                    reason: RetryReason::RateLimited,
                    after: None,
                },
            ),
            (
                500,
                "INTERNAL",
                "backendError",
                Outcome::Retry {
                    reason: RetryReason::Status(500),
                    after: None,
                },
            ),
            (
                502,
                "",
                "",
                Outcome::Retry {
                    reason: RetryReason::Status(502),
                    after: None,
                },
            ),
            (
                503,
                "UNAVAILABLE",
                "backendError",
                Outcome::Retry {
                    reason: RetryReason::Status(503),
                    after: None,
                },
            ),
            (
                504,
                "DEADLINE_EXCEEDED",
                "",
                Outcome::Retry {
                    reason: RetryReason::Status(504),
                    after: None,
                },
            ),
            (413, "", "", give_up(GiveUpReason::Status(413), 413)),
        ];
        for (status, canonical, reason, expected) in cases {
            assert_eq!(
                Outcome::from_response(status, None, &body(status, canonical, reason)),
                expected,
                "{status} {reason}"
            );
        }
    }

    #[test]
    fn retry_after_is_kept_and_an_unreadable_body_still_classifies_by_status() {
        assert_eq!(
            Outcome::from_response(503, Some("7"), b"<html>busy</html>"),
            Outcome::Retry {
                reason: RetryReason::Status(503),
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            Outcome::from_response(400, None, b""),
            Outcome::GiveUp {
                reason: GiveUpReason::BadRequest,
                message: "HTTP 400".into()
            }
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
    }
}
