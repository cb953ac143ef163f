//! The one error type of this crate: bad input, found before anything is sent.

/// Something given to the client is unusable. Transport failures are not errors: they are
/// reported as [`crate::Outcome::Retry`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The APNs base URL cannot be used.
    #[error("invalid APNs base URL {url:?}: {problem}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Extra trusted roots (`PASSMINT_APNS_CA_FILE`) could not be read.
    #[error("invalid extra root certificates: {0}")]
    ExtraRoots(String),
    /// The client (pass type) certificate could not be read.
    #[error("invalid client certificate: {0}")]
    Certificate(String),
    /// The private key could not be read or does not fit the certificate.
    #[error("invalid private key: {0}")]
    PrivateKey(String),
    /// The token-authentication key (`.p8`), key id or team id is unusable.
    #[error("invalid APNs token key: {0}")]
    TokenKey(String),
    /// A device token is not a hex push token.
    #[error("invalid device token: {0}")]
    InvalidDeviceToken(String),
    /// A notification header (topic, push type, collapse id…) is not acceptable to APNs.
    #[error("invalid notification: {0}")]
    InvalidNotification(String),
    /// rustls refused the TLS configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}
