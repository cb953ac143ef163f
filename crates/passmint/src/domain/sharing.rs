//! Passes reach people (SPEC 9): share links (one unguessable token per pass, replaceable),
//! bundles of passes with their own token, and what a share download records.
//!
//! Tokens are 256 random bits (43 base64url characters), unrelated to the PassKit token. The
//! store finds them by SHA-256, so the index walk depends on a hash of what was sent, never on
//! how close it was to a real token; anything that can't be a token (wrong length, other
//! characters) is turned away before the database is asked.
use std::collections::HashMap;
use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::{DomainError, Missing, Problem};
use super::events::new_event;
use super::{Domain, PassId, SignedPass};
use crate::store::{BundleRecord, NewBundleOutcome, PassRecord};

/// Characters in a share or bundle token.
pub const TOKEN_CHARS: usize = 43;
/// Most passes in a bundle.
pub const MAX_BUNDLE_PASSES: usize = 10;
/// The event each share download records (with the pass id, never the token).
pub const SHARE_DOWNLOAD_EVENT: &str = "PASS_SHARE_DOWNLOAD";

/// A new token and its hash.
pub fn new_token() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash = token_hash(&token);
    (token, hash)
}

/// What a token is stored under.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `text` has the shape of a token (43 base64url characters).
pub fn is_token_shaped(text: &str) -> bool {
    text.len() == TOKEN_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A bundle as shared: the bundle and its passes still there, in order.
#[derive(Debug, Clone)]
pub struct SharedBundle {
    pub bundle: BundleRecord,
    pub passes: Vec<PassRecord>,
}

impl Domain {
    /// The share token of each of `pass_ids` (created on first use), by pass id.
    pub async fn share_tokens(&self, pass_ids: &[&str]) -> Result<HashMap<String, String>, DomainError> {
        Ok(self.store.share_tokens(pass_ids, new_token).await?)
    }

    /// The share token of one pass.
    pub async fn share_token(&self, pass_id: &str) -> Result<String, DomainError> {
        self.share_tokens(&[pass_id])
            .await?
            .remove(pass_id)
            .ok_or(DomainError::NotFound(Missing::Pass))
    }

    /// Gives pass `id` a new share token (the old link answers 404 from now on); the pass and
    /// its new token.
    pub async fn replace_share_token(&self, id: &PassId) -> Result<(PassRecord, String), DomainError> {
        let (token, hash) = new_token();
        if !self.store.replace_share_token(id.as_str(), &token, &hash).await? {
            return Err(DomainError::NotFound(Missing::Pass));
        }
        let pass = self.pass(id).await?;
        Ok((pass, token))
    }

    /// The pass whose current share token is `token`; not found for anything else.
    pub async fn shared_pass(&self, token: &str) -> Result<PassRecord, DomainError> {
        if !is_token_shaped(token) {
            return Err(DomainError::NotFound(Missing::Pass));
        }
        self.store
            .pass_by_share_hash(&token_hash(token))
            .await?
            .ok_or(DomainError::NotFound(Missing::Pass))
    }

    /// Records that `pass` was downloaded through a share link (or bundle `bundle_id`):
    /// `PASS_SHARE_DOWNLOAD`, which also becomes the `pass.downloaded` webhook event.
    pub async fn share_downloaded(&self, pass: &PassRecord, bundle_id: Option<&str>, request_id: &str) {
        let mut data = json!({ "passId": pass.id });
        if let Some(bundle) = bundle_id {
            data["bundleId"] = json!(bundle);
        }
        // On the pass's timeline and its template's day, as every download.
        self.note_download(&pass.id, if bundle_id.is_some() { "bundle" } else { "share" });
        self.events
            .write(vec![new_event(SHARE_DOWNLOAD_EVENT, "pass", request_id, data)])
            .await;
    }

    /// Creates a bundle of `pass_ids`: 1–10 distinct ids of existing passes, else 400 naming
    /// the offending one (`passIds[i]`).
    pub async fn create_bundle(&self, pass_ids: &[String]) -> Result<BundleRecord, DomainError> {
        if pass_ids.is_empty() || pass_ids.len() > MAX_BUNDLE_PASSES {
            return Err(DomainError::invalid(
                format!("a bundle holds 1 to {MAX_BUNDLE_PASSES} passes"),
                vec![Problem::new(
                    "passIds",
                    format!("must list 1 to {MAX_BUNDLE_PASSES} pass ids"),
                )],
            ));
        }
        let mut ids = Vec::with_capacity(pass_ids.len());
        for (i, raw) in pass_ids.iter().enumerate() {
            let id = PassId::parse(raw).ok_or_else(|| {
                DomainError::invalid(
                    "a pass id is not a UUID",
                    vec![
                        Problem::new(format!("passIds[{i}]"), "must be a pass id (a UUID)")
                            .with_value(raw.chars().take(64).collect::<String>()),
                    ],
                )
            })?;
            if ids.contains(&id.as_str().to_string()) {
                return Err(DomainError::invalid(
                    "a pass is listed twice",
                    vec![
                        Problem::new(format!("passIds[{i}]"), "repeats an earlier pass id")
                            .with_value(id.as_str()),
                    ],
                ));
            }
            ids.push(id.as_str().to_string());
        }
        let (token, hash) = new_token();
        let id = uuid::Uuid::new_v4().to_string();
        match self.store.insert_bundle(&id, &token, &hash, &ids).await? {
            NewBundleOutcome::Created(bundle) => Ok(bundle),
            NewBundleOutcome::UnknownPass { index, id } => Err(DomainError::invalid(
                "no pass has this id",
                vec![Problem::new(format!("passIds[{index}]"), "names no pass").with_value(id)],
            )),
        }
    }

    /// Bundle `id`.
    pub async fn bundle(&self, id: &str) -> Result<BundleRecord, DomainError> {
        self.store
            .get_bundle(id)
            .await?
            .ok_or(DomainError::NotFound(Missing::Bundle))
    }

    /// Deletes bundle `id` (its passes stay).
    pub async fn delete_bundle(&self, id: &str) -> Result<(), DomainError> {
        if self.store.delete_bundle(id).await? {
            Ok(())
        } else {
            Err(DomainError::NotFound(Missing::Bundle))
        }
    }

    /// The bundle whose token is `token`, with its passes; not found for anything else, and
    /// for a bundle whose passes are all gone.
    pub async fn shared_bundle(&self, token: &str) -> Result<SharedBundle, DomainError> {
        if !is_token_shaped(token) {
            return Err(DomainError::NotFound(Missing::Bundle));
        }
        let bundle = self
            .store
            .bundle_by_hash(&token_hash(token))
            .await?
            .ok_or(DomainError::NotFound(Missing::Bundle))?;
        let mut passes = Vec::with_capacity(bundle.pass_ids.len());
        for id in &bundle.pass_ids {
            // A pass deleted since the list was read has dropped out too.
            if let Some(pass) = self.store.get_pass(id).await? {
                passes.push(pass);
            }
        }
        if passes.is_empty() {
            return Err(DomainError::NotFound(Missing::Bundle));
        }
        Ok(SharedBundle { bundle, passes })
    }

    /// Apple's `.pkpasses`: a zip of each signed pass as `<serialNumber>.pkpass`.
    pub async fn bundle_pkpasses(&self, passes: &[PassRecord]) -> Result<Vec<u8>, DomainError> {
        let mut signed: Vec<(String, SignedPass)> = Vec::with_capacity(passes.len());
        for pass in passes {
            signed.push((pass.serial_number.clone(), self.signed_pass(pass).await?));
        }
        tokio::task::spawn_blocking(move || {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            // The passes are zips already: stored, not compressed again.
            let options =
                zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            for (serial, pass) in &signed {
                zip.start_file(format!("{serial}.pkpass"), options)?;
                zip.write_all(&pass.bytes.head)?;
                zip.write_all(&pass.bytes.tail)?;
            }
            Ok::<_, zip::result::ZipError>(zip.finish()?.into_inner())
        })
        .await?
        .map_err(|e| DomainError::internal(format!("building a .pkpasses failed: {e}")))
    }
}
