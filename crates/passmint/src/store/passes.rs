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
use sqlx::FromRow;

use super::outbox::enqueue_for_pass;
use super::{Backend, Store, StoreError, in_transaction, now_millis, on_pool};

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
    pub registrations: i64,
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
}

/// A PATCH, checked and rendered by the caller against the stored state `expected`.
#[derive(Debug, Clone)]
pub struct PassChange {
    pub payload: String,
    pub overrides: String,
    pub voided: bool,
    pub fingerprint: Vec<u8>,
    /// The rendered pass differs from before: new tag, new `last_modified`, pushes.
    pub is_update: bool,
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

/// One pass of a template, as a template replace needs it to re-render.
#[derive(Debug, Clone, FromRow)]
pub struct PassRenderRow {
    pub seq: i64,
    pub id: String,
    pub serial_number: String,
    pub auth_token: String,
    pub payload: String,
    pub overrides: String,
    pub voided: bool,
    pub fingerprint: Option<Vec<u8>>,
}

const RECORD_COLUMNS: &str = "p.seq, p.id, p.template_id, p.pass_type_identifier, p.serial_number, \
     p.auth_token, p.payload, p.overrides, p.voided, p.fingerprint, p.update_tag, p.last_modified, \
     p.created_at, p.updated_at, \
     (SELECT COUNT(*) FROM registrations r WHERE r.pass_id = p.id) AS registrations";

/// `last_modified` after an update at `now_secs` (bound as `$n`): strictly later than before.
fn next_last_modified(param: &str) -> String {
    format!("CASE WHEN last_modified + 1 > {param} THEN last_modified + 1 ELSE {param} END")
}

const BUMP_TAG: &str = "UPDATE counters SET value = value + 1 WHERE name = 'update_tag' RETURNING value";

fn now_secs() -> i64 {
    now_millis() / 1000
}

impl Store {
    /// Stores a new pass with a fresh update tag. A taken (pass type, serial) is
    /// [`StoreError::Conflict`].
    pub async fn insert_pass(&self, p: &NewPass) -> Result<PassRecord, StoreError> {
        let now = now_millis();
        let turn = self.write_turn().await;
        in_transaction!(self, tx => async {
            let tag: i64 = sqlx::query_scalar(BUMP_TAG).fetch_one(&mut **tx).await?;
            sqlx::query(
                "INSERT INTO passes (id, template_id, pass_type_identifier, serial_number, \
                 auth_token, payload, overrides, voided, fingerprint, update_tag, last_modified, \
                 created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            )
            .bind(&p.id)
            .bind(&p.template_id)
            .bind(&p.pass_type_identifier)
            .bind(&p.serial_number)
            .bind(&p.auth_token)
            .bind(&p.payload)
            .bind(&p.overrides)
            .bind(p.voided)
            .bind(&p.fingerprint)
            .bind(tag)
            .bind(now / 1000)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok::<_, StoreError>(())
        });
        drop(turn);
        self.get_pass(&p.id)
            .await?
            .ok_or_else(|| StoreError::Setup("a pass vanished right after its insert".into()))
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

    /// Applies a PATCH if the pass still holds `expected`'s payload, overrides and voided flag
    /// (compare-and-set: two concurrent PATCHes can't silently overwrite each other's members
    /// or skip a tag). An update takes a new tag and `last_modified` in the same transaction.
    pub async fn change_pass(
        &self,
        expected: &PassRecord,
        change: &PassChange,
    ) -> Result<ChangeOutcome, StoreError> {
        let now = now_millis();
        let last_modified = next_last_modified("$8");
        let turn = self.write_turn().await;
        let applied = in_transaction!(self, tx => async {
                let tag: Option<i64> = if change.is_update {
                    Some(sqlx::query_scalar(BUMP_TAG).fetch_one(&mut **tx).await?)
                } else {
                    None
                };
                let sql = format!(
                    "UPDATE passes SET payload = $2, overrides = $3, voided = $4, fingerprint = $5, \
                     update_tag = COALESCE($6, update_tag), \
                     last_modified = CASE WHEN $6 IS NULL THEN last_modified ELSE {last_modified} END, \
                     updated_at = $7 \
                     WHERE id = $1 AND payload = $9 AND overrides = $10 AND voided = $11 \
                     AND update_tag = $12"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&expected.id)
                    .bind(&change.payload)
                    .bind(&change.overrides)
                    .bind(change.voided)
                    .bind(&change.fingerprint)
                    .bind(tag)
                    .bind(now)
                    .bind(now / 1000)
                    .bind(&expected.payload)
                    .bind(&expected.overrides)
                    .bind(expected.voided)
                    .bind(expected.update_tag)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                // On a lost race nothing but (maybe) the counter was written: committing
                // that only skips a tag value, which devices never notice.
                if rows == 0 {
                    return Ok::<bool, StoreError>(false);
                }
                if change.is_update {
                    enqueue_for_pass(&mut **tx, &expected.id, now).await?;
                }
                Ok(true)
        });
        drop(turn);
        self.forget_pass_heads([expected.id.as_str()]);
        if applied && change.is_update {
            self.push_enqueued();
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

    /// Up to `limit` passes of template `template_id` after `after_seq`, with what it takes to
    /// render them (a template replace walks them in batches, never all at once).
    pub async fn pass_render_batch(
        &self,
        template_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<PassRenderRow>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, PassRenderRow>(
                "SELECT seq, id, serial_number, auth_token, payload, overrides, voided, fingerprint \
                 FROM passes WHERE template_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3",
            )
            .bind(template_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Marks the given passes updated (one new tag for all of them, each a later
    /// `last_modified`) with their new fingerprints, in one transaction that also queues their
    /// pushes. `None` fingerprints mean "could not render" (see the template replace hook).
    pub async fn mark_passes_updated(&self, changed: &[(String, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        if changed.is_empty() {
            return Ok(());
        }
        let now = now_millis();
        let sql = format!(
            "UPDATE passes SET update_tag = $2, fingerprint = $3, last_modified = {}, \
             updated_at = $5 WHERE id = $1",
            next_last_modified("$4")
        );
        let turn = self.write_turn().await;
        in_transaction!(self, tx => async {
            let tag: i64 = sqlx::query_scalar(BUMP_TAG).fetch_one(&mut **tx).await?;
            for (id, fingerprint) in changed {
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(id)
                    .bind(tag)
                    .bind(fingerprint)
                    .bind(now / 1000)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                enqueue_for_pass(&mut **tx, id, now).await?;
            }
            Ok::<_, StoreError>(())
        });
        drop(turn);
        self.forget_pass_heads(changed.iter().map(|(id, _)| id.as_str()));
        self.push_enqueued();
        Ok(())
    }

    /// Deletes a pass and (by cascade) its registrations; `false` if there was none.
    pub async fn delete_pass(&self, id: &str) -> Result<bool, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query("DELETE FROM passes WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        self.forget_pass_heads([id]);
        Ok(rows > 0)
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

/// Unix seconds now.
pub fn unix_secs() -> i64 {
    now_secs()
}
