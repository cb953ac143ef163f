//! `{{placeholders}}` + overrides -> the pass's files; a prepared template issues signed passes.
use crate::sign::{SigningError, SigningIdentity};
use crate::template::Template;

/// The six keys the server always sets itself; overriding any of them is an error.
#[derive(Debug, Clone, Copy)]
pub struct PassIdentity<'a> {
    pub pass_type_identifier: &'a str,
    pub team_identifier: &'a str,
    pub serial_number: &'a str,
    /// `None` leaves the pass without web service (CLI `sign`); `Some` sets both keys.
    pub web_service: Option<(&'a str, &'a str)>, // (webServiceURL, authenticationToken)
}

/// What one pass is made of besides its template.
#[derive(Debug, Clone, Copy)]
pub struct RenderInput<'a> {
    pub payload: &'a serde_json::Value,
    /// Merged into the top level of `pass.json`; must be an object (or null for none).
    pub overrides: &'a serde_json::Value,
    pub identity: PassIdentity<'a>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Each placeholder with no value, as `name` (location: file / JSON path).
    #[error("no value in payload for placeholder(s): {}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(", "))]
    MissingPlaceholders(Vec<crate::Problem>),
    /// An override of a server-set key, or overrides that aren't an object; or the rendered
    /// pass.json no longer valid.
    #[error("invalid overrides: {}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(", "))]
    InvalidOverrides(Vec<crate::Problem>),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// A signed pass.
#[derive(Debug, Clone)]
pub struct IssuedPass {
    /// The `.pkpass` zip.
    pub bytes: Vec<u8>,
    /// SHA-256 of the manifest: equal fingerprints mean nothing rendered changed.
    pub fingerprint: [u8; 32],
}

/// A template prepared once (file hashes, compressed entries) to issue many passes from.
#[derive(Debug, Clone)]
pub struct PreparedTemplate {
    _private: (),
}

impl PreparedTemplate {
    #[must_use]
    pub fn new(template: Template) -> Self {
        let _ = template;
        todo!()
    }

    /// The fingerprint the pass would have, without signing (to tell whether a change is an
    /// update before paying for a signature).
    pub fn fingerprint(&self, input: &RenderInput<'_>) -> Result<[u8; 32], RenderError> {
        let _ = input;
        todo!()
    }

    /// Renders, signs and zips one pass.
    pub fn issue(
        &self,
        input: &RenderInput<'_>,
        signer: &SigningIdentity,
    ) -> Result<IssuedPass, RenderError> {
        let _ = (input, signer);
        todo!()
    }
}
