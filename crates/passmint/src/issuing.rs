//! Rendering and signing passes in the server: what both the management API and the PassKit
//! web service call, plus the pass updates that follow a template replace.
//!
//! Signed passes are not stored: a pass is rendered and signed when it is fetched, from its
//! stored payload/overrides/voided flag and the template's current revision (prepared template
//! and decrypted key come from the [`SignerCache`](crate::signer::SignerCache)). Rendering and
//! signing run on tokio's blocking pool, never on the async worker threads.
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkpass::{PassIdentity, RenderError, RenderInput};
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::signer::{LoadedTemplate, SignerError};
use crate::store::StoreError;

/// How many passes a template replace re-renders per batch (and per transaction).
pub const RETAG_BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The payload or overrides don't render (the caller's fault: 400).
    #[error(transparent)]
    Render(RenderError),
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("background task failed: {0}")]
    Join(String),
}

impl From<RenderError> for IssueError {
    fn from(error: RenderError) -> Self {
        match error {
            RenderError::Signing(e) => Self::Signer(SignerError::Signing(e)),
            other => Self::Render(other),
        }
    }
}

/// The per-pass inputs of rendering.
#[derive(Debug, Clone)]
pub struct PassContent {
    pub serial_number: String,
    pub auth_token: String,
    pub payload: Value,
    pub overrides: Value,
    pub voided: bool,
}

impl PassContent {
    /// From stored JSON text (stored by us, so it parses; a damaged row renders as empty).
    pub fn from_stored(
        serial_number: &str,
        auth_token: &str,
        payload: &str,
        overrides: &str,
        voided: bool,
    ) -> Self {
        Self {
            serial_number: serial_number.to_string(),
            auth_token: auth_token.to_string(),
            payload: serde_json::from_str(payload).unwrap_or(Value::Object(Map::new())),
            overrides: serde_json::from_str(overrides).unwrap_or(Value::Object(Map::new())),
            voided,
        }
    }

    /// `overrides`, plus `"voided": true` for a voided pass.
    fn effective_overrides(&self) -> Value {
        if !self.voided {
            return self.overrides.clone();
        }
        let mut map = match &self.overrides {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        map.insert("voided".into(), Value::Bool(true));
        Value::Object(map)
    }
}

/// A new pass's authentication token: 256 random bits as 43 base64url characters.
pub fn new_auth_token() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// `webServiceURL` of every pass.
pub fn web_service_url(state: &AppState) -> String {
    format!("{}/passkit", state.public_url)
}

fn with_input<T>(
    template: &LoadedTemplate,
    web_service_url: &str,
    content: &PassContent,
    f: impl FnOnce(&RenderInput<'_>) -> T,
) -> T {
    let overrides = content.effective_overrides();
    let input = RenderInput {
        payload: &content.payload,
        overrides: &overrides,
        identity: PassIdentity {
            pass_type_identifier: &template.pass_type_identifier,
            team_identifier: &template.team_identifier,
            serial_number: &content.serial_number,
            web_service: Some((web_service_url, &content.auth_token)),
        },
    };
    f(&input)
}

/// The manifest fingerprint `content` renders to (no signing).
pub fn fingerprint_now(
    template: &LoadedTemplate,
    web_service_url: &str,
    content: &PassContent,
) -> Result<[u8; 32], RenderError> {
    with_input(template, web_service_url, content, |input| {
        template.prepared.fingerprint(input)
    })
}

/// Fingerprint on the blocking pool.
pub async fn fingerprint(
    template: Arc<LoadedTemplate>,
    web_service_url: String,
    content: PassContent,
) -> Result<[u8; 32], IssueError> {
    tokio::task::spawn_blocking(move || fingerprint_now(&template, &web_service_url, &content))
        .await
        .map_err(|e| IssueError::Join(e.to_string()))?
        .map_err(IssueError::from)
}

/// Renders and signs a pass on the blocking pool: the `.pkpass` bytes and the fingerprint.
pub async fn sign(
    template: Arc<LoadedTemplate>,
    web_service_url: String,
    content: PassContent,
) -> Result<(Vec<u8>, [u8; 32]), IssueError> {
    tokio::task::spawn_blocking(move || {
        with_input(&template, &web_service_url, &content, |input| {
            template
                .prepared
                .issue(input, &template.identity)
                .map(|p| (p.bytes, p.fingerprint))
        })
    })
    .await
    .map_err(|e| IssueError::Join(e.to_string()))?
    .map_err(IssueError::from)
}

/// The template's current revision, restored (cached per id + revision).
pub async fn template(state: &AppState, id: &str) -> Result<Option<Arc<LoadedTemplate>>, IssueError> {
    Ok(state
        .signers
        .get_or_load(&state.store, &state.master_key, id)
        .await?)
}

/// After a template replace: walks the template's passes in batches of [`RETAG_BATCH`] by
/// `seq` (memory stays bounded however many passes there are), re-renders each batch's
/// fingerprints with the new revision (no signing) on the blocking pool, and marks the passes
/// whose rendering changed as updated — new tag, later `last_modified`, queued pushes — in one
/// transaction per batch. A pure rename changes no fingerprint, so it updates and pushes
/// nothing.
///
/// A pass that no longer renders under the new template (e.g. a new placeholder its payload
/// lacks) is marked updated with an unknown fingerprint, so devices come and fetch it; the fetch
/// then fails until the pass is PATCHed with a payload that fits. Returns how many passes were
/// updated.
///
/// The walk runs inside the PUT request, so the PUT answers once every pass is re-tagged. If
/// the process dies half way, the passes not yet reached keep their old tag; replacing the
/// template again finishes the job (already re-tagged passes then compare equal).
pub async fn retag_template_passes(state: &AppState, template_id: &str) -> Result<u64, IssueError> {
    let Some(loaded) = template(state, template_id).await? else {
        return Ok(0);
    };
    let url = web_service_url(state);
    let mut after = 0;
    let mut updated = 0u64;
    loop {
        let batch = state
            .store
            .pass_render_batch(template_id, after, RETAG_BATCH)
            .await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        let full = batch.len() as i64 == RETAG_BATCH;
        let loaded = loaded.clone();
        let url = url.clone();
        let changed = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .filter_map(|row| {
                    let content = PassContent::from_stored(
                        &row.serial_number,
                        &row.auth_token,
                        &row.payload,
                        &row.overrides,
                        row.voided,
                    );
                    match fingerprint_now(&loaded, &url, &content) {
                        Ok(fp) if row.fingerprint.as_deref() == Some(fp.as_slice()) => None,
                        Ok(fp) => Some((row.id, Some(fp.to_vec()))),
                        Err(error) => {
                            tracing::warn!(pass_id = %row.id, %error, "pass no longer renders after template replace");
                            Some((row.id, None))
                        }
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| IssueError::Join(e.to_string()))?;
        updated += changed.len() as u64;
        state.store.mark_passes_updated(&changed).await?;
        if !full {
            break;
        }
    }
    Ok(updated)
}
