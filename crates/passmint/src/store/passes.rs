//! Passes: issued from a template, changed by PATCH or by a template replace, found by devices
//! through (pass type, serial number).
//!
//! Update tags: every write that changes what a pass renders bumps the `counters` row
//! `update_tag` *inside the writing transaction* and stores the new value on the pass. The
//! counter row is written (so locked) first in that transaction, so tags are handed out in
//! commit order on both backends: a device that saw tag `T` can never miss a pass that gets a
//! tag `<= T` later. Wall-clock time plays no part in tags.
//!
//! `last_modified` (Unix seconds, for HTTP `Last-Modified`) moves to
//! `max(now, previous + 1)` on every update, so two updates within one second still give two
//! distinct, increasing `Last-Modified` values and a stale `If-Modified-Since` is never
//! answered 304.
use std::collections::{HashMap, HashSet};

use sqlx::FromRow;

use super::outbox::enqueue_for_pass;
use super::webhooks::{PassRef, WebhookEvent, WebhookQueue};
use super::{Backend, NewEvent, Store, StoreError, in_transaction, now_millis, on_pool};

/// A pass as stored (with the number of devices registered for it).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PassRecord {
    pub seq: i64,
    pub id: String,
    pub template_id: String,
    pub pass_type_identifier: String,
    pub serial_number: String,
    pub auth_token: String,
    /// JSON object text.
    pub payload: String,
    /// JSON object text.
    pub overrides: String,
    pub voided: bool,
    /// SHA-256 of the rendered manifest when last rendered; `None` when unknown.
    pub fingerprint: Option<Vec<u8>>,
    pub update_tag: i64,
    /// Unix seconds.
    pub last_modified: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every write of the row: what a compare-and-set compares.
    pub version: i64,
    pub registrations: i64,
    /// The template's current revision (read with the pass, so a kept signed version can be
    /// checked against it without another query).
    pub template_revision: i64,
}

/// What a device-facing request needs before deciding whether to render: enough for the
/// token check and a 304, without the payload.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PassHead {
    pub id: String,
    pub template_id: String,
    pub auth_token: String,
    pub last_modified: i64,
}

/// A pass to insert.
#[derive(Debug, Clone)]
pub struct NewPass {
    pub id: String,
    pub template_id: String,
    pub pass_type_identifier: String,
    pub serial_number: String,
    pub auth_token: String,
    pub payload: String,
    pub overrides: String,
    pub voided: bool,
    pub fingerprint: Vec<u8>,
    /// The template revision it was rendered with; the insert checks it is still current.
    pub template_revision: i64,
}

/// How the insert of one pass of a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted(Box<PassRecord>),
    /// Its (pass type, serial number) is taken, by a stored pass or an earlier one of the batch.
    SerialTaken,
    /// Its template is no longer at the revision it was rendered with: render again.
    TemplateChanged,
    /// Its template is gone.
    TemplateMissing,
}

/// Whether one failed pass of a batch undoes the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atomicity {
    /// Independent passes (group commit of single issues): each succeeds or fails alone.
    EachAlone,
    /// All or nothing (`POST …/passes/batch`): any failure rolls the whole batch back.
    AllOrNothing,
}

/// A PATCH, checked and rendered by the caller against the stored state `expected`.
#[derive(Debug, Clone)]
pub struct PassChange {
    pub payload: String,
    pub overrides: String,
    pub voided: bool,
    pub fingerprint: Vec<u8>,
    /// The template revision `fingerprint` was rendered from; the write is refused (raced)
    /// unless it is still the template's revision, so a PATCH rendered before a template
    /// replace can't land after the replace's rollout went past the pass.
    pub rendered_revision: i64,
    /// The rendered pass differs from before: new tag, new `last_modified`, pushes.
    pub is_update: bool,
    /// The holder enrolled (rewards enrollment), giving these `requiredPersonalizationInfo`
    /// members: `pass.personalized` (naming the members, never their values) is queued with
    /// the change.
    pub personalized: Option<Vec<String>>,
}

/// How a compare-and-set PATCH ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    Applied(Box<PassRecord>),
    /// The pass is gone.
    Missing,
    /// Someone else changed the pass since it was read: read again and retry.
    Raced,
}

pub(super) const RECORD_COLUMNS: &str = "p.seq, p.id, p.template_id, p.pass_type_identifier, p.serial_number, \
     p.auth_token, p.payload, p.overrides, p.voided, p.fingerprint, p.update_tag, p.last_modified, \
     p.created_at, p.updated_at, p.version, \
     (SELECT COUNT(*) FROM registrations r WHERE r.pass_id = p.id) AS registrations, \
     (SELECT t.revision FROM templates t WHERE t.id = p.template_id) AS template_revision";

/// `last_modified` after an update at `now_secs` (bound as `$n`): strictly later than before.
pub(super) fn next_last_modified(param: &str) -> String {
    format!("CASE WHEN last_modified + 1 > {param} THEN last_modified + 1 ELSE {param} END")
}

/// Takes the next update tag. Lock order, on every write path: template rows, then pass rows,
/// then this counter row, last. Tags are handed out in the order writers lock the counter,
/// which they hold until commit, so tags become visible in increasing order (a device that saw
/// tag `T` can never miss a pass that gets a tag `<= T` later), and taking the counter last
/// means no writer holds it while waiting for a pass row another writer holds (no deadlock on
/// PostgreSQL) and a lost compare-and-set never takes a tag at all.
pub(super) const BUMP_TAG: &str =
    "UPDATE counters SET value = value + 1 WHERE name = 'update_tag' RETURNING value";

/// Rows a multi-row insert writes per statement (13 binds a row: far below both backends'
/// bind limits).
const INSERT_CHUNK: usize = 500;

fn now_secs() -> i64 {
    now_millis() / 1000
}

/// Binds `values` as one `IN (...)` list.
pub(super) fn push_in_list<'a, DB: sqlx::Database>(
    builder: &mut sqlx::QueryBuilder<DB>,
    values: impl IntoIterator<Item = &'a str>,
) where
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    builder.push("(");
    let mut separated = builder.separated(", ");
    for v in values {
        separated.push_bind(v);
    }
    separated.push_unseparated(")");
}

/// Inserts a batch of passes inside an open transaction `$tx`: checks each template's revision
/// (locking its row against a concurrent replace on PostgreSQL, so a template replace that
/// commits meanwhile either waits for these passes or makes them render again), inserts the
/// passes whose template is current, skipping taken serial numbers, gives them one new tag and
/// writes `$events_for` of each inserted pass. Evaluates to the outcomes.
macro_rules! insert_passes_in {
    ($tx:expr, $rows:expr, $lock:literal, $events_for:expr, $keep:expr, $device:expr, $now:expr) => {{
        let rows: &[NewPass] = $rows;
        let now: i64 = $now;
        let templates: HashSet<&str> = rows.iter().map(|r| r.template_id.as_str()).collect();
        let mut current: HashMap<String, i64> = HashMap::new();
        if !templates.is_empty() {
            let mut q = sqlx::QueryBuilder::new("SELECT id, revision FROM templates WHERE id IN ");
            push_in_list(&mut q, templates.iter().copied());
            q.push($lock);
            let found: Vec<(String, i64)> = q.build_query_as().fetch_all(&mut **$tx).await?;
            current.extend(found);
        }
        let mut outcomes: Vec<Option<InsertOutcome>> = rows
            .iter()
            .map(|r| match current.get(&r.template_id) {
                None => Some(InsertOutcome::TemplateMissing),
                Some(&have) if have != r.template_revision => Some(InsertOutcome::TemplateChanged),
                Some(_) => None,
            })
            .collect();
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        for (r, outcome) in rows.iter().zip(outcomes.iter_mut()) {
            if outcome.is_none() && !seen.insert((r.pass_type_identifier.as_str(), r.serial_number.as_str())) {
                *outcome = Some(InsertOutcome::SerialTaken);
            }
        }
        let todo: Vec<&NewPass> = rows
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.is_none())
            .map(|(r, _)| r)
            .collect();
        let mut inserted: HashMap<String, i64> = HashMap::new();
        for chunk in todo.chunks(INSERT_CHUNK) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO passes (id, template_id, pass_type_identifier, serial_number, auth_token, \
                 payload, overrides, voided, fingerprint, fingerprint_revision, update_tag, last_modified, created_at, \
                 updated_at) ",
            );
            q.push_values(chunk, |mut b, r: &&NewPass| {
                b.push_bind(&r.id)
                    .push_bind(&r.template_id)
                    .push_bind(&r.pass_type_identifier)
                    .push_bind(&r.serial_number)
                    .push_bind(&r.auth_token)
                    .push_bind(&r.payload)
                    .push_bind(&r.overrides)
                    .push_bind(r.voided)
                    .push_bind(&r.fingerprint)
                    .push_bind(r.template_revision)
                    .push_bind(0_i64)
                    .push_bind(now / 1000)
                    .push_bind(now)
                    .push_bind(now);
            });
            q.push(" ON CONFLICT (pass_type_identifier, serial_number) DO NOTHING RETURNING id, seq");
            let done: Vec<(String, i64)> = q.build_query_as().fetch_all(&mut **$tx).await?;
            inserted.extend(done);
        }
        let mut tag = 0_i64;
        if !inserted.is_empty() {
            tag = sqlx::query_scalar(BUMP_TAG).fetch_one(&mut **$tx).await?;
            for chunk in todo.chunks(INSERT_CHUNK) {
                let mut q = sqlx::QueryBuilder::new("UPDATE passes SET update_tag = ");
                q.push_bind(tag);
                q.push(" WHERE id IN ");
                push_in_list(&mut q, chunk.iter().map(|r| r.id.as_str()));
                q.build().execute(&mut **$tx).await?;
            }
        }
        let mut events: Vec<NewEvent> = Vec::new();
        let outcomes: Vec<InsertOutcome> = rows
            .iter()
            .zip(outcomes)
            .enumerate()
            .map(|(i, (r, outcome))| {
                if let Some(outcome) = outcome {
                    return outcome;
                }
                let Some(&seq) = inserted.get(&r.id) else {
                    return InsertOutcome::SerialTaken;
                };
                let record = PassRecord {
                    seq,
                    id: r.id.clone(),
                    template_id: r.template_id.clone(),
                    pass_type_identifier: r.pass_type_identifier.clone(),
                    serial_number: r.serial_number.clone(),
                    auth_token: r.auth_token.clone(),
                    payload: r.payload.clone(),
                    overrides: r.overrides.clone(),
                    voided: r.voided,
                    fingerprint: Some(r.fingerprint.clone()),
                    update_tag: tag,
                    last_modified: now / 1000,
                    created_at: now,
                    updated_at: now,
                    version: 0,
                    registrations: 0,
                    template_revision: r.template_revision,
                };
                events.extend(($events_for)(i, &record));
                InsertOutcome::Inserted(Box::new(record))
            })
            .collect();
        if !events.is_empty() {
            super::events::append_events!(&mut **$tx, &events, $keep, $device);
        }
        let created: Vec<WebhookEvent> = outcomes
            .iter()
            .filter_map(|o| match o {
                InsertOutcome::Inserted(p) => Some(pass_ref(p).event("pass.created", now, serde_json::json!({}))),
                _ => None,
            })
            .collect();
        (&mut **$tx).queue_webhook_events(&created, now).await?;
        outcomes
    }};
}

/// The ids of the passes `outcomes` inserted.
fn inserted_ids(outcomes: &[InsertOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            InsertOutcome::Inserted(p) => Some(p.id.clone()),
            _ => None,
        })
        .collect()
}

impl Store {
    /// Stores new passes in one transaction. A pass whose template moved on from the revision
    /// it was rendered with, or went away, is not inserted (see [`InsertOutcome`]). `events_for` gives the events to store with
    /// each inserted pass (pruned to `keep_events`). With [`Atomicity::AllOrNothing`], any
    /// outcome other than `Inserted` rolls everything back and the outcomes say why.
    pub async fn insert_passes(
        &self,
        rows: &[NewPass],
        atomicity: Atomicity,
        events_for: impl Fn(usize, &PassRecord) -> Vec<NewEvent> + Send + Sync,
        keep_events: i64,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let now = now_millis();
        let turn = self.write_turn().await;
        let outcomes = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let t = &mut tx;
                let outcomes =
                    insert_passes_in!(t, rows, "", &events_for, keep_events, self.device_limits, now);
                super::google::enqueue_objects!(self.google_sync, &mut *tx, &inserted_ids(&outcomes), now);
                finish_insert(tx, atomicity, outcomes).await?
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let t = &mut tx;
                let outcomes = insert_passes_in!(
                    t,
                    rows,
                    " FOR SHARE",
                    &events_for,
                    keep_events,
                    self.device_limits,
                    now
                );
                super::google::enqueue_objects!(self.google_sync, &mut *tx, &inserted_ids(&outcomes), now);
                finish_insert(tx, atomicity, outcomes).await?
            }
        };
        drop(turn);
        self.google_enqueued();
        Ok(outcomes)
    }

    pub async fn get_pass(&self, id: &str) -> Result<Option<PassRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM passes p WHERE p.id = $1");
        let record = on_pool!(self, pool => {
            sqlx::query_as::<_, PassRecord>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(record)
    }

    /// The pass a device names by (pass type, serial number).
    pub async fn get_pass_by_serial(
        &self,
        pass_type_identifier: &str,
        serial_number: &str,
    ) -> Result<Option<PassRecord>, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM passes p \
             WHERE p.pass_type_identifier = $1 AND p.serial_number = $2"
        );
        let record = on_pool!(self, pool => {
            sqlx::query_as::<_, PassRecord>(sqlx::AssertSqlSafe(sql))
                .bind(pass_type_identifier)
                .bind(serial_number)
                .fetch_optional(pool)
                .await
        })?;
        Ok(record)
    }

    /// Token and `last_modified` of a pass by (pass type, serial number): one index lookup,
    /// no payload (the fast path of a 304 and of token checks).
    pub async fn get_pass_head(
        &self,
        pass_type_identifier: &str,
        serial_number: &str,
    ) -> Result<Option<PassHead>, StoreError> {
        let generation = match self.backend {
            Backend::Sqlite(_) => match self.pass_heads.get(pass_type_identifier, serial_number) {
                Ok(head) => return Ok(Some(head)),
                Err(generation) => Some(generation),
            },
            Backend::Postgres(_) => None,
        };
        let record = on_pool!(self, pool => {
            sqlx::query_as::<_, PassHead>(
                "SELECT id, template_id, auth_token, last_modified FROM passes \
                 WHERE pass_type_identifier = $1 AND serial_number = $2",
            )
            .bind(pass_type_identifier)
            .bind(serial_number)
            .persistent(true)
            .fetch_optional(pool)
            .await
        })?;
        if let (Some(generation), Some(head)) = (generation, &record) {
            self.pass_heads
                .put(generation, pass_type_identifier, serial_number, head);
        }
        Ok(record)
    }

    /// Drops cached heads after the passes `ids` were written.
    fn forget_pass_heads<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        self.pass_heads.forget(ids);
    }

    /// Drops every cached head (a template and its passes were deleted).
    pub(crate) fn forget_all_pass_heads(&self) {
        self.pass_heads.forget_all();
    }

    /// Up to `limit` passes after position `after_seq`, oldest first, optionally of one
    /// template only.
    pub async fn list_passes(
        &self,
        template_id: Option<&str>,
        after_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PassRecord>, StoreError> {
        let filter = if template_id.is_some() {
            "AND p.template_id = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM passes p WHERE p.seq > $1 {filter} ORDER BY p.seq ASC LIMIT $2"
        );
        let records = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, PassRecord>(sqlx::AssertSqlSafe(sql))
                .bind(after_seq.unwrap_or(0))
                .bind(limit);
            if let Some(t) = template_id {
                q = q.bind(t);
            }
            q.fetch_all(pool).await
        })?;
        Ok(records)
    }

    /// The newest `limit` passes (of one template, if given), newest first.
    pub async fn latest_passes(
        &self,
        template_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PassRecord>, StoreError> {
        let filter = if template_id.is_some() {
            "WHERE p.template_id = $2"
        } else {
            ""
        };
        let sql = format!("SELECT {RECORD_COLUMNS} FROM passes p {filter} ORDER BY p.seq DESC LIMIT $1");
        let records = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, PassRecord>(sqlx::AssertSqlSafe(sql)).bind(limit);
            if let Some(t) = template_id {
                q = q.bind(t);
            }
            q.fetch_all(pool).await
        })?;
        Ok(records)
    }

    /// Applies a PATCH if the pass is still at `expected.version` (compare-and-set: two
    /// concurrent PATCHes can't silently overwrite each other's members). An update takes a new
    /// tag and `last_modified` and queues its pushes in the same transaction; the tag is taken
    /// only once the row is won, so a lost race costs no tag.
    pub async fn change_pass(
        &self,
        expected: &PassRecord,
        change: &PassChange,
    ) -> Result<ChangeOutcome, StoreError> {
        let now = now_millis();
        let last_modified = next_last_modified("$7");
        let turn = self.write_turn().await;
        // Held FOR SHARE on PostgreSQL until commit: a template replace waits for this write,
        // or this write sees the new revision and is retried (see `rendered_revision`).
        let revision_sql = match self.backend {
            Backend::Postgres(_) => "SELECT revision FROM templates WHERE id = $1 FOR SHARE",
            Backend::Sqlite(_) => "SELECT revision FROM templates WHERE id = $1",
        };
        let applied = in_transaction!(self, tx => async {
            let revision: Option<i64> = sqlx::query_scalar(revision_sql)
                .bind(&expected.template_id)
                .fetch_optional(&mut **tx)
                .await?;
            if revision != Some(change.rendered_revision) {
                return Ok::<bool, StoreError>(false);
            }
            let sql = format!(
                "UPDATE passes SET payload = $2, overrides = $3, voided = $4, fingerprint = $5, \
                 fingerprint_revision = $10, \
                 last_modified = CASE WHEN $8 THEN {last_modified} ELSE last_modified END, \
                 updated_at = $6, version = version + 1 \
                 WHERE id = $1 AND version = $9"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&expected.id)
                .bind(&change.payload)
                .bind(&change.overrides)
                .bind(change.voided)
                .bind(&change.fingerprint)
                .bind(now)
                .bind(now / 1000)
                .bind(change.is_update)
                .bind(expected.version)
                .bind(change.rendered_revision)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if rows == 0 {
                return Ok(false);
            }
            if change.is_update {
                let tag: i64 = sqlx::query_scalar(BUMP_TAG).fetch_one(&mut **tx).await?;
                sqlx::query("UPDATE passes SET update_tag = $2 WHERE id = $1")
                    .bind(&expected.id)
                    .bind(tag)
                    .execute(&mut **tx)
                    .await?;
                enqueue_for_pass(&mut **tx, &expected.id, now).await?;
                super::google::enqueue_objects!(
                    self.google_sync,
                    &mut **tx,
                    std::slice::from_ref(&expected.id),
                    now
                );
            }
            let pass = pass_ref(expected);
            let mut hooks = Vec::new();
            if change.is_update {
                hooks.push(pass.event("pass.updated", now, serde_json::json!({})));
            }
            if let Some(fields) = &change.personalized {
                hooks.push(pass.event(
                    "pass.personalized",
                    now,
                    serde_json::json!({ "fields": fields }),
                ));
            }
            if change.voided && !expected.voided {
                hooks.push(pass.event("pass.voided", now, serde_json::json!({})));
            }
            (**tx).queue_webhook_events(&hooks, now).await?;
            Ok(true)
        });
        drop(turn);
        self.forget_pass_heads([expected.id.as_str()]);
        if applied && change.is_update {
            self.push_enqueued();
            self.google_enqueued();
        }
        if applied {
            return Ok(match self.get_pass(&expected.id).await? {
                Some(record) => ChangeOutcome::Applied(Box::new(record)),
                None => ChangeOutcome::Missing,
            });
        }
        Ok(if self.get_pass(&expected.id).await?.is_some() {
            ChangeOutcome::Raced
        } else {
            ChangeOutcome::Missing
        })
    }

    /// Deletes a pass and (by cascade) its registrations; `false` if there was none.
    pub async fn delete_pass(&self, id: &str) -> Result<bool, StoreError> {
        let now = now_millis();
        let deleted = in_transaction!(self, tx => async {
            let gone: Option<PassRef> = sqlx::query_as(
                "DELETE FROM passes WHERE id = $1 \
                 RETURNING id, template_id, pass_type_identifier, serial_number",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
            if let Some(pass) = &gone {
                let event = pass.event("pass.deleted", now, serde_json::json!({}));
                (**tx).queue_webhook_events(&[event], now).await?;
            }
            Ok::<bool, StoreError>(gone.is_some())
        });
        self.forget_pass_heads([id]);
        Ok(deleted)
    }

    /// The current value of the update-tag counter.
    pub async fn current_update_tag(&self) -> Result<i64, StoreError> {
        let value: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'update_tag'")
                .fetch_one(pool)
                .await
        })?;
        Ok(value)
    }

    /// `secs` is "now"; exposed so tests and the seeding helper share the rule.
    pub fn next_last_modified_secs(previous: i64, now: i64) -> i64 {
        (previous + 1).max(now)
    }
}

/// Commits an insert batch, or rolls it back when it must be all or nothing and is not.
async fn finish_insert<DB: sqlx::Database>(
    tx: sqlx::Transaction<'_, DB>,
    atomicity: Atomicity,
    outcomes: Vec<InsertOutcome>,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let all_in = outcomes.iter().all(|o| matches!(o, InsertOutcome::Inserted(_)));
    if atomicity == Atomicity::AllOrNothing && !all_in {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(outcomes)
}

/// What webhook events say about a stored pass.
fn pass_ref(p: &PassRecord) -> PassRef {
    PassRef {
        id: p.id.clone(),
        template_id: p.template_id.clone(),
        pass_type_identifier: p.pass_type_identifier.clone(),
        serial_number: p.serial_number.clone(),
    }
}

/// Unix seconds now.
pub fn unix_secs() -> i64 {
    now_secs()
}
