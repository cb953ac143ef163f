//! The crate's error type: unusable input, found before anything is sent.

/// Something given to `gwallet` cannot be used. What happens on the wire is never an error: it is
/// an [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service account key file is not a Google service account JSON key.
    #[error("invalid service account key: {0}")]
    ServiceAccount(String),
    /// The key's `private_key` is not an RSA key in PKCS#8 PEM that can sign RS256.
    #[error("invalid service account private key: {0}")]
    PrivateKey(String),
    /// A configured URL cannot be used.
    #[error("invalid URL {url:?}: {problem}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Extra trusted roots could not be read.
    #[error("invalid extra root certificates: {0}")]
    ExtraRoots(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// Signing a JWT failed (the system random source or the clock failed).
    #[error("signing a JWT failed: {0}")]
    Signing(String),
}
