//! Signing material at rest and in memory: sealing an uploaded identity under the master key,
//! restoring it (with its prepared template) from the store, and a bounded per-app cache of
//! restored templates keyed by template id, each valid for the revision it was loaded at.
use std::sync::Arc;

use pkpass::{Limits, PreparedTemplate, SigningIdentity, Template};

use super::crypto::{CryptoError, MasterKey};
use super::error::DomainError;
use crate::store::{Store, StoreError};

/// A template ready to issue passes: the prepared files and the decrypted signer.
#[derive(Debug)]
pub struct LoadedTemplate {
    pub id: String,
    pub revision: i64,
    pub file_name: String,
    pub pass_type_identifier: String,
    pub team_identifier: String,
    pub prepared: PreparedTemplate,
    pub identity: SigningIdentity,
    /// Rewards enrollment, for a template with `personalization.json`.
    pub enrollment: Option<Enrollment>,
    /// Roughly what this takes in memory (the cache's weight).
    pub size: usize,
}

/// A personalizable template's signup form and the template its personalized passes are made
/// from (the same files without the signup form's: Wallet must not offer enrollment again).
#[derive(Debug)]
pub struct Enrollment {
    pub personalization: pkpass::personalization::Personalization,
    pub personalized: PreparedTemplate,
}

impl LoadedTemplate {
    /// The prepared template a pass with `payload` renders from: the personalized one once the
    /// holder's data is in the payload (`personalization`), else the template as uploaded.
    pub fn prepared_for(&self, payload: &serde_json::Value) -> &PreparedTemplate {
        match &self.enrollment {
            Some(e) if super::personalize::is_personalized(payload) => &e.personalized,
            _ => &self.prepared,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot decrypt the stored signing key: {0}")]
    Unseal(#[from] CryptoError),
    #[error("stored template no longer reads: {0}")]
    Template(#[from] pkpass::TemplateError),
    #[error("stored signing material no longer loads: {0}")]
    Signing(#[from] pkpass::SigningError),
    #[error("background task failed: {0}")]
    Join(String),
}

impl From<SignerError> for DomainError {
    fn from(error: SignerError) -> Self {
        match error {
            SignerError::Store(e) => e.into(),
            other => DomainError::internal(other),
        }
    }
}

/// The parts of an identity as stored.
pub struct SealedIdentity {
    pub signer_cert_der: Vec<u8>,
    /// The PKCS#8 key sealed under the master key, bound to the template id.
    pub signer_key_sealed: Vec<u8>,
    pub wwdr_der: Vec<u8>,
}

/// Seals an identity for storage. The template id is the associated data, so a sealed key
/// can't be moved to another template.
pub fn seal_identity(
    master_key: &MasterKey,
    template_id: &str,
    identity: &SigningIdentity,
) -> Result<SealedIdentity, CryptoError> {
    let (signer_cert_der, key, wwdr_der) = identity.to_der_parts();
    let signer_key_sealed = master_key.seal(&key, template_id.as_bytes())?;
    Ok(SealedIdentity {
        signer_cert_der,
        signer_key_sealed,
        wwdr_der,
    })
}

/// Unseals a stored identity (the one place a sealed key is opened).
pub fn unseal_identity(
    master_key: &MasterKey,
    template_id: &str,
    signer_cert_der: &[u8],
    signer_key_sealed: &[u8],
    wwdr_der: &[u8],
) -> Result<SigningIdentity, SignerError> {
    let key = master_key.open(signer_key_sealed, template_id.as_bytes())?;
    Ok(SigningIdentity::from_der_parts(signer_cert_der, &key, wwdr_der)?)
}

/// Restores template `id` from the store: unseals its key and prepares its files. `None` if
/// there is no such template.
pub async fn load_template(
    store: &Store,
    master_key: &MasterKey,
    id: &str,
) -> Result<Option<LoadedTemplate>, SignerError> {
    let Some(material) = store.get_template_material(id).await? else {
        return Ok(None);
    };
    let master_key = master_key.clone();
    let loaded = tokio::task::spawn_blocking(move || -> Result<LoadedTemplate, SignerError> {
        let identity = unseal_identity(
            &master_key,
            &material.id,
            &material.signer_cert_der,
            &material.signer_key_sealed,
            &material.wwdr_der,
        )?;
        // It was checked against the limits in force at upload; don't let a later, lower limit
        // make a stored template unusable.
        let limits = Limits {
            max_zip_bytes: (material.template_zip.len() as u64).max(Limits::default().max_zip_bytes),
            ..Limits::default()
        };
        let template = Template::from_zip(&material.template_zip, &limits)?;
        let expanded: usize = template.files().values().map(Vec::len).sum();
        let enrollment = template
            .files()
            .get(pkpass::personalization::FILE)
            .and_then(|bytes| pkpass::personalization::parse(bytes, &mut pkpass::Findings::default()))
            .map(|personalization| Enrollment {
                personalization,
                personalized: PreparedTemplate::new(
                    template.without(pkpass::personalization::is_signup_file),
                ),
            });
        let packed_twice = if enrollment.is_some() { 2 } else { 1 };
        Ok(LoadedTemplate {
            id: material.id,
            revision: material.revision,
            file_name: material.file_name,
            pass_type_identifier: material.pass_type_identifier,
            team_identifier: material.team_identifier,
            prepared: PreparedTemplate::new(template),
            identity,
            enrollment,
            // The packed entries are at most the files' size; pass.json and the strings are
            // kept parsed beside them (twice for a personalizable template).
            size: packed_twice * (expanded + material.template_zip.len() / 4) + 4096,
        })
    })
    .await
    .map_err(|e| SignerError::Join(e.to_string()))??;
    Ok(Some(loaded))
}

#[derive(Clone)]
struct BySize;

impl quick_cache::Weighter<String, Arc<LoadedTemplate>> for BySize {
    fn weight(&self, _id: &String, t: &Arc<LoadedTemplate>) -> u64 {
        t.size as u64
    }
}

/// Restored templates by id, bounded in bytes (a template that exists but was pushed out is
/// restored again on its next use; nothing is cached for an id that names no template).
#[derive(Clone)]
pub struct SignerCache {
    inner: Arc<quick_cache::sync::Cache<String, Arc<LoadedTemplate>, BySize>>,
}

impl std::fmt::Debug for SignerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerCache")
            .field("bytes", &self.inner.weight())
            .finish_non_exhaustive()
    }
}

impl SignerCache {
    /// A cache holding about `max_bytes` of restored templates.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            inner: Arc::new(quick_cache::sync::Cache::with_weighter(
                64,
                max_bytes.max(1),
                BySize,
            )),
        }
    }

    /// The cached template `id`, whatever its revision (the caller checks the revision where
    /// it writes, see `Store::insert_passes`).
    pub fn cached(&self, id: &str) -> Option<Arc<LoadedTemplate>> {
        self.inner.get(id)
    }

    /// Drops template `id` (replaced or deleted).
    pub fn invalidate(&self, id: &str) {
        self.inner.remove(id);
    }

    /// Template `id` at `revision` or later: the cached one if it is recent enough, else
    /// restored from the store (which holds the current revision).
    pub async fn at_least(
        &self,
        store: &Store,
        master_key: &MasterKey,
        id: &str,
        revision: i64,
    ) -> Result<Option<Arc<LoadedTemplate>>, SignerError> {
        if let Some(hit) = self.cached(id).filter(|t| t.revision >= revision) {
            return Ok(Some(hit));
        }
        self.reload(store, master_key, id).await
    }

    /// Template `id` as stored now, restored and cached.
    pub async fn reload(
        &self,
        store: &Store,
        master_key: &MasterKey,
        id: &str,
    ) -> Result<Option<Arc<LoadedTemplate>>, SignerError> {
        let Some(loaded) = load_template(store, master_key, id).await? else {
            self.invalidate(id);
            return Ok(None);
        };
        let loaded = Arc::new(loaded);
        // Never replace a newer revision another request restored meanwhile.
        let newer = self.cached(id).filter(|t| t.revision > loaded.revision);
        match newer {
            Some(newer) => Ok(Some(newer)),
            None => {
                self.inner.insert(loaded.id.clone(), loaded.clone());
                Ok(Some(loaded))
            }
        }
    }
}
