//! The test server's error type.

/// Starting the server or making test material failed, or a wait ran out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// OpenSSL failed to make or read a key.
    #[error("crypto: {0}")]
    Crypto(String),
    /// Binding the socket failed.
    #[error("cannot start the server: {0}")]
    Start(String),
    /// [`crate::TestServer::wait_for_requests`] ran out of time.
    #[error("timed out waiting: {0}")]
    Timeout(String),
}

impl From<openssl::error::ErrorStack> for Error {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Self::Crypto(e.to_string())
    }
}
