//! The Google Wallet sync outbox (SPEC 13): which classes (templates) and objects (passes)
//! Google has to be told about, with the same guarantees as the push outbox (`outbox.rs`).
//!
//! * Queued in the transaction of the change it reports (template create or replace, issue,
//!   batch issue, PATCH, rollout step), through [`enqueue_class!`] / [`enqueue_objects!`] on the
//!   open transaction's connection, and only when [`Store::with_google_sync`] turned it on: with
//!   Google Wallet off nothing is queued at all.
//! * Only ids are stored; the worker maps the template or pass as it is when it sends. A second
//!   change before the send collapses into the waiting row (`UNIQUE (kind, target_id)`, due now,
//!   `generation` bumped), so only the latest version is sent, and a change arriving while a
//!   send is in flight keeps its row (the worker finishes a row only at the generation it
//!   claimed).
//! * Claimed with a lease; on PostgreSQL `FOR UPDATE SKIP LOCKED`, so several `serve` processes
//!   never claim the same row at once.
use super::{Store, StoreError, in_transaction, on_pool};

/// `due_at` of rows Google refused for good (year 9999): the record of the failure, never
/// claimed again until the next change queues them anew.
pub const FAILED_DUE_AT: i64 = 253_402_300_799_000;

/// The ON CONFLICT clause every enqueue shares: due now, counted afresh, a failure forgotten.
pub(crate) const ON_CONFLICT: &str = " ON CONFLICT (kind, target_id) DO UPDATE SET \
     due_at = excluded.due_at, template_id = excluded.template_id, \
     generation = google_outbox.generation + 1, attempts = 0, last_error = NULL, \
     created_at = CASE WHEN google_outbox.failed_at IS NULL THEN google_outbox.created_at \
     ELSE excluded.created_at END, failed_at = NULL";

/// Queues the class of template `$template_id` (a `&str`), due at `$now` (Unix ms), on the open
/// transaction's connection `$conn`, when `$on` (the store's `google_sync`). A macro so it
/// compiles for both backends' connections.
macro_rules! enqueue_class {
    ($on:expr, $conn:expr, $template_id:expr, $now:expr) => {{
        if $on {
            let template_id: &str = $template_id;
            let now: i64 = $now;
            let sql = format!(
                "INSERT INTO google_outbox (kind, target_id, template_id, due_at, created_at) \
                 VALUES ('class', $1, $1, $2, $2){}",
                $crate::store::google::ON_CONFLICT
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(template_id)
                .bind(now)
                .execute(&mut *$conn)
                .await?;
        }
    }};
}
pub(crate) use enqueue_class;

/// Queues the objects of passes `$ids` (a `&[String]`, any templates), due at `$now`, on the
/// open transaction's connection `$conn`, when `$on`: one set-wise statement per 500 passes.
macro_rules! enqueue_objects {
    ($on:expr, $conn:expr, $ids:expr, $now:expr) => {{
        let ids: &[String] = $ids;
        let now: i64 = $now;
        if $on && !ids.is_empty() {
            for chunk in ids.chunks(500) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO google_outbox (kind, target_id, template_id, due_at, created_at) \
                     SELECT 'object', id, template_id, ",
                );
                q.push_bind(now);
                q.push(", ");
                q.push_bind(now);
                q.push(" FROM passes WHERE id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id.as_str());
                }
                list.push_unseparated(")");
                q.push($crate::store::google::ON_CONFLICT);
                q.build().persistent(false).execute(&mut *$conn).await?;
            }
        }
    }};
}
pub(crate) use enqueue_objects;

/// What a sync row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// A template's class.
    Class,
    /// A pass's object.
    Object,
}

impl SyncKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Class => "class",
            Self::Object => "object",
        }
    }
}

/// A sync a worker has claimed: it owns it until its lease ends, and finishes it only while the
/// row's generation is still `generation`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedSync {
    pub seq: i64,
    kind: String,
    /// The template id (class) or pass id (object).
    pub target_id: String,
    pub template_id: String,
    pub attempts: i64,
    pub generation: i64,
}

impl ClaimedSync {
    pub fn kind(&self) -> SyncKind {
        if self.kind == "class" {
            SyncKind::Class
        } else {
            SyncKind::Object
        }
    }
}

/// What happened to a claimed sync, for [`Store::record_google_results`].
#[derive(Debug, Clone)]
pub enum SyncResult {
    /// Google has it (or there is nothing left to send: the pass is gone): remove the row,
    /// unless it was queued again meanwhile.
    Done,
    /// Try again at `due_at` (the attempt count goes up by one).
    Retry { due_at: i64, error: String },
    /// Not tried (shutdown, sync paused): due at `due_at`, attempt count unchanged.
    Release { due_at: i64 },
    /// Google refused it for good: kept, parked, with the error, until the next change.
    Failed { error: String },
}

const CLAIM_SQLITE: &str = "UPDATE google_outbox SET due_at = $1 + $2, claimed_until = $1 + $2, \
     generation = generation + 1 \
     WHERE seq IN (SELECT seq FROM google_outbox WHERE due_at <= $1 ORDER BY due_at LIMIT $3) \
     RETURNING seq, kind, target_id, template_id, attempts, generation";

/// As the push outbox's claim: the due rows picked once, in a materialized CTE, skipping rows
/// another process holds.
const CLAIM_POSTGRES: &str = "WITH due AS MATERIALIZED (SELECT seq FROM google_outbox \
     WHERE due_at <= $1 ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
     UPDATE google_outbox SET due_at = $1 + $2, claimed_until = $1 + $2, \
     generation = google_outbox.generation + 1 FROM due WHERE google_outbox.seq = due.seq \
     RETURNING google_outbox.seq, google_outbox.kind, google_outbox.target_id, \
     google_outbox.template_id, google_outbox.attempts, google_outbox.generation";

/// The outbox's figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncQueue {
    /// Rows waiting to be sent (due, claimed or backing off).
    pub depth: i64,
    /// When the oldest of them was queued (Unix ms), if any.
    pub oldest_created_at: Option<i64>,
    /// Rows Google refused for good.
    pub failed: i64,
}

impl Store {
    /// Turns queueing Google Wallet syncs on (the server does when Google Wallet is configured).
    #[must_use]
    pub fn with_google_sync(mut self, on: bool) -> Self {
        self.google_sync = on;
        self
    }

    /// Whether changes queue Google Wallet syncs.
    pub fn google_sync(&self) -> bool {
        self.google_sync
    }

    /// Wakes this process's Google worker; call after committing a transaction that queued
    /// syncs (other processes find them on their next poll).
    pub fn google_enqueued(&self) {
        if self.google_sync {
            self.google_wakeup.notify_one();
        }
    }

    /// The signal [`Store::google_enqueued`] raises.
    pub fn google_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.google_wakeup.clone()
    }

    /// Claims up to `limit` due syncs for `lease_ms` (due again when the lease runs out, so a
    /// crashed worker's claims are picked up later).
    pub async fn claim_google_syncs(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedSync>, StoreError> {
        self.claim_leased((CLAIM_SQLITE, CLAIM_POSTGRES), now_ms, lease_ms, limit)
            .await
    }

    /// Records what happened to claimed syncs, in one transaction; every write is conditional on
    /// the row's generation still being the claimed one.
    pub async fn record_google_results(
        &self,
        results: &[(ClaimedSync, SyncResult)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        in_transaction!(self, tx => async {
            for (claim, result) in results {
                let query = match result {
                    SyncResult::Done => {
                        sqlx::query("DELETE FROM google_outbox WHERE seq = $1 AND generation = $2")
                            .bind(claim.seq)
                            .bind(claim.generation)
                    }
                    SyncResult::Retry { due_at, error } => sqlx::query(
                        "UPDATE google_outbox SET due_at = $3, attempts = attempts + 1, \
                         last_error = $4, claimed_until = NULL WHERE seq = $1 AND generation = $2",
                    )
                    .bind(claim.seq)
                    .bind(claim.generation)
                    .bind(*due_at)
                    .bind(error.clone()),
                    SyncResult::Release { due_at } => sqlx::query(
                        "UPDATE google_outbox SET due_at = $3, claimed_until = NULL \
                         WHERE seq = $1 AND generation = $2",
                    )
                    .bind(claim.seq)
                    .bind(claim.generation)
                    .bind(*due_at),
                    SyncResult::Failed { error } => sqlx::query(
                        "UPDATE google_outbox SET due_at = $3, attempts = attempts + 1, \
                         last_error = $4, failed_at = $5, claimed_until = NULL \
                         WHERE seq = $1 AND generation = $2",
                    )
                    .bind(claim.seq)
                    .bind(claim.generation)
                    .bind(FAILED_DUE_AT)
                    .bind(error.clone())
                    .bind(now_ms),
                };
                query.execute(&mut **tx).await?;
            }
            Ok::<(), StoreError>(())
        });
        Ok(())
    }

    /// The outbox's depth, oldest waiting row and failures, for `/metrics`.
    pub async fn google_queue(&self) -> Result<SyncQueue, StoreError> {
        let (depth, oldest, failed): (i64, Option<i64>, i64) = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) FILTER (WHERE failed_at IS NULL), \
                 MIN(created_at) FILTER (WHERE failed_at IS NULL), \
                 COUNT(*) FILTER (WHERE failed_at IS NOT NULL) FROM google_outbox",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(SyncQueue {
            depth,
            oldest_created_at: oldest,
            failed,
        })
    }

    /// The error of the failed sync of `kind` for `target_id`, if Google refused it for good.
    pub async fn google_failure(
        &self,
        kind: SyncKind,
        target_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let error: Option<Option<String>> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT last_error FROM google_outbox WHERE kind = $1 AND target_id = $2 \
                 AND failed_at IS NOT NULL",
            )
            .bind(kind.as_str())
            .bind(target_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(error.flatten())
    }
}
