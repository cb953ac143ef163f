//! Signing material at rest and in memory: sealing an uploaded identity under the master key,
//! restoring it (with its prepared template) from the store, and a per-app cache of restored
//! templates keyed by template id and revision.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pkpass::{Limits, PreparedTemplate, SigningIdentity, Template};

use crate::crypto::{CryptoError, MasterKey};
use crate::store::{Store, StoreError};

/// A template ready to issue passes: the prepared files and the decrypted signer.
#[derive(Debug, Clone)]
pub struct LoadedTemplate {
    pub id: String,
    pub revision: i64,
    pub pass_type_identifier: String,
    pub team_identifier: String,
    pub prepared: PreparedTemplate,
    pub identity: SigningIdentity,
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
        let key = master_key.open(&material.signer_key_sealed, material.id.as_bytes())?;
        let identity = SigningIdentity::from_der_parts(&material.signer_cert_der, &key, &material.wwdr_der)?;
        // It was checked against the limits in force at upload; don't let a later, lower limit
        // make a stored template unusable.
        let limits = Limits {
            max_zip_bytes: (material.template_zip.len() as u64).max(Limits::default().max_zip_bytes),
            ..Limits::default()
        };
        let template = Template::from_zip(&material.template_zip, &limits)?;
        Ok(LoadedTemplate {
            id: material.id,
            revision: material.revision,
            pass_type_identifier: material.pass_type_identifier,
            team_identifier: material.team_identifier,
            prepared: PreparedTemplate::new(template),
            identity,
        })
    })
    .await
    .map_err(|e| SignerError::Join(e.to_string()))??;
    Ok(Some(loaded))
}

/// Restored templates by id; an entry is only valid for the revision it was loaded at.
#[derive(Debug, Clone, Default)]
pub struct SignerCache {
    inner: Arc<Mutex<HashMap<String, Arc<LoadedTemplate>>>>,
}

impl SignerCache {
    /// The cached template `id` if it is at `revision`.
    pub fn get(&self, id: &str, revision: i64) -> Option<Arc<LoadedTemplate>> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|t| t.revision == revision).cloned()
    }

    pub fn put(&self, loaded: LoadedTemplate) -> Arc<LoadedTemplate> {
        let loaded = Arc::new(loaded);
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(loaded.id.clone(), loaded.clone());
        loaded
    }

    pub fn invalidate(&self, id: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }

    /// Template `id` at its current revision, from the cache or restored from the store.
    pub async fn get_or_load(
        &self,
        store: &Store,
        master_key: &MasterKey,
        id: &str,
    ) -> Result<Option<Arc<LoadedTemplate>>, SignerError> {
        let Some(record) = store.get_template(id).await? else {
            return Ok(None);
        };
        if let Some(hit) = self.get(id, record.revision) {
            return Ok(Some(hit));
        }
        Ok(load_template(store, master_key, id).await?.map(|t| self.put(t)))
    }
}
