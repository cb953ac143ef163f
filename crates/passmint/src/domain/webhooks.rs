//! Webhooks (SPEC 10): the receivers a backend registers, and the log of what was sent to them.
//! Deliveries themselves are queued by the store with each change and sent by the worker in
//! `crate::webhooks`.
//!
//! A webhook's signing secret is made here, shown once (in the create answer), and kept sealed
//! under the master key with the webhook id as associated data, like the templates' signing keys.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Domain;
use super::error::{DomainError, Missing, Problem};
use super::ids::TemplateId;
use super::templates::Warning;
use crate::store::now_millis;
use crate::store::webhooks::{DeliveryRecord, EVENT_TYPES, WebhookRecord};

/// Longest accepted URL and description.
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// A webhook to create, as the caller asks for it.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    pub template_id: Option<String>,
    pub description: Option<String>,
}

/// A created webhook: as stored, its secret (this once), and warnings (a plain-http URL).
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub record: WebhookRecord,
    pub secret: String,
    pub warnings: Vec<Warning>,
}

/// A webhook id: a UUID, canonical.
pub fn parse_webhook_id(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// Checks a webhook's URL: `https://`, or `http://` with a warning; a host; not too long.
fn check_url(url: &str, problems: &mut Vec<Problem>, warnings: &mut Vec<Warning>) {
    let bad = |msg: &str| Problem::new("url", msg).with_value(url.chars().take(200).collect::<String>());
    if url.chars().count() > MAX_URL_CHARS {
        problems.push(bad(&format!("must be at most {MAX_URL_CHARS} characters")));
        return;
    }
    let Ok(uri) = url.parse::<http::Uri>() else {
        problems.push(bad("is not a URL"));
        return;
    };
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") => warnings.push(Warning {
            param: "url".into(),
            msg: "is plain http://: deliveries and their signatures travel unencrypted; use https:// in production".into(),
        }),
        _ => {
            problems.push(bad("must start with https:// (or http://)"));
            return;
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        problems.push(bad("has no host"));
    }
}

impl Domain {
    /// Creates a webhook; every problem with the request at once.
    pub async fn create_webhook(&self, new: NewWebhook) -> Result<CreatedWebhook, DomainError> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        check_url(&new.url, &mut problems, &mut warnings);
        if new.events.is_empty() {
            problems.push(Problem::new(
                "events",
                "must list at least one event type, or \"*\"",
            ));
        }
        for (i, t) in new.events.iter().enumerate() {
            if t != "*" && !EVENT_TYPES.contains(&t.as_str()) {
                problems.push(
                    Problem::new(format!("events[{i}]"), "is not a known event type").with_value(t.clone()),
                );
            }
        }
        let template_id = match &new.template_id {
            None => None,
            Some(text) => match TemplateId::parse(text) {
                None => {
                    problems.push(Problem::new("templateId", "must be a UUID").with_value(text.clone()));
                    None
                }
                Some(id) => {
                    if self.store.get_template(id.as_str()).await?.is_none() {
                        problems
                            .push(Problem::new("templateId", "names no template").with_value(text.clone()));
                    }
                    Some(id)
                }
            },
        };
        if let Some(d) = &new.description
            && d.chars().count() > MAX_DESCRIPTION_CHARS
        {
            problems.push(Problem::new(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if !problems.is_empty() {
            return Err(DomainError::invalid("the webhook is invalid", problems));
        }
        // `*` covers everything: store it alone.
        let mut types: Vec<String> = if new.events.iter().any(|t| t == "*") {
            vec!["*".into()]
        } else {
            new.events.clone()
        };
        types.dedup();
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let mut raw = [0u8; 32];
        openssl::rand::rand_bytes(&mut raw).map_err(DomainError::internal)?;
        let secret = format!("whsec_{}", URL_SAFE_NO_PAD.encode(raw));
        let secret_sealed = self
            .master_key
            .seal(secret.as_bytes(), id.as_bytes())
            .map_err(DomainError::internal)?;
        let record = WebhookRecord {
            seq: 0,
            id,
            url: new.url,
            events: serde_json::to_string(&new.events).map_err(DomainError::internal)?,
            template_id: template_id.map(|t| t.to_string()),
            description: new.description,
            secret_sealed,
            created_at: now_millis(),
        };
        let record = self.store.insert_webhook(&record, &types).await?;
        Ok(CreatedWebhook {
            record,
            secret,
            warnings,
        })
    }

    /// Webhook `id` (a canonical UUID).
    pub async fn webhook(&self, id: &str) -> Result<WebhookRecord, DomainError> {
        self.store
            .get_webhook(id)
            .await?
            .ok_or(DomainError::NotFound(Missing::Webhook))
    }

    /// Up to `limit` webhooks after position `after`, in creation order.
    pub async fn list_webhooks(
        &self,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookRecord>, DomainError> {
        Ok(self.store.list_webhooks(after, limit).await?)
    }

    /// Deletes a webhook with its queued deliveries and log.
    pub async fn delete_webhook(&self, id: &str) -> Result<(), DomainError> {
        if self.store.delete_webhook(id).await? {
            Ok(())
        } else {
            Err(DomainError::NotFound(Missing::Webhook))
        }
    }

    /// Up to `limit` delivery attempts of webhook `id` older than position `before`, newest
    /// first.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, DomainError> {
        self.webhook(id).await?;
        Ok(self.store.list_deliveries(id, before, limit).await?)
    }
}
