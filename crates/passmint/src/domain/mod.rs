//! The domain: what passmint does, whoever asks. Templates are checked and stored, passes are
//! issued (one or a thousand), changed, rendered and signed, devices register, and every step
//! leaves its events. It knows no HTTP: operations take typed, already-parsed inputs and
//! return [`DomainError`], which each surface (`api`, `passkit`, …) maps to its wire once.
//!
//! ```text
//! surfaces (api/, passkit/, ops)  ──►  Domain (this module)  ──►  Store (store/)
//!            ▲                               │
//!            └──── one error mapping each ◄──┘ DomainError
//! ```
//!
//! Hot paths are shaped here: a pass is rendered and signed on the blocking pool, stored by a
//! group-committing writer together with its events (one transaction for many concurrent
//! requests), and its signed files are kept so a re-download costs no signature.
use std::sync::Arc;

pub mod batcher;
pub mod crypto;
pub mod error;
pub mod events;
pub mod google;
pub mod ids;
pub mod insight;
mod passes;
pub mod personalize;
pub mod registrations;
pub mod render;
mod rollouts;
pub mod sharing;
pub mod signed;
pub mod signer;
mod templates;
pub mod webhooks;

pub use error::{DomainError, Missing, Problem};
pub use events::{Audit, Events, Operation};
pub use ids::{PassId, RolloutId, SerialNumber, TemplateId};
pub use passes::{Issued, NewPassSpec, PassPatch, SignedPass};
pub use registrations::Registration;
pub use rollouts::StepDone;
pub use templates::{
    ContentCheck, TemplateUpload, Warning, check_content, check_fields, template_too_large_message,
};

use batcher::Batcher;
use crypto::MasterKey;
use signed::SignedPasses;
use signer::SignerCache;

use crate::metrics::Metrics;
use crate::store::Store;

/// Settings the domain needs (a slice of the server's).
#[derive(Debug, Clone)]
pub struct DomainConfig {
    /// `webServiceURL` of every pass.
    pub web_service_url: String,
    /// Largest accepted template .zip.
    pub max_template_bytes: u64,
    /// Events kept.
    pub keep_events: i64,
    /// Most devices one pass may be registered on.
    pub max_devices_per_pass: i64,
    /// Bytes of restored templates kept in memory.
    pub template_cache_bytes: u64,
    /// Bytes of signed pass files kept in memory.
    pub signed_cache_bytes: u64,
    /// Google Wallet (SPEC 13), when configured.
    pub google: Option<google::GoogleConfig>,
}

/// The domain's handle: cheap to clone, shared by every surface and worker.
#[derive(Debug, Clone)]
pub struct Domain {
    store: Store,
    master_key: MasterKey,
    events: Events,
    metrics: Arc<Metrics>,
    signers: SignerCache,
    signed: SignedPasses,
    web_service_url: Arc<str>,
    config: Arc<DomainConfig>,
    issue_writer: Batcher<passes::IssueJob, passes::IssueResult>,
    registrar: Batcher<registrations::RegisterJob, registrations::RegisterResult>,
    insight: insight::Insight,
    google: Option<google::GoogleWallet>,
}

impl Domain {
    /// Starts the domain's writers on the current tokio runtime.
    pub fn start(store: Store, master_key: MasterKey, metrics: Arc<Metrics>, config: DomainConfig) -> Self {
        let events = Events::start(store.clone(), metrics.clone(), config.keep_events);
        let issue_writer = passes::start_issue_writer(store.clone(), config.keep_events);
        let registrar =
            registrations::start_registrar(store.clone(), config.max_devices_per_pass, config.keep_events);
        let insight = insight::Insight::start(store.clone(), metrics.clone());
        Self {
            insight,
            google: config.google.clone().map(google::GoogleWallet::new),
            signers: SignerCache::new(config.template_cache_bytes),
            signed: SignedPasses::new(config.signed_cache_bytes),
            web_service_url: config.web_service_url.clone().into(),
            config: Arc::new(config),
            store,
            master_key,
            events,
            metrics,
            issue_writer,
            registrar,
        }
    }

    /// The event writer.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The master key (for the surfaces' signed pagination cursors).
    pub fn master_key(&self) -> &MasterKey {
        &self.master_key
    }

    pub fn config(&self) -> &DomainConfig {
        &self.config
    }

    /// Signed pass files kept in memory (bytes), for `/metrics`.
    pub fn signed_cache_bytes(&self) -> u64 {
        self.signed.bytes()
    }

    /// Whether the database answers.
    pub async fn healthy(&self) -> Result<(), DomainError> {
        Ok(self.store.ping().await?)
    }

    /// Whether `hash` is the SHA-256 of an admin token made by `passmint token create`.
    pub async fn api_token_exists(&self, hash: &[u8; 32]) -> Result<bool, DomainError> {
        Ok(self.store.api_token_exists(hash).await?)
    }

    /// Number of templates (for `/metrics`).
    pub async fn count_templates(&self) -> Result<i64, DomainError> {
        Ok(self.store.count_templates().await?)
    }

    /// Up to `limit` events older than position `before` (newest first), optionally of one type.
    pub async fn list_events(
        &self,
        event_type: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<crate::store::EventRecord>, DomainError> {
        Ok(self.store.list_events(event_type, before, limit).await?)
    }
}
