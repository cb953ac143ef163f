//! The push outbox (SPEC 4): one row per (push token, pass type) waiting to be pushed.
//!
//! Enqueueing happens inside the transaction that updates a pass, so an update and its pushes
//! commit together or not at all. Call [`enqueue_for_pass`] / [`enqueue_for_template`] with the
//! open transaction's connection (`&mut *tx`, which is a `SqliteConnection` or a `PgConnection`;
//! both implement [`OutboxConnection`], so the call compiles inside `on_pool!`), then after the
//! commit call [`Store::push_enqueued`] to wake this process's worker at once (other processes
//! find the rows on their next poll).
//!
//! Collapsing: the UNIQUE (push_token, pass_type_identifier) key turns a second enqueue for a
//! token into an update of the waiting row (due now, `generation` bumped), so many updates before
//! a send become one push. The bumped `generation` is also what keeps an update that arrives while
//! that token's push is in flight: the worker deletes the row only if its generation is still the
//! one it claimed.
use std::future::Future;

use super::{Store, StoreError, in_transaction, on_pool};

/// A connection (usually an open transaction's, `&mut *tx`) that pushes can be enqueued on.
/// Implemented for both backends' connections; not meant to be implemented elsewhere.
pub trait OutboxConnection: Send {
    #[doc(hidden)]
    fn run_enqueue<'a>(
        &'a mut self,
        sql: &'static str,
        id: &'a str,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;
}

impl OutboxConnection for sqlx::SqliteConnection {
    async fn run_enqueue<'a>(
        &'a mut self,
        sql: &'static str,
        id: &'a str,
        now_ms: i64,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql).bind(id).bind(now_ms).execute(self).await?;
        Ok(done.rows_affected())
    }
}

impl OutboxConnection for sqlx::PgConnection {
    async fn run_enqueue<'a>(
        &'a mut self,
        sql: &'static str,
        id: &'a str,
        now_ms: i64,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql).bind(id).bind(now_ms).execute(self).await?;
        Ok(done.rows_affected())
    }
}

/// Glues the SELECT and the shared ON CONFLICT clause at compile time.
macro_rules! with_on_conflict {
    ($select:literal) => {
        concat!(
            $select,
            "ON CONFLICT (push_token, pass_type_identifier) DO UPDATE SET \
             due_at = excluded.due_at, template_id = excluded.template_id, \
             generation = push_outbox.generation + 1, attempts = 0, last_error = NULL"
        )
    };
}

/// The ON CONFLICT clause every enqueue shares (for statements built at run time).
pub(crate) const ON_CONFLICT: &str = with_on_conflict!("");

const ENQUEUE_FOR_PASS: &str = with_on_conflict!(
    "INSERT INTO push_outbox (push_token, pass_type_identifier, template_id, due_at, created_at, generation) \
     SELECT DISTINCT r.push_token, p.pass_type_identifier, p.template_id, $2, $2, 0 \
     FROM registrations r JOIN passes p ON p.id = r.pass_id WHERE r.pass_id = $1 "
);

const ENQUEUE_FOR_TEMPLATE: &str = with_on_conflict!(
    "INSERT INTO push_outbox (push_token, pass_type_identifier, template_id, due_at, created_at, generation) \
     SELECT DISTINCT r.push_token, p.pass_type_identifier, p.template_id, $2, $2, 0 \
     FROM passes p JOIN registrations r ON r.pass_id = p.id WHERE p.template_id = $1 "
);

/// Queues one push, due at `now_ms`, for every distinct push token registered for pass
/// `pass_id` (collapsing into any push already waiting for that token). Returns how many outbox
/// rows were written. Call it inside the transaction that updates the pass.
pub async fn enqueue_for_pass<C: OutboxConnection + ?Sized>(
    conn: &mut C,
    pass_id: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    Ok(conn.run_enqueue(ENQUEUE_FOR_PASS, pass_id, now_ms).await?)
}

/// Queues one push, due at `now_ms`, for every distinct push token registered for any pass of
/// template `template_id`, in one set-wise statement (nothing is loaded into memory). For a
/// template PUT that changed the rendered passes; call it inside that transaction.
pub async fn enqueue_for_template<C: OutboxConnection + ?Sized>(
    conn: &mut C,
    template_id: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    Ok(conn
        .run_enqueue(ENQUEUE_FOR_TEMPLATE, template_id, now_ms)
        .await?)
}

/// Queues one push, due at `$now` (Unix ms), for every distinct push token registered for any
/// of the passes `$ids` (a `&[String]` of passes of one template), in one set-wise statement,
/// on the open transaction's connection `$conn`. For a rollout batch: the pushes commit with
/// the batch's retags. A macro so it compiles for both backends' connections.
macro_rules! enqueue_for_passes {
    ($conn:expr, $ids:expr, $now:expr) => {{
        let ids: &[String] = $ids;
        let now: i64 = $now;
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO push_outbox (push_token, pass_type_identifier, template_id, due_at, created_at, generation) \
             SELECT DISTINCT r.push_token, p.pass_type_identifier, p.template_id, ",
        );
        q.push_bind(now);
        q.push(", ");
        q.push_bind(now);
        q.push(", 0 FROM registrations r JOIN passes p ON p.id = r.pass_id WHERE r.pass_id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.as_str());
        }
        list.push_unseparated(") ");
        q.push($crate::store::outbox::ON_CONFLICT);
        q.build().persistent(false).execute(&mut *$conn).await?;
    }};
}
pub(crate) use enqueue_for_passes;

impl Store {
    /// Wakes this process's push worker; call after committing a transaction that enqueued
    /// pushes. Cheap; without it the worker still finds them on its next poll.
    pub fn push_enqueued(&self) {
        self.push_wakeup.notify_one();
    }

    /// The signal [`Store::push_enqueued`] raises (the worker waits on it).
    pub fn push_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.push_wakeup.clone()
    }
}

/// `due_at` of pushes parked while their template is paused (year 9999): far behind every due
/// push in the due index, so claims never walk over them.
pub const PARKED_DUE_AT: i64 = 253_402_300_799_000;

/// A push a worker has claimed: it owns it until `claimed_until`, and finishes it only while
/// the row's generation is still `generation`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedPush {
    pub seq: i64,
    pub push_token: String,
    pub pass_type_identifier: String,
    pub template_id: String,
    pub attempts: i64,
    pub generation: i64,
}

/// What happened to a claimed push, to be recorded by [`Store::record_push_results`].
#[derive(Debug, Clone)]
pub enum PushResult {
    /// Sent (or given up): remove the row unless it was re-enqueued meanwhile.
    Done,
    /// Try again at `due_at` (the attempt count goes up by one).
    Retry { due_at: i64, error: String },
    /// Not tried (shutdown, paused template): due again at once, attempt count unchanged.
    Release,
    /// The token is dead: remove the row and the token's registrations for this pass type that
    /// were last written at or before `not_after_ms` (a device that registered again after
    /// APNs's 410 timestamp keeps its registration).
    RemoveRegistrations { not_after_ms: i64 },
}

const CLAIM_SQLITE: &str = "UPDATE push_outbox SET due_at = $1 + $2, claimed_until = $1 + $2, \
     generation = generation + 1 \
     WHERE seq IN (SELECT o.seq FROM push_outbox o WHERE o.due_at <= $1 AND NOT EXISTS \
       (SELECT 1 FROM push_pauses p JOIN templates t ON t.id = p.template_id \
        WHERE p.template_id = o.template_id AND t.signer_cert_der = p.signer_cert_der) \
       ORDER BY o.due_at LIMIT $3) \
     RETURNING seq, push_token, pass_type_identifier, template_id, attempts, generation";

/// PostgreSQL: `FOR UPDATE … SKIP LOCKED` so workers of several processes claim disjoint rows
/// without waiting for each other. The due rows are picked in a materialized CTE, evaluated
/// exactly once: written as `WHERE seq IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`, PostgreSQL
/// may rescan the subquery for every outer row, and each rescan skips the rows the previous
/// ones locked, so a claim of 1,000 took 21,400 rows and 199 s once the outbox held a million
/// (found by `bench/rollout-scale.sh`).
const CLAIM_POSTGRES: &str = "WITH due AS MATERIALIZED (SELECT o.seq FROM push_outbox o \
     WHERE o.due_at <= $1 AND NOT EXISTS \
       (SELECT 1 FROM push_pauses p JOIN templates t ON t.id = p.template_id \
        WHERE p.template_id = o.template_id AND t.signer_cert_der = p.signer_cert_der) \
       ORDER BY o.due_at LIMIT $3 FOR UPDATE OF o SKIP LOCKED) \
     UPDATE push_outbox SET due_at = $1 + $2, claimed_until = $1 + $2, \
     generation = push_outbox.generation + 1 FROM due WHERE push_outbox.seq = due.seq \
     RETURNING push_outbox.seq, push_outbox.push_token, push_outbox.pass_type_identifier, \
     push_outbox.template_id, push_outbox.attempts, push_outbox.generation";

impl Store {
    /// Claims up to `limit` due pushes for `lease_ms` (they become due again when the lease
    /// runs out, so a crashed worker's claims are picked up later), skipping paused templates.
    pub async fn claim_pushes(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedPush>, StoreError> {
        self.claim_leased((CLAIM_SQLITE, CLAIM_POSTGRES), now_ms, lease_ms, limit)
            .await
    }

    /// Records the results of claimed pushes in one transaction. Every write is conditional on
    /// the row's generation still being the claimed one, so an update enqueued while the push
    /// was in flight stays queued (due at once) instead of being deleted.
    pub async fn record_push_results(
        &self,
        results: &[(ClaimedPush, PushResult)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.record_push_outcomes(results, &[], now_ms).await
    }

    /// [`Store::record_push_results`], plus what each push came to (`notes[i]` is about
    /// `results[i]`; empty for none) for the timelines and push counters, in the same
    /// transaction.
    pub async fn record_push_outcomes(
        &self,
        results: &[(ClaimedPush, PushResult)],
        notes: &[super::insight::PushNote],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let recorded = self.write_push_results(results, notes, now_ms).await;
        // Registrations deleted by push token belong to devices we can't name here: drop every
        // device's cached serials (rare: only after APNs said a token is dead). Whatever the
        // outcome, since an error may come after a commit.
        if results
            .iter()
            .any(|(_, r)| matches!(r, PushResult::RemoveRegistrations { .. }))
        {
            self.pass_heads.forget_all_serials();
        }
        recorded
    }

    async fn write_push_results(
        &self,
        results: &[(ClaimedPush, PushResult)],
        notes: &[super::insight::PushNote],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // Queue behind this process's other SQLite writers instead of in the busy handler.
        let _turn = self.write_turn().await;
        if results.is_empty() {
            return Ok(());
        }
        let done: Vec<(i64, i64)> = results
            .iter()
            .filter(|(_, r)| matches!(r, PushResult::Done | PushResult::RemoveRegistrations { .. }))
            .map(|(c, _)| (c.seq, c.generation))
            .collect();
        let noted: Vec<(&ClaimedPush, &super::insight::PushNote)> =
            results.iter().map(|(c, _)| c).zip(notes).collect();
        in_transaction!(self, tx => async {
            // Before a dead token's registrations go: the entries name the passes they held.
            // Stamped when written (after waiting for the write turn), so the entries sit in
            // time order among the pass's other entries.
            super::insight::record_push_notes!(&mut **tx, &noted, super::now_millis());
            for (claim, result) in results {
                match result {
                    PushResult::Done => {}
                    PushResult::Retry { due_at, error } => {
                        sqlx::query(
                            "UPDATE push_outbox SET due_at = $3, attempts = attempts + 1, \
                             last_error = $4, claimed_until = NULL WHERE seq = $1 AND generation = $2",
                        )
                        .bind(claim.seq)
                        .bind(claim.generation)
                        .bind(*due_at)
                        .bind(error)
                        .execute(&mut **tx)
                        .await?;
                    }
                    PushResult::Release => {
                        sqlx::query(
                            "UPDATE push_outbox SET due_at = $3, claimed_until = NULL \
                             WHERE seq = $1 AND generation = $2",
                        )
                        .bind(claim.seq)
                        .bind(claim.generation)
                        .bind(now_ms)
                        .execute(&mut **tx)
                        .await?;
                    }
                    PushResult::RemoveRegistrations { not_after_ms } => {
                        let passes: Vec<String> = sqlx::query_scalar(
                            "DELETE FROM registrations WHERE push_token = $1 \
                             AND pass_type_identifier = $2 AND updated_at <= $3 RETURNING pass_id",
                        )
                        .bind(&claim.push_token)
                        .bind(&claim.pass_type_identifier)
                        .bind(*not_after_ms)
                        .fetch_all(&mut **tx)
                        .await?;
                        // A pass whose last device APNs said is gone: pass.uninstalled.
                        super::webhooks::WebhookQueue::uninstall_if_unregistered(
                            &mut **tx, &passes, "apns", now_ms,
                        )
                        .await?;
                    }
                }
            }
            // Finished rows whose generation is still the claimed one, 300 a statement. The
            // plain `seq IN (…)` is what lets both databases find the rows through the primary
            // key (a row-value IN alone makes SQLite scan the whole outbox).
            for chunk in done.chunks(300) {
                let mut builder = sqlx::QueryBuilder::new("DELETE FROM push_outbox WHERE seq IN (");
                let mut seqs = builder.separated(", ");
                for (seq, _) in chunk {
                    seqs.push_bind(*seq);
                }
                builder.push(") AND (seq, generation) IN (");
                builder.push_values(chunk, |mut row, (seq, generation)| {
                    row.push_bind(*seq).push_bind(*generation);
                });
                builder.push(")");
                // Not kept as a prepared statement: every batch size is a different statement,
                // and caching them all would hold memory for nothing.
                builder.build().persistent(false).execute(&mut **tx).await?;
            }
            Ok::<(), StoreError>(())
        });
        Ok(())
    }

    /// Pauses template `template_id`'s pushes because APNs refused certificate `signer_cert_der`,
    /// and parks its queued pushes. Returns `true` if it was not paused for that certificate yet.
    pub async fn pause_template_pushes(
        &self,
        template_id: &str,
        signer_cert_der: &[u8],
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        // Queue behind this process's other SQLite writers instead of in the busy handler.
        let _turn = self.write_turn().await;
        Ok(in_transaction!(self, tx => async {
            let before: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT signer_cert_der FROM push_pauses WHERE template_id = $1")
                    .bind(template_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            sqlx::query(
                "INSERT INTO push_pauses (template_id, signer_cert_der, reason, paused_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (template_id) DO UPDATE SET \
                 signer_cert_der = excluded.signer_cert_der, reason = excluded.reason, \
                 paused_at = excluded.paused_at",
            )
            .bind(template_id)
            .bind(signer_cert_der)
            .bind(reason)
            .bind(now_ms)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE push_outbox SET due_at = $2, claimed_until = NULL \
                 WHERE template_id = $1 AND due_at <= $3",
            )
            .bind(template_id)
            .bind(PARKED_DUE_AT)
            .bind(now_ms)
            .execute(&mut **tx)
            .await?;
            Ok::<bool, StoreError>(before.as_deref() != Some(signer_cert_der))
        }))
    }

    /// Housekeeping for pauses: lifts every pause whose template now has other signing material
    /// (or is gone), making its parked pushes due at once, and parks pushes enqueued for
    /// still-paused templates. Returns the ids of the templates resumed.
    pub async fn refresh_push_pauses(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        // Queue behind this process's other SQLite writers instead of in the busy handler.
        let _turn = self.write_turn().await;
        Ok(in_transaction!(self, tx => async {
            let resumed: Vec<String> = sqlx::query_scalar(
                "DELETE FROM push_pauses WHERE NOT EXISTS (SELECT 1 FROM templates t \
                 WHERE t.id = push_pauses.template_id AND t.signer_cert_der = push_pauses.signer_cert_der) \
                 RETURNING template_id",
            )
            .fetch_all(&mut **tx)
            .await?;
            for id in &resumed {
                sqlx::query("UPDATE push_outbox SET due_at = $2 WHERE template_id = $1 AND due_at >= $3")
                    .bind(id)
                    .bind(now_ms)
                    .bind(PARKED_DUE_AT)
                    .execute(&mut **tx)
                    .await?;
            }
            // Per paused template through the template index: no scan of the due range.
            let paused: Vec<String> = sqlx::query_scalar("SELECT template_id FROM push_pauses")
                .fetch_all(&mut **tx)
                .await?;
            for id in &paused {
                sqlx::query(
                    "UPDATE push_outbox SET due_at = $2 WHERE template_id = $1 AND due_at <= $3",
                )
                .bind(id)
                .bind(PARKED_DUE_AT)
                .bind(now_ms)
                .execute(&mut **tx)
                .await?;
            }
            Ok::<Vec<String>, StoreError>(resumed)
        }))
    }

    /// Whether template `template_id`'s pushes are paused for its current certificate.
    pub async fn template_pushes_paused(&self, template_id: &str) -> Result<bool, StoreError> {
        let paused: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT p.paused_at FROM push_pauses p JOIN templates t ON t.id = p.template_id \
                 WHERE p.template_id = $1 AND t.signer_cert_der = p.signer_cert_der",
            )
            .bind(template_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(paused.is_some())
    }

    /// The certificate template `template_id` signs with now (`None` if it is gone).
    pub async fn template_signer_cert(&self, template_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let cert = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT signer_cert_der FROM templates WHERE id = $1")
                .bind(template_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(cert)
    }

    /// How many pushes are queued (due, claimed, backing off or parked).
    pub async fn push_queue_depth(&self) -> Result<i64, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM push_outbox").fetch_one(pool).await
        })?;
        Ok(n)
    }
}
