//! The `reason` strings APNs puts in error bodies.

use std::fmt;

/// Why APNs refused a notification: every reason in Apple's documentation, plus
/// [`Reason::Other`] for one it adds later and [`Reason::Unspecified`] when a response has none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variant names are Apple's reason strings
pub enum Reason {
    BadCollapseId,
    BadDeviceToken,
    BadExpirationDate,
    BadMessageId,
    BadPriority,
    BadTopic,
    DeviceTokenNotForTopic,
    DuplicateHeaders,
    IdleTimeout,
    InvalidPushType,
    MissingDeviceToken,
    MissingTopic,
    PayloadEmpty,
    TopicDisallowed,
    BadCertificate,
    BadCertificateEnvironment,
    ExpiredProviderToken,
    Forbidden,
    InvalidProviderToken,
    MissingProviderToken,
    UnrelatedKeyIdInToken,
    BadPath,
    MethodNotAllowed,
    ExpiredToken,
    Unregistered,
    PayloadTooLarge,
    TooManyProviderTokenUpdates,
    TooManyRequests,
    InternalServerError,
    ServiceUnavailable,
    Shutdown,
    /// A reason string this crate does not know.
    Other(String),
    /// The response carried no reason (no body, or a body without `reason`).
    Unspecified,
}

/// Every named reason, in Apple's order, with its wire string.
const NAMED: &[(&str, Reason)] = &[
    ("BadCollapseId", Reason::BadCollapseId),
    ("BadDeviceToken", Reason::BadDeviceToken),
    ("BadExpirationDate", Reason::BadExpirationDate),
    ("BadMessageId", Reason::BadMessageId),
    ("BadPriority", Reason::BadPriority),
    ("BadTopic", Reason::BadTopic),
    ("DeviceTokenNotForTopic", Reason::DeviceTokenNotForTopic),
    ("DuplicateHeaders", Reason::DuplicateHeaders),
    ("IdleTimeout", Reason::IdleTimeout),
    ("InvalidPushType", Reason::InvalidPushType),
    ("MissingDeviceToken", Reason::MissingDeviceToken),
    ("MissingTopic", Reason::MissingTopic),
    ("PayloadEmpty", Reason::PayloadEmpty),
    ("TopicDisallowed", Reason::TopicDisallowed),
    ("BadCertificate", Reason::BadCertificate),
    ("BadCertificateEnvironment", Reason::BadCertificateEnvironment),
    ("ExpiredProviderToken", Reason::ExpiredProviderToken),
    ("Forbidden", Reason::Forbidden),
    ("InvalidProviderToken", Reason::InvalidProviderToken),
    ("MissingProviderToken", Reason::MissingProviderToken),
    ("UnrelatedKeyIdInToken", Reason::UnrelatedKeyIdInToken),
    ("BadPath", Reason::BadPath),
    ("MethodNotAllowed", Reason::MethodNotAllowed),
    ("ExpiredToken", Reason::ExpiredToken),
    ("Unregistered", Reason::Unregistered),
    ("PayloadTooLarge", Reason::PayloadTooLarge),
    ("TooManyProviderTokenUpdates", Reason::TooManyProviderTokenUpdates),
    ("TooManyRequests", Reason::TooManyRequests),
    ("InternalServerError", Reason::InternalServerError),
    ("ServiceUnavailable", Reason::ServiceUnavailable),
    ("Shutdown", Reason::Shutdown),
];

impl Reason {
    /// Reads a reason string; unknown strings become [`Reason::Other`], empty ones
    /// [`Reason::Unspecified`].
    #[must_use]
    pub fn parse(reason: &str) -> Self {
        if reason.is_empty() {
            return Self::Unspecified;
        }
        NAMED
            .iter()
            .find(|(name, _)| *name == reason)
            .map_or_else(|| Self::Other(reason.to_owned()), |(_, r)| r.clone())
    }

    /// The wire string (`""` for [`Reason::Unspecified`]).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(s) => s,
            Self::Unspecified => "",
            named => NAMED
                .iter()
                .find(|(_, r)| r == named)
                .map_or("", |(name, _)| name),
        }
    }

    /// Every reason Apple documents, for exhaustive tests.
    #[must_use]
    pub fn all_named() -> Vec<Self> {
        NAMED.iter().map(|(_, r)| r.clone()).collect()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unspecified => f.write_str("(no reason given)"),
            other => f.write_str(other.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_reason_round_trips_through_its_wire_string() {
        assert_eq!(Reason::all_named().len(), 31);
        for reason in Reason::all_named() {
            assert_eq!(Reason::parse(reason.as_str()), reason);
        }
    }

    #[test]
    fn unknown_and_empty_reasons_are_kept_apart() {
        assert_eq!(Reason::parse("NewThing"), Reason::Other("NewThing".into()));
        assert_eq!(Reason::parse(""), Reason::Unspecified);
    }
}
