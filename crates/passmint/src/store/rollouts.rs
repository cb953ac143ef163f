//! Template rollouts (SPEC 7): a template replace writes the new revision and its rollout in
//! one transaction; workers claim running rollouts with a lease and walk the template's passes
//! in `seq` order, one batch per transaction.
//!
//! Exactly-once batches: every batch's transaction starts by moving the rollout's cursor with a
//! compare-and-set (`cursor_seq = <where the batch began>`, lease owner = this worker, still
//! running). Two workers (a lease that ran out under a slow one, a superseding PUT) can both
//! render a batch, but only one of them can commit it.
//!
//! No lost update: each pass write is a compare-and-set on `passes.version` and on the pass's
//! `fingerprint_revision` being older than the rollout's; if any pass of the batch was changed
//! since it was read, the whole batch rolls back and is read again (the PATCH that won already
//! rendered with the new revision, see `change_pass`, so the second read skips it).
//!
//! Lock order (as in `passes.rs`): rollout row, then pass rows, then the update-tag counter.
use sqlx::FromRow;

use super::passes::{BUMP_TAG, next_last_modified, push_in_list};
use super::webhooks::{WebhookEvent, WebhookQueue};
use super::{Backend, NewEvent, NewTemplate, Store, StoreError, TemplateRecord, now_millis};

/// A rollout as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RolloutRecord {
    pub id: String,
    pub template_id: String,
    pub revision: i64,
    /// `running`, `done` or `superseded`.
    pub status: String,
    pub passes_total: i64,
    pub passes_checked: i64,
    pub passes_updated: i64,
    pub passes_failed: i64,
    pub cursor_seq: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

const ROLLOUT_COLUMNS: &str = "id, template_id, revision, status, passes_total, passes_checked, \
     passes_updated, passes_failed, cursor_seq, started_at, finished_at";

const TEMPLATE_COLUMNS: &str = "seq, id, name, file_name, team_identifier, pass_type_identifier, \
     certificate_expires_at, revision, created_at, updated_at";

/// How a template replace ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceOutcome {
    /// Stored, with the rollout that will bring its passes up to date.
    Replaced {
        template: Box<TemplateRecord>,
        rollout: Box<RolloutRecord>,
    },
    /// No such template.
    Missing,
    /// The template has passes and these identifiers (`passTypeIdentifier`,
    /// `teamIdentifier`) would change: nothing was written.
    IdentifiersChanged(Vec<&'static str>),
}

/// A rollout a worker holds the lease of.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RolloutClaim {
    pub id: String,
    pub template_id: String,
    pub revision: i64,
    pub cursor_seq: i64,
}

/// One pass as a rollout batch reads it.
#[derive(Debug, Clone, FromRow)]
pub struct RolloutPass {
    pub seq: i64,
    pub id: String,
    pub serial_number: String,
    pub auth_token: String,
    pub payload: String,
    pub overrides: String,
    pub voided: bool,
    pub fingerprint: Option<Vec<u8>>,
    pub fingerprint_revision: i64,
    pub version: i64,
}

/// A pass whose rendering changed: its new fingerprint (`None`: it no longer renders), written
/// only if the pass is still at `version`.
#[derive(Debug, Clone)]
pub struct Retag {
    pub id: String,
    pub version: i64,
    pub fingerprint: Option<Vec<u8>>,
}

/// One batch's result, to commit together with the cursor move.
#[derive(Debug, Clone)]
pub struct RolloutStep {
    pub rollout_id: String,
    pub revision: i64,
    pub owner: String,
    /// The cursor the batch was read from (the compare-and-set).
    pub from_cursor: i64,
    /// The `seq` of the batch's last pass.
    pub to_cursor: i64,
    /// New lease end (Unix ms).
    pub lease_until: i64,
    pub checked: i64,
    pub failed: i64,
    /// Passes to retag, in `seq` order.
    pub retag: Vec<Retag>,
}

/// How writing a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Committed: the passes are retagged, their pushes queued, the cursor moved.
    Written,
    /// A pass of the batch changed since it was read: nothing written; read the batch again.
    Raced,
    /// The rollout is no longer this worker's (superseded, finished, lease taken over, or the
    /// cursor moved): nothing written; let it go.
    Lost,
}

/// The body of a rollout step's transaction on the open transaction `$tx`: the fenced cursor
/// move, then `$retag` (the backend's pass writes, evaluating to the rows written), the tag
/// and the pushes. Evaluates to `(outcome, commit?)`. A macro so it compiles once per backend.
macro_rules! step_in {
    ($tx:ident, $step:expr, $updated:expr, $ids:expr, $now:expr, $google:expr, $retag:block) => {{
        let step: &RolloutStep = $step;
        let fenced = sqlx::query(
            "UPDATE rollouts SET cursor_seq = $4, passes_checked = passes_checked + $5, \
             passes_updated = passes_updated + $6, passes_failed = passes_failed + $7, \
             lease_until = $8 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running' AND cursor_seq = $3",
        )
        .bind(&step.rollout_id)
        .bind(&step.owner)
        .bind(step.from_cursor)
        .bind(step.to_cursor)
        .bind(step.checked)
        .bind($updated)
        .bind(step.failed)
        .bind(step.lease_until)
        .execute(&mut **$tx)
        .await?
        .rows_affected();
        if fenced == 0 {
            (StepOutcome::Lost, false)
        } else if step.retag.is_empty() {
            (StepOutcome::Written, true)
        } else {
            let written: u64 = $retag;
            if written != step.retag.len() as u64 {
                (StepOutcome::Raced, false)
            } else {
                // The counter last (see BUMP_TAG), then the tag on the rows already held.
                let tag: i64 = sqlx::query_scalar(BUMP_TAG).fetch_one(&mut **$tx).await?;
                let ids: &[String] = &$ids;
                for chunk in ids.chunks(500) {
                    let mut q = sqlx::QueryBuilder::new("UPDATE passes SET update_tag = ");
                    q.push_bind(tag);
                    q.push(" WHERE id IN ");
                    push_in_list(&mut q, chunk.iter().map(String::as_str));
                    q.build().persistent(false).execute(&mut **$tx).await?;
                }
                super::google::enqueue_objects!($google, &mut **$tx, ids, $now);
                for chunk in ids.chunks(500) {
                    super::outbox::enqueue_for_passes!(&mut **$tx, chunk, $now);
                }
                // A retagged pass is `pass.updated` for webhooks, queued with its new tag.
                let refs = WebhookQueue::pass_refs(&mut **$tx, ids).await?;
                let hooks: Vec<WebhookEvent> = refs
                    .iter()
                    .map(|p| p.event("pass.updated", $now, serde_json::json!({})))
                    .collect();
                WebhookQueue::queue_webhook_events(&mut **$tx, &hooks, $now).await?;
                (StepOutcome::Written, true)
            }
        }
    }};
}

/// Commits `tx` when `commit`, else rolls it back.
async fn finish_tx<DB: sqlx::Database>(
    tx: sqlx::Transaction<'_, DB>,
    commit: bool,
) -> Result<(), StoreError> {
    if commit {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

impl Store {
    fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Replaces every stored field of template `t.id`, bumps its revision, supersedes its
    /// running rollout and starts rollout `rollout_id` for the new revision, all in one
    /// transaction. Refused (nothing written) when the template has passes and its pass type or
    /// team identifier would change.
    pub async fn replace_template_with_rollout(
        &self,
        t: &NewTemplate,
        rollout_id: &str,
        request_id: &str,
    ) -> Result<ReplaceOutcome, StoreError> {
        let now = now_millis();
        // On PostgreSQL the template row is locked first: pass inserts and PATCHes hold it
        // FOR SHARE, so this waits for them and they wait for this (no pass is written with the
        // old revision after the rollout's passes were counted).
        let lock = if self.is_postgres() { " FOR UPDATE" } else { "" };
        let select =
            format!("SELECT team_identifier, pass_type_identifier FROM templates WHERE id = $1{lock}");
        let update = format!(
            "UPDATE templates SET name = $2, file_name = $3, team_identifier = $4, \
             pass_type_identifier = $5, template_zip = $6, signer_cert_der = $7, wwdr_der = $8, \
             signer_key_sealed = $9, certificate_expires_at = $10, revision = revision + 1, \
             updated_at = $11 WHERE id = $1 RETURNING {TEMPLATE_COLUMNS}"
        );
        let insert = format!(
            "INSERT INTO rollouts (id, template_id, revision, status, passes_total, request_id, started_at) \
             VALUES ($1, $2, $3, 'running', $4, $5, $6) RETURNING {ROLLOUT_COLUMNS}"
        );
        let _turn = self.write_turn().await;
        let outcome = super::in_transaction!(self, tx => async {
            let current: Option<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(&t.id)
                .fetch_optional(&mut **tx)
                .await?;
            let Some((team, pass_type)) = current else {
                return Ok::<_, StoreError>(ReplaceOutcome::Missing);
            };
            let mut changed = Vec::new();
            if pass_type != t.pass_type_identifier {
                changed.push("passTypeIdentifier");
            }
            if team != t.team_identifier {
                changed.push("teamIdentifier");
            }
            if !changed.is_empty() {
                let any: Option<i64> = sqlx::query_scalar("SELECT seq FROM passes WHERE template_id = $1 LIMIT 1")
                    .bind(&t.id)
                    .fetch_optional(&mut **tx)
                    .await?;
                if any.is_some() {
                    return Ok(ReplaceOutcome::IdentifiersChanged(changed));
                }
            }
            let template: TemplateRecord = sqlx::query_as(sqlx::AssertSqlSafe(update))
                .bind(&t.id)
                .bind(&t.name)
                .bind(&t.file_name)
                .bind(&t.team_identifier)
                .bind(&t.pass_type_identifier)
                .bind(&t.template_zip)
                .bind(&t.signer_cert_der)
                .bind(&t.wwdr_der)
                .bind(&t.signer_key_sealed)
                .bind(t.certificate_expires_at)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
            // The class follows the template; its passes' objects follow with the rollout.
            super::google::enqueue_class!(self.google_sync, &mut **tx, &t.id, now);
            sqlx::query(
                "UPDATE rollouts SET status = 'superseded', finished_at = $2, lease_owner = NULL, \
                 lease_until = NULL WHERE template_id = $1 AND status = 'running'",
            )
            .bind(&t.id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passes WHERE template_id = $1")
                .bind(&t.id)
                .fetch_one(&mut **tx)
                .await?;
            let rollout: RolloutRecord = sqlx::query_as(sqlx::AssertSqlSafe(insert))
                .bind(rollout_id)
                .bind(&t.id)
                .bind(template.revision)
                .bind(total)
                .bind(request_id)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
            Ok(ReplaceOutcome::Replaced {
                template: Box::new(template),
                rollout: Box::new(rollout),
            })
        });
        if matches!(outcome, ReplaceOutcome::Replaced { .. }) {
            self.rollout_enqueued();
            self.google_enqueued();
        }
        Ok(outcome)
    }

    /// Wakes this process's rollout worker (other processes find the rollout on their next poll).
    pub fn rollout_enqueued(&self) {
        self.rollout_wakeup.notify_one();
    }

    /// The signal [`Store::rollout_enqueued`] raises.
    pub fn rollout_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.rollout_wakeup.clone()
    }

    /// Rollout `id` of template `template_id`.
    pub async fn get_rollout(
        &self,
        template_id: &str,
        id: &str,
    ) -> Result<Option<RolloutRecord>, StoreError> {
        let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1 AND template_id = $2");
        let record = super::on_pool!(self, pool => {
            sqlx::query_as::<_, RolloutRecord>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(template_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(record)
    }

    /// The request id of the PUT that started rollout `id`.
    pub async fn rollout_request_id(&self, id: &str) -> Result<Option<String>, StoreError> {
        let found = super::on_pool!(self, pool => {
            sqlx::query_scalar::<_, String>("SELECT request_id FROM rollouts WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(found)
    }

    /// The latest rollout of each of `template_ids` that has one.
    pub async fn latest_rollouts(&self, template_ids: &[&str]) -> Result<Vec<RolloutRecord>, StoreError> {
        if template_ids.is_empty() {
            return Ok(Vec::new());
        }
        let head = format!(
            "SELECT {ROLLOUT_COLUMNS} FROM rollouts r WHERE r.revision = \
             (SELECT MAX(r2.revision) FROM rollouts r2 WHERE r2.template_id = r.template_id) \
             AND r.template_id IN "
        );
        let records = super::on_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(head);
            push_in_list(&mut q, template_ids.iter().copied());
            q.build_query_as::<RolloutRecord>().persistent(false).fetch_all(pool).await
        })?;
        Ok(records)
    }

    /// Claims the oldest running rollout whose lease ran out (or that `owner` holds already)
    /// for `lease_ms`; on PostgreSQL rows another process is claiming are skipped.
    pub async fn claim_rollout(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<RolloutClaim>, StoreError> {
        let skip_locked = if self.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE rollouts SET lease_owner = $1, lease_until = $2 + $3 WHERE id = \
             (SELECT id FROM rollouts WHERE status = 'running' AND \
              (lease_until IS NULL OR lease_until <= $2 OR lease_owner = $1) \
              ORDER BY started_at LIMIT 1{skip_locked}) \
             RETURNING id, template_id, revision, cursor_seq"
        );
        let _turn = self.write_turn().await;
        let claim = super::on_pool!(self, pool => {
            sqlx::query_as::<_, RolloutClaim>(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .bind(now_ms)
                .bind(lease_ms)
                .fetch_optional(pool)
                .await
        })?;
        Ok(claim)
    }

    /// Hands a claim back (shutdown): another worker may take it at once.
    pub async fn release_rollout(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        super::on_pool!(self, pool => {
            sqlx::query(
                "UPDATE rollouts SET lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            )
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Up to `limit` passes of template `template_id` after `after_seq`, in `seq` order.
    pub async fn rollout_batch(
        &self,
        template_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<RolloutPass>, StoreError> {
        let rows = super::on_pool!(self, pool => {
            sqlx::query_as::<_, RolloutPass>(
                "SELECT seq, id, serial_number, auth_token, payload, overrides, voided, fingerprint, \
                 fingerprint_revision, version FROM passes WHERE template_id = $1 AND seq > $2 \
                 ORDER BY seq ASC LIMIT $3",
            )
            .bind(template_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Commits one batch of a rollout: the cursor move (compare-and-set, see the module doc),
    /// the retagged passes (each a compare-and-set on its version; one new tag for all, each a
    /// later `last_modified`) and their pushes, or nothing at all.
    pub async fn write_rollout_step(&self, step: &RolloutStep) -> Result<StepOutcome, StoreError> {
        let now = now_millis();
        let updated = i64::try_from(step.retag.len()).unwrap_or(i64::MAX);
        let per_row = format!(
            "UPDATE passes SET fingerprint = $2, fingerprint_revision = $3, last_modified = {}, \
             updated_at = $5, version = version + 1 \
             WHERE id = $1 AND version = $6 AND fingerprint_revision < $3",
            next_last_modified("$4")
        );
        let set_wise: &str = "UPDATE passes p SET fingerprint = v.fp, fingerprint_revision = $4, last_modified = \
             CASE WHEN p.last_modified + 1 > $5 THEN p.last_modified + 1 ELSE $5 END, \
             updated_at = $6, version = p.version + 1 \
             FROM UNNEST($1::text[], $2::bytea[], $3::bigint[]) AS v(id, fp, version) \
             WHERE p.id = v.id AND p.version = v.version AND p.fingerprint_revision < $4";
        let ids: Vec<String> = step.retag.iter().map(|r| r.id.clone()).collect();
        let turn = self.write_turn().await;
        let outcome = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut transaction = pool.begin_with("BEGIN IMMEDIATE").await?;
                let tx = &mut transaction;
                let (out, commit) = step_in!(tx, step, updated, ids, now, self.google_sync, {
                    let mut n = 0;
                    for r in &step.retag {
                        n += sqlx::query(sqlx::AssertSqlSafe(per_row.as_str()))
                            .bind(&r.id)
                            .bind(&r.fingerprint)
                            .bind(step.revision)
                            .bind(now / 1000)
                            .bind(now)
                            .bind(r.version)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                    }
                    n
                });
                finish_tx(transaction, commit).await?;
                out
            }
            Backend::Postgres(pool) => {
                let mut transaction = pool.begin().await?;
                let tx = &mut transaction;
                let (out, commit) = step_in!(tx, step, updated, ids, now, self.google_sync, {
                    let fingerprints: Vec<Option<Vec<u8>>> =
                        step.retag.iter().map(|r| r.fingerprint.clone()).collect();
                    let versions: Vec<i64> = step.retag.iter().map(|r| r.version).collect();
                    sqlx::query(set_wise)
                        .bind(&ids)
                        .bind(&fingerprints)
                        .bind(&versions)
                        .bind(step.revision)
                        .bind(now / 1000)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                });
                finish_tx(transaction, commit).await?;
                out
            }
        };
        drop(turn);
        if outcome == StepOutcome::Written && !step.retag.is_empty() {
            self.pass_heads.forget(ids.iter().map(String::as_str));
            self.push_enqueued();
            self.google_enqueued();
        }
        Ok(outcome)
    }

    /// Ends rollout `id` as `done` if `owner` still holds it at cursor `cursor` (every pass
    /// after it was checked), writing `events_for(<the finished rollout>)` in the same
    /// transaction. `passes_total` becomes the number checked (passes issued or deleted while
    /// it ran move it). `None` when the rollout was no longer this worker's.
    pub async fn finish_rollout(
        &self,
        id: &str,
        owner: &str,
        cursor: i64,
        events_for: impl FnOnce(&RolloutRecord) -> Vec<NewEvent> + Send,
        keep_events: i64,
    ) -> Result<Option<(RolloutRecord, Vec<NewEvent>)>, StoreError> {
        let now = now_millis();
        let sql = format!(
            "UPDATE rollouts SET status = 'done', finished_at = $4, passes_total = passes_checked, \
             lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running' AND cursor_seq = $3 \
             RETURNING {ROLLOUT_COLUMNS}"
        );
        let _turn = self.write_turn().await;
        let done = super::in_transaction!(self, tx => async {
            let record: Option<RolloutRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(owner)
                .bind(cursor)
                .bind(now)
                .fetch_optional(&mut **tx)
                .await?;
            let Some(record) = record else {
                return Ok::<_, StoreError>(None);
            };
            let events = events_for(&record);
            if !events.is_empty() {
                super::events::append_events!(&mut **tx, &events, keep_events, self.device_limits);
            }
            Ok(Some((record, events)))
        });
        Ok(done)
    }
}
