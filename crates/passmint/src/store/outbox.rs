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

use super::{Store, StoreError};

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
    fn run_enqueue<'a>(
        &'a mut self,
        sql: &'static str,
        id: &'a str,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a {
        async move {
            let done = sqlx::query(sql).bind(id).bind(now_ms).execute(self).await?;
            Ok(done.rows_affected())
        }
    }
}

impl OutboxConnection for sqlx::PgConnection {
    fn run_enqueue<'a>(
        &'a mut self,
        sql: &'static str,
        id: &'a str,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a {
        async move {
            let done = sqlx::query(sql).bind(id).bind(now_ms).execute(self).await?;
            Ok(done.rows_affected())
        }
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
