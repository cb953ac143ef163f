//! What the server saw.

use bytes::Bytes;
use http::HeaderMap;

use crate::Reply;

/// One request as received, with how it was answered.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `POST`, …
    pub method: String,
    /// The request path, e.g. `/3/device/<token>`.
    pub path: String,
    /// The `<token>` of `/3/device/<token>`, if the path had that shape.
    pub device_token: Option<String>,
    /// Request headers (HTTP/2 pseudo-headers excluded).
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The client certificate presented on this request's connection.
    pub client_certificate: Option<ClientCertificate>,
    /// Which TCP connection (1, 2, …) the request came on.
    pub connection: u64,
    /// How the server answered.
    pub reply: Reply,
}

impl RecordedRequest {
    /// A header's value as text, if present and printable.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The leaf certificate a client presented in the TLS handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    /// DER bytes.
    pub der: Vec<u8>,
    /// Subject as `CN=…, O=…`.
    pub subject: String,
}
