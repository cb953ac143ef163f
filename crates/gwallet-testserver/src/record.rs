//! What the server saw.

use serde_json::Value;

/// One request as received, with how it was answered.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `PUT`, `PATCH`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Request headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
    /// The status it was answered with (`0` when it was never answered).
    pub status: u16,
    /// Whether a scripted fault answered it.
    pub faulted: bool,
}

impl RecordedRequest {
    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    #[must_use]
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    #[must_use]
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// True for a request to the token endpoint.
    #[must_use]
    pub fn is_token_request(&self) -> bool {
        self.path == crate::server::TOKEN_PATH
    }
}
