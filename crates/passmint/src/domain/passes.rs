//! Passes: issued one at a time or a thousand at once, changed, fetched in their current signed
//! version, deleted.
use std::sync::Arc;
use std::time::Duration;

use pkpass::PassBytes;
use serde_json::{Value, json};

use super::error::{DomainError, Missing, Problem};
use super::events::Audit;
use super::ids::{PassId, SerialNumber, TemplateId};
use super::render::{self, PassContent};
use super::signer::LoadedTemplate;
use super::{Batcher, Domain};
use crate::store::{
    Atomicity, ChangeOutcome, InsertOutcome, NewEvent, NewPass, PassChange, PassRecord, Store,
};

/// Passes stored per group commit of single issues.
const ISSUE_BATCH: usize = 128;
/// How often an issue is rendered again when its template was replaced meanwhile.
const RENDER_ATTEMPTS: usize = 3;
/// How often a PATCH that raced another write is retried before giving up with 409.
const PATCH_ATTEMPTS: usize = 8;

/// One pass to issue: the holder's data. The template and identifiers come from elsewhere.
#[derive(Debug, Clone)]
pub struct NewPassSpec {
    /// Values for the template's `{{placeholders}}` (a JSON object).
    pub payload: Value,
    /// Default: a new UUID.
    pub serial_number: Option<SerialNumber>,
    /// Merged into the top level of pass.json (a JSON object).
    pub overrides: Value,
}

/// A change to a pass: each given member replaces the stored one.
#[derive(Debug, Clone, Default)]
pub struct PassPatch {
    pub payload: Option<Value>,
    pub overrides: Option<Value>,
    pub voided: Option<bool>,
}

/// A pass's current signed version, ready to send.
#[derive(Debug, Clone)]
pub struct SignedPass {
    pub bytes: PassBytes,
    /// The template's `fileName` (for `Content-Disposition`).
    pub file_name: String,
    /// Unix seconds (for `Last-Modified`).
    pub last_modified: i64,
}

/// A newly issued pass: as stored, and signed.
#[derive(Debug, Clone)]
pub struct Issued {
    pub record: PassRecord,
    pub signed: SignedPass,
}

/// A single issue handed to the group-committing writer.
pub(crate) struct IssueJob {
    row: NewPass,
    events: Vec<NewEvent>,
}

pub(crate) type IssueResult = Result<InsertOutcome, DomainError>;

/// The writer that stores single issues in batches, each pass with its events.
pub(crate) fn start_issue_writer(store: Store, keep_events: i64) -> Batcher<IssueJob, IssueResult> {
    Batcher::start(ISSUE_BATCH, 4096, move |jobs: Vec<IssueJob>| {
        let store = store.clone();
        async move {
            let n = jobs.len();
            let (rows, events): (Vec<NewPass>, Vec<Vec<NewEvent>>) =
                jobs.into_iter().map(|j| (j.row, j.events)).unzip();
            let result = store
                .insert_passes(
                    &rows,
                    Atomicity::EachAlone,
                    |i, _| events.get(i).cloned().unwrap_or_default(),
                    keep_events,
                )
                .await;
            match result {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(error) => vec![Err(DomainError::from(error)); n],
            }
        }
    })
}

fn serial_taken(param: &str, serial: &str) -> Problem {
    Problem::new(param, "is already taken for this pass type").with_value(serial)
}

impl Domain {
    /// The template to issue from: the cached one (its revision is checked when the pass is
    /// stored) or restored from the store.
    async fn template_for_issue(&self, id: &TemplateId) -> Result<Arc<LoadedTemplate>, DomainError> {
        if let Some(cached) = self.signers.cached(id.as_str()) {
            return Ok(cached);
        }
        self.signers
            .reload(&self.store, &self.master_key, id.as_str())
            .await?
            .ok_or(DomainError::NotFound(Missing::Template))
    }

    /// Issues one pass: renders and signs it, then stores it with its audit events (START and
    /// SUCCESS) in one group-committed transaction, before anyone is told it exists.
    pub async fn create_pass(
        &self,
        template_id: &TemplateId,
        spec: NewPassSpec,
        audit: &Audit,
    ) -> Result<Issued, DomainError> {
        let id = PassId::new();
        let content = PassContent {
            serial_number: spec
                .serial_number
                .unwrap_or_else(SerialNumber::generate)
                .into_string(),
            auth_token: render::new_auth_token(),
            payload: spec.payload,
            overrides: spec.overrides,
            voided: false,
        };
        let payload_text = content.payload.to_string();
        let overrides_text = content.overrides.to_string();
        let mut template = self.template_for_issue(template_id).await?;
        for _ in 0..RENDER_ATTEMPTS {
            let files = Arc::new(self.sign(&template, content.clone()).await?);
            let events = audit.success_events(json!({ "passId": id.as_str() })).to_vec();
            let row = NewPass {
                id: id.to_string(),
                template_id: template_id.to_string(),
                pass_type_identifier: template.pass_type_identifier.clone(),
                serial_number: content.serial_number.clone(),
                auth_token: content.auth_token.clone(),
                payload: payload_text.clone(),
                overrides: overrides_text.clone(),
                voided: false,
                fingerprint: files.fingerprint.to_vec(),
                template_revision: template.revision,
            };
            let job = IssueJob {
                row,
                events: events.clone(),
            };
            let outcome = self
                .issue_writer
                .submit(job)
                .await
                .ok_or_else(|| DomainError::Unavailable("the server is shutting down".into()))??;
            match outcome {
                InsertOutcome::Inserted(record) => {
                    audit.mark_written();
                    self.events.committed(&events);
                    self.signed
                        .put(&record.id, record.update_tag, template.revision, files.clone());
                    let signed = SignedPass {
                        bytes: template.prepared_for(&content.payload).assemble(&files),
                        file_name: template.file_name.clone(),
                        last_modified: record.last_modified,
                    };
                    return Ok(Issued {
                        record: *record,
                        signed,
                    });
                }
                InsertOutcome::SerialTaken => {
                    return Err(DomainError::conflict(
                        "serial number already taken for this pass type",
                        vec![serial_taken("serialNumber", &content.serial_number)],
                    ));
                }
                InsertOutcome::TemplateMissing => {
                    self.signers.invalidate(template_id.as_str());
                    return Err(DomainError::NotFound(Missing::Template));
                }
                InsertOutcome::TemplateChanged => {
                    template = self
                        .signers
                        .reload(&self.store, &self.master_key, template_id.as_str())
                        .await?
                        .ok_or(DomainError::NotFound(Missing::Template))?;
                }
            }
        }
        Err(DomainError::conflict(
            "the template is being replaced; try again",
            Vec::new(),
        ))
    }

    /// Issues many passes of one template, all or nothing (SPEC 8): every item is checked and
    /// rendered first (every problem named by item), then all are stored in one transaction
    /// with the batch's events. They are not signed now: the first fetch signs each.
    pub async fn create_passes(
        &self,
        template_id: &TemplateId,
        items: Vec<NewPassSpec>,
        audit: &Audit,
    ) -> Result<Vec<PassRecord>, DomainError> {
        let mut duplicates = Vec::new();
        let mut first_use: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(serial) = &item.serial_number
                && let Some(first) = first_use.insert(serial.as_str(), i)
            {
                duplicates.push(
                    Problem::new(
                        format!("items[{i}].serialNumber"),
                        format!("is used twice in the batch (also items[{first}])"),
                    )
                    .with_value(serial.as_str()),
                );
            }
        }
        if !duplicates.is_empty() {
            return Err(DomainError::conflict(
                "serial numbers are used more than once",
                duplicates,
            ));
        }
        let contents: Arc<Vec<(String, PassContent)>> = Arc::new(
            items
                .into_iter()
                .map(|item| {
                    let content = PassContent {
                        serial_number: item
                            .serial_number
                            .unwrap_or_else(SerialNumber::generate)
                            .into_string(),
                        auth_token: render::new_auth_token(),
                        payload: item.payload,
                        overrides: item.overrides,
                        voided: false,
                    };
                    (PassId::new().to_string(), content)
                })
                .collect(),
        );
        let mut template = self.template_for_issue(template_id).await?;
        for _ in 0..RENDER_ATTEMPTS {
            let fingerprints = self.fingerprint_all(&template, &contents).await?;
            let rows: Vec<NewPass> = contents
                .iter()
                .zip(fingerprints)
                .map(|((id, c), fingerprint)| NewPass {
                    id: id.clone(),
                    template_id: template_id.to_string(),
                    pass_type_identifier: template.pass_type_identifier.clone(),
                    serial_number: c.serial_number.clone(),
                    auth_token: c.auth_token.clone(),
                    payload: c.payload.to_string(),
                    overrides: c.overrides.to_string(),
                    voided: false,
                    fingerprint: fingerprint.to_vec(),
                    template_revision: template.revision,
                })
                .collect();
            let events = audit.success_events(json!({ "count": rows.len() })).to_vec();
            let outcomes = self
                .store
                .insert_passes(
                    &rows,
                    Atomicity::AllOrNothing,
                    |i, _| if i == 0 { events.clone() } else { Vec::new() },
                    self.config.keep_events,
                )
                .await?;
            if outcomes.contains(&InsertOutcome::TemplateMissing) {
                self.signers.invalidate(template_id.as_str());
                return Err(DomainError::NotFound(Missing::Template));
            }
            if outcomes.contains(&InsertOutcome::TemplateChanged) {
                template = self
                    .signers
                    .reload(&self.store, &self.master_key, template_id.as_str())
                    .await?
                    .ok_or(DomainError::NotFound(Missing::Template))?;
                continue;
            }
            let taken: Vec<Problem> = outcomes
                .iter()
                .zip(&rows)
                .enumerate()
                .filter(|(_, (o, _))| **o == InsertOutcome::SerialTaken)
                .map(|(i, (_, r))| serial_taken(&format!("items[{i}].serialNumber"), &r.serial_number))
                .collect();
            if !taken.is_empty() {
                return Err(DomainError::conflict(
                    "serial numbers already taken for this pass type",
                    taken,
                ));
            }
            audit.mark_written();
            self.events.committed(&events);
            return Ok(outcomes
                .into_iter()
                .filter_map(|o| match o {
                    InsertOutcome::Inserted(record) => Some(*record),
                    _ => None,
                })
                .collect());
        }
        Err(DomainError::conflict(
            "the template is being replaced; try again",
            Vec::new(),
        ))
    }

    /// Fingerprints every item on the blocking pool, split over two tasks (this machine's
    /// cores); every rendering problem is named by item.
    async fn fingerprint_all(
        &self,
        template: &Arc<LoadedTemplate>,
        contents: &Arc<Vec<(String, PassContent)>>,
    ) -> Result<Vec<[u8; 32]>, DomainError> {
        let half = contents.len().div_ceil(2).max(1);
        let tasks: Vec<_> = (0..contents.len())
            .step_by(half)
            .map(|start| {
                let (template, contents, url) =
                    (template.clone(), contents.clone(), self.web_service_url.clone());
                tokio::task::spawn_blocking(move || {
                    let end = (start + half).min(contents.len());
                    (start..end)
                        .map(|i| {
                            render::fingerprint_now(&template, &url, &contents[i].1)
                                .map_err(|e| render::render_problem(e, Some(&format!("items[{i}]"))))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut fingerprints = Vec::with_capacity(contents.len());
        let mut problems = Vec::new();
        for task in tasks {
            for result in task.await? {
                match result {
                    Ok(fp) => fingerprints.push(fp),
                    Err(DomainError::Invalid { problems: p, .. }) => problems.extend(p),
                    Err(other) => return Err(other),
                }
            }
        }
        if !problems.is_empty() {
            return Err(DomainError::invalid("some items are invalid", problems));
        }
        Ok(fingerprints)
    }

    /// Renders and signs one pass (counted: `passmint_pass_signatures_total`).
    async fn sign(
        &self,
        template: &Arc<LoadedTemplate>,
        content: PassContent,
    ) -> Result<pkpass::SignedFiles, DomainError> {
        let files = render::sign(template.clone(), self.web_service_url.clone(), content).await?;
        self.metrics.count_signature();
        Ok(files)
    }

    /// Pass `id`.
    pub async fn pass(&self, id: &PassId) -> Result<PassRecord, DomainError> {
        self.store
            .get_pass(id.as_str())
            .await?
            .ok_or(DomainError::NotFound(Missing::Pass))
    }

    /// Up to `limit` passes after position `after`, oldest first, optionally of one template.
    pub async fn list_passes(
        &self,
        template_id: Option<&TemplateId>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PassRecord>, DomainError> {
        Ok(self
            .store
            .list_passes(template_id.map(TemplateId::as_str), after, limit)
            .await?)
    }

    /// Changes a pass. Only a change of what the pass renders is an update (new tag, pushes);
    /// the write is a compare-and-set on the row's version, retried when another write won.
    /// Returns the pass and whether it was an update.
    pub async fn change_pass(
        &self,
        id: &PassId,
        patch: PassPatch,
    ) -> Result<(PassRecord, bool), DomainError> {
        for attempt in 0..PATCH_ATTEMPTS {
            if attempt > 0 {
                // Let the writer that won get out of the way; jitter spreads the losers.
                let jitter = rand::random_range(1..=5u64) * attempt as u64;
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            let pass = self.pass(id).await?;
            let template = self
                .signers
                .at_least(
                    &self.store,
                    &self.master_key,
                    &pass.template_id,
                    pass.template_revision,
                )
                .await?
                .ok_or(DomainError::NotFound(Missing::Pass))?;
            let mut content = PassContent::of(&pass)?;
            let overrides = patch
                .overrides
                .as_ref()
                .map_or_else(|| pass.overrides.clone(), Value::to_string);
            if let Some(p) = &patch.payload {
                content.payload = super::personalize::keep_holder(&content.payload, p.clone());
            }
            if let Some(o) = &patch.overrides {
                content.overrides = o.clone();
            }
            if let Some(v) = patch.voided {
                content.voided = v;
            }
            let voided = content.voided;
            let payload = match &patch.payload {
                Some(_) => content.payload.to_string(),
                None => pass.payload.clone(),
            };
            let fingerprint =
                render::fingerprint(template.clone(), self.web_service_url.clone(), content).await?;
            let change = PassChange {
                payload,
                overrides,
                voided,
                fingerprint: fingerprint.to_vec(),
                rendered_revision: template.revision,
                is_update: pass.fingerprint.as_deref() != Some(fingerprint.as_slice()),
                personalized: None,
            };
            match self.store.change_pass(&pass, &change).await? {
                ChangeOutcome::Applied(record) => {
                    if change.is_update {
                        self.signed.forget(&record.id);
                    }
                    return Ok((*record, change.is_update));
                }
                ChangeOutcome::Missing => return Err(DomainError::NotFound(Missing::Pass)),
                ChangeOutcome::Raced => {}
            }
        }
        Err(DomainError::conflict(
            "the pass is being changed concurrently; try again",
            Vec::new(),
        ))
    }

    /// Deletes a pass and its registrations.
    pub async fn delete_pass(&self, id: &PassId) -> Result<(), DomainError> {
        if !self.store.delete_pass(id.as_str()).await? {
            return Err(DomainError::NotFound(Missing::Pass));
        }
        self.signed.forget(id.as_str());
        Ok(())
    }

    /// The current signed version of a stored pass: the kept one when nothing changed since it
    /// was signed, else rendered and signed now (and kept).
    pub async fn signed_pass(&self, pass: &PassRecord) -> Result<SignedPass, DomainError> {
        let template = self
            .signers
            .at_least(
                &self.store,
                &self.master_key,
                &pass.template_id,
                pass.template_revision,
            )
            .await?
            .ok_or(DomainError::NotFound(Missing::Pass))?;
        let files = match self.signed.get(&pass.id, pass.update_tag, template.revision) {
            Some(files) => files,
            None => {
                let content = PassContent::of(pass)?;
                let files = Arc::new(self.sign(&template, content).await?);
                self.signed
                    .put(&pass.id, pass.update_tag, template.revision, files.clone());
                files
            }
        };
        let prepared = match &template.enrollment {
            None => &template.prepared,
            Some(_) => template.prepared_for(&PassContent::of(pass)?.payload),
        };
        Ok(SignedPass {
            bytes: prepared.assemble(&files),
            file_name: template.file_name.clone(),
            last_modified: pass.last_modified,
        })
    }
}
