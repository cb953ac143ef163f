//! Rollouts (SPEC 7): what one step of a template rollout does. The worker (`crate::rollout`)
//! claims a rollout and calls [`Domain::rollout_step`] until it reports the end; each step
//! reads one batch of passes after the rollout's cursor, re-renders (fingerprints only, no
//! signing, on the blocking pool) the ones whose fingerprint is from an older revision, and
//! commits their new tags, their pushes and the cursor move in one transaction.
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::Domain;
use super::error::{DomainError, Missing};
use super::events::{Operation, outcome_event};
use super::ids::TemplateId;
use super::render::{self, PassContent};
use super::signer::LoadedTemplate;
use crate::store::{NewEvent, Retag, RolloutClaim, RolloutPass, RolloutRecord, RolloutStep, StepOutcome};

/// How often a batch that raced a PATCH is read again before the step gives up (the worker
/// then tries again later; the cursor has not moved).
const RACE_ATTEMPTS: usize = 8;

/// What a rollout step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepDone {
    /// One batch committed: `checked` passes looked at, `updated` retagged.
    Progress { checked: usize, updated: usize },
    /// Every pass was checked: the rollout is `done` (its event written).
    Finished(RolloutRecord),
    /// The rollout is not this worker's any more (superseded, taken over, template gone).
    Lost,
}

/// The end event of a finished rollout: SUCCESS when every pass renders, FAIL when some no
/// longer do (their devices were told to fetch, and the fetch fails until they are PATCHed).
fn end_event(record: &RolloutRecord, request_id: &str) -> NewEvent {
    let data = json!({
        "templateId": record.template_id,
        "rolloutId": record.id,
        "revision": record.revision,
        "passesTotal": record.passes_total,
        "passesChecked": record.passes_checked,
        "passesUpdated": record.passes_updated,
        "passesFailed": record.passes_failed,
    });
    outcome_event(
        Operation::TEMPLATE_ROLLOUT,
        record.passes_failed == 0,
        request_id,
        data,
    )
}

/// The new fingerprints of the passes in `rows` rendered from an older revision than
/// `template`'s whose rendering changed, and how many no longer render. CPU work: call it on
/// the blocking pool.
fn retags(template: &LoadedTemplate, url: &str, rows: &[RolloutPass]) -> (Vec<Retag>, i64) {
    let mut failed = 0;
    let retag = rows
        .iter()
        .filter(|row| row.fingerprint_revision < template.revision)
        .filter_map(|row| {
            let fingerprint = PassContent::from_stored(
                &row.id,
                &row.serial_number,
                &row.auth_token,
                &row.payload,
                &row.overrides,
                row.voided,
            )
            .ok()
            .and_then(|content| render::fingerprint_now(template, url, &content).ok());
            match fingerprint {
                Some(fp) if row.fingerprint.as_deref() == Some(fp.as_slice()) => None,
                Some(fp) => Some(Retag {
                    id: row.id.clone(),
                    version: row.version,
                    fingerprint: Some(fp.to_vec()),
                }),
                None => {
                    tracing::warn!(pass_id = %row.id, "pass no longer renders after template replace");
                    failed += 1;
                    Some(Retag {
                        id: row.id.clone(),
                        version: row.version,
                        fingerprint: None,
                    })
                }
            }
        })
        .collect();
    (retag, failed)
}

impl Domain {
    /// Does one step of rollout `claim` for worker `owner` (who holds its lease): one batch of
    /// at most `batch` passes, or the end. The lease is renewed to `lease` from now with every
    /// batch. On success `claim.cursor_seq` is where the next step begins.
    pub async fn rollout_step(
        &self,
        claim: &mut RolloutClaim,
        owner: &str,
        lease: Duration,
        batch: i64,
    ) -> Result<StepDone, DomainError> {
        let template = self
            .signers
            .at_least(&self.store, &self.master_key, &claim.template_id, claim.revision)
            .await?;
        let Some(template) = template else {
            return Ok(StepDone::Lost);
        };
        if template.revision != claim.revision {
            // A newer PUT committed: its rollout covers every pass.
            return Ok(StepDone::Lost);
        }
        for _ in 0..RACE_ATTEMPTS {
            let rows = self
                .store
                .rollout_batch(&claim.template_id, claim.cursor_seq, batch)
                .await?;
            let Some(last_seq) = rows.last().map(|r| r.seq) else {
                return self.finish_rollout(claim, owner).await;
            };
            let checked = rows.len();
            let (tpl, url) = (template.clone(), self.web_service_url.clone());
            let (retag, failed) = tokio::task::spawn_blocking(move || retags(&tpl, &url, &rows)).await?;
            let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4);
            let step = RolloutStep {
                rollout_id: claim.id.clone(),
                revision: claim.revision,
                owner: owner.to_string(),
                from_cursor: claim.cursor_seq,
                to_cursor: last_seq,
                lease_until: crate::store::now_millis() + lease_ms,
                checked: checked as i64,
                failed,
                retag,
            };
            match self.store.write_rollout_step(&step).await? {
                StepOutcome::Written => {
                    for r in &step.retag {
                        self.signed.forget(&r.id);
                    }
                    claim.cursor_seq = last_seq;
                    self.metrics.count_rollout_batch(checked, step.retag.len());
                    return Ok(StepDone::Progress {
                        checked,
                        updated: step.retag.len(),
                    });
                }
                StepOutcome::Lost => return Ok(StepDone::Lost),
                StepOutcome::Raced => {
                    // A PATCH won a pass of this batch; it rendered with this revision, so the
                    // next read skips it. Let it commit first.
                    tokio::time::sleep(Duration::from_millis(rand::random_range(1..=10))).await;
                }
            }
        }
        Err(DomainError::conflict(
            "passes of this rollout batch keep changing; trying again later",
            Vec::new(),
        ))
    }

    async fn finish_rollout(&self, claim: &RolloutClaim, owner: &str) -> Result<StepDone, DomainError> {
        let request_id = self
            .store
            .rollout_request_id(&claim.id)
            .await?
            .unwrap_or_default();
        let finished = self
            .store
            .finish_rollout(
                &claim.id,
                owner,
                claim.cursor_seq,
                |record| vec![end_event(record, &request_id)],
                self.config.keep_events,
            )
            .await?;
        Ok(match finished {
            Some((record, events)) => {
                self.events.committed(&events);
                self.metrics.count_rollout_finished();
                StepDone::Finished(record)
            }
            None => StepDone::Lost,
        })
    }

    /// Rollout `rollout_id` of template `template_id`.
    pub async fn rollout(
        &self,
        template_id: &TemplateId,
        rollout_id: &str,
    ) -> Result<RolloutRecord, DomainError> {
        self.template(template_id).await?;
        self.store
            .get_rollout(template_id.as_str(), rollout_id)
            .await?
            .ok_or(DomainError::NotFound(Missing::Rollout))
    }

    /// The latest rollout of each of `template_ids` that has one.
    pub async fn latest_rollouts(&self, template_ids: &[&str]) -> Result<Vec<RolloutRecord>, DomainError> {
        Ok(self.store.latest_rollouts(template_ids).await?)
    }

    /// Claims a running rollout for `owner` (see [`crate::store::Store::claim_rollout`]).
    pub async fn claim_rollout(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<RolloutClaim>, DomainError> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4);
        Ok(self
            .store
            .claim_rollout(owner, crate::store::now_millis(), lease_ms)
            .await?)
    }

    /// Hands a claimed rollout back (shutdown).
    pub async fn release_rollout(&self, claim: &RolloutClaim, owner: &str) -> Result<(), DomainError> {
        Ok(self.store.release_rollout(&claim.id, owner).await?)
    }

    /// The signal raised when this process started a rollout.
    pub fn rollout_wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.store.rollout_wakeup()
    }
}
