//! The test server's one error type.

use std::time::Duration;

/// Why the test server could not start or a wait failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Generating or reading a test certificate failed.
    #[error("test PKI: {0}")]
    Pki(String),
    /// Binding the socket failed.
    #[error("test server I/O: {0}")]
    Io(#[from] std::io::Error),
    /// rustls refused the configuration.
    #[error("test server TLS configuration: {0}")]
    Tls(String),
    /// Fewer requests (or connections) arrived than waited for.
    #[error("waited {waited:?} for {wanted} {what}, saw {seen}")]
    Timeout {
        /// What was counted.
        what: &'static str,
        /// How many were wanted.
        wanted: usize,
        /// How many arrived.
        seen: usize,
        /// How long the wait was.
        waited: Duration,
    },
}

impl From<openssl::error::ErrorStack> for Error {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Self::Pki(e.to_string())
    }
}
