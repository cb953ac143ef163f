//! Storage: one [`Store`] in front of SQLite (embedded, WAL, the default) or PostgreSQL.
//!
//! Why an enum of two native pools rather than sqlx's `Any` driver: each backend keeps its own
//! column types (BYTEA/BOOLEAN/BIGINT identity on PostgreSQL), no process-global driver registry
//! is needed, and a query that must differ (e.g. `FOR UPDATE SKIP LOCKED` for the push outbox,
//! which SQLite lacks) can be written per backend inside the same method. Where the SQL agrees
//! (nearly everywhere: `$N` placeholders, `ON CONFLICT`, `RETURNING` work on both), one string
//! is run on whichever pool is active through the [`on_pool!`] macro, which compiles the body
//! once per backend.
//!
//! Each backend has its migrations in `migrations/sqlite/` and `migrations/postgres/`, embedded
//! in the binary and applied by [`Store::connect`].
//!
//! Errors: see [`StoreError`]; "not found" is `Ok(None)`, never an error, and an error is never
//! reported as "not found".
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod device_records;
mod error;
mod events;
pub mod google;
pub mod insight;
pub mod lookups;
mod models;
pub mod outbox;
mod pass_heads;
mod passes;
mod registrations;
mod rollouts;
mod sharing;
mod templates;
mod tokens;
pub mod webhooks;

pub use device_records::{DeviceLimits, is_device_side};
pub use error::StoreError;
pub use models::*;
pub use passes::{
    Atomicity, ChangeOutcome, InsertOutcome, NewPass, PassChange, PassHead, PassRecord, unix_secs,
};
pub use registrations::{NewRegistration, RegisterOutcome};
pub use rollouts::{
    ReplaceOutcome, Retag, RolloutClaim, RolloutPass, RolloutRecord, RolloutStep, StepOutcome,
};
pub use sharing::{BundleRecord, NewBundleOutcome};

/// Runs `$body` with `$pool` bound to the active backend's pool (`&SqlitePool` or `&PgPool`).
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` inside a write transaction on the active backend, with `$tx` bound to
/// `&mut Transaction` (use `&mut **$tx` as the executor); commits when `$body` (which must
/// evaluate to `Result<T, StoreError>`) is `Ok`, rolls back (on drop) otherwise. SQLite gets
/// `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of failing on lock upgrade.
///
/// ```ignore
/// let tag = in_transaction!(self, tx => async {
///     let tag: i64 = sqlx::query_scalar(
///         "UPDATE counters SET value = value + 1 WHERE name = 'update_tag' RETURNING value",
///     )
///     .fetch_one(&mut **tx)
///     .await?;
///     Ok::<_, StoreError>(tag)
/// });
/// ```
macro_rules! in_transaction {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite(pool) => {
                let mut transaction = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = {
                    let $tx = &mut transaction;
                    $body.await
                }?;
                transaction.commit().await?;
                out
            }
            $crate::store::Backend::Postgres(pool) => {
                let mut transaction = pool.begin().await?;
                let out = {
                    let $tx = &mut transaction;
                    $body.await
                }?;
                transaction.commit().await?;
                out
            }
        }
    };
}
// Re-exported for the store modules that write passes, registrations and the outbox.
#[allow(unused_imports)]
pub(crate) use in_transaction;

/// The active database.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The passmint database. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Raised after pushes were enqueued, so this process's push worker starts at once.
    push_wakeup: std::sync::Arc<tokio::sync::Notify>,
    /// Raised after a template replace started a rollout, so this process's rollout worker
    /// starts at once.
    rollout_wakeup: std::sync::Arc<tokio::sync::Notify>,
    /// Serialises this process's SQLite writes on the hot paths (see [`Store::write_turn`]).
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Pass heads cached for the device hot path (SQLite only; see `pass_heads.rs`).
    pass_heads: std::sync::Arc<pass_heads::PassHeads>,
    /// Caps of the device-side records (see `device_records.rs`).
    device_limits: DeviceLimits,
    /// Whether changes queue Google Wallet syncs (`google.rs`); off unless configured.
    google_sync: bool,
    /// Raised after Google syncs were queued, so this process's Google worker starts at once.
    google_wakeup: std::sync::Arc<tokio::sync::Notify>,
}

/// How long a request waits for a connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens the database at `url` (`sqlite://…` or `postgres://…`), creating an SQLite file and
    /// its folder if needed, and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect_without_migrating(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without touching its schema.
    pub async fn connect_without_migrating(url: &str) -> Result<Self, StoreError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            Backend::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Setup(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // Reads come through a shared memory map instead of a pread per page into each
                // connection's own small cache (the default 2 MB held little of the
                // registrations' indexes).
                .pragma("mmap_size", "268435456")
                .pragma("cache_size", "-16384")
                // Checkpoints run in the background (`checkpoint_in_background`); this only
                // bounds the WAL if that task falls behind, so the committing writer rarely
                // pays for one while holding the write lock.
                .pragma("wal_autocheckpoint", "8000");
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", parent.display())))?;
            }
            // Tokens and payloads live here: 0600 before SQLite creates it (and its -wal/-shm).
            let file = options.get_filename();
            if !file.as_os_str().is_empty() && file.as_os_str() != ":memory:" {
                crate::private_files::prepare_database_file(file)
                    .map_err(|e| StoreError::Setup(format!("cannot prepare {}: {e}", file.display())))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            checkpoint_in_background(pool.clone());
            Backend::Sqlite(pool)
        } else {
            return Err(StoreError::Setup(
                "database URL must start with sqlite:// or postgres://".into(),
            ));
        };
        Ok(Self {
            backend,
            push_wakeup: Default::default(),
            rollout_wakeup: Default::default(),
            write_turn: Default::default(),
            pass_heads: Default::default(),
            device_limits: DeviceLimits::default(),
            google_sync: false,
            google_wakeup: Default::default(),
        })
    }

    /// Caps the device-side records at `limits` (the defaults otherwise).
    #[must_use]
    pub fn with_device_limits(mut self, limits: DeviceLimits) -> Self {
        self.device_limits = limits;
        self
    }

    /// Applies any migration not yet applied (idempotent; safe with several processes).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite_migrator().run(pool).await?,
            Backend::Postgres(pool) => postgres_migrator().run(pool).await?,
        }
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The active pool, for backend-specific work.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Takes the next update tag inside a transaction of its own. Update tags come from one
    /// counter row that a writer locks until it commits, so tags become visible in increasing
    /// order (a sequence could not promise that). Code that updates a pass should bump the
    /// counter inside the same transaction as the pass (see `in_transaction!`).
    pub async fn next_update_tag(&self) -> Result<i64, StoreError> {
        let tag = in_transaction!(self, tx => async {
            let tag: i64 = sqlx::query_scalar(
                "UPDATE counters SET value = value + 1 WHERE name = 'update_tag' RETURNING value",
            )
            .fetch_one(&mut **tx)
            .await?;
            Ok::<_, StoreError>(tag)
        });
        Ok(tag)
    }

    /// On SQLite, waits for this process's turn to write (`None` on PostgreSQL, where writers
    /// don't block each other this way).
    ///
    /// Why: SQLite has one writer at a time, and a connection that finds the database locked
    /// waits in SQLite's busy handler, which *sleeps* (1, 2, 5, 10… ms) before retrying. Under
    /// load (many registrations and events at once) writers then spend most of their time
    /// asleep. Queueing them in-process on an async mutex instead hands the lock over at once:
    /// registration throughput went from ~2k/s to several times that on the load benchmark.
    pub async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite(_) => Some(self.write_turn.lock().await),
            Backend::Postgres(_) => None,
        }
    }

    /// Claims up to `limit` due rows of an outbox for `lease_ms` with the backend's own claim
    /// statement (binds: now, lease, limit), in this process's write turn: the one claim shape
    /// the push and Google Wallet workers share. A row claimed and never recorded becomes due
    /// again when its lease runs out, so a crashed worker's claims are picked up later.
    pub(crate) async fn claim_leased<T>(
        &self,
        (sqlite, postgres): (&'static str, &'static str),
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let _turn = self.write_turn().await;
        let claimed = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as::<_, T>(sqlite)
                    .bind(now_ms)
                    .bind(lease_ms)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_as::<_, T>(postgres)
                    .bind(now_ms)
                    .bind(lease_ms)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(claimed)
    }

    /// Closes every connection; later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`], off the writers'
/// path: a PASSIVE checkpoint takes no lock a writer waits for, and one checkpoint of many
/// commits writes each page once. Ends when the pool is closed.
fn checkpoint_in_background(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                break;
            }
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                if pool.is_closed() {
                    break;
                }
                tracing::debug!(%error, "background checkpoint failed");
            }
        }
    });
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

fn embedded(files: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sqlx::AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

use sqlx::SqlSafeStr;

fn sqlite_migrator() -> Migrator {
    embedded(&[
        (
            1,
            "initial",
            include_str!("../../migrations/sqlite/0001_initial.sql"),
        ),
        (3, "push", include_str!("../../migrations/sqlite/0003_push.sql")),
        (
            4,
            "issuing",
            include_str!("../../migrations/sqlite/0004_issuing.sql"),
        ),
        (
            5,
            "device_records",
            include_str!("../../migrations/sqlite/0005_device_records.sql"),
        ),
        (
            6,
            "rollouts",
            include_str!("../../migrations/sqlite/0006_rollouts.sql"),
        ),
        (
            7,
            "webhooks",
            include_str!("../../migrations/sqlite/0007_webhooks.sql"),
        ),
        (
            8,
            "insight",
            include_str!("../../migrations/sqlite/0008_insight.sql"),
        ),
        (
            9,
            "sharing",
            include_str!("../../migrations/sqlite/0009_sharing.sql"),
        ),
        (
            10,
            "google",
            include_str!("../../migrations/sqlite/0010_google.sql"),
        ),
        (
            12,
            "webhook_outbox_indexes",
            include_str!("../../migrations/sqlite/0012_webhook_outbox_indexes.sql"),
        ),
    ])
}

fn postgres_migrator() -> Migrator {
    embedded(&[
        (
            1,
            "initial",
            include_str!("../../migrations/postgres/0001_initial.sql"),
        ),
        (3, "push", include_str!("../../migrations/postgres/0003_push.sql")),
        (
            4,
            "issuing",
            include_str!("../../migrations/postgres/0004_issuing.sql"),
        ),
        (
            5,
            "device_records",
            include_str!("../../migrations/postgres/0005_device_records.sql"),
        ),
        (
            6,
            "rollouts",
            include_str!("../../migrations/postgres/0006_rollouts.sql"),
        ),
        (
            7,
            "webhooks",
            include_str!("../../migrations/postgres/0007_webhooks.sql"),
        ),
        (
            8,
            "insight",
            include_str!("../../migrations/postgres/0008_insight.sql"),
        ),
        (
            9,
            "sharing",
            include_str!("../../migrations/postgres/0009_sharing.sql"),
        ),
        (
            10,
            "google",
            include_str!("../../migrations/postgres/0010_google.sql"),
        ),
        (
            12,
            "webhook_outbox_indexes",
            include_str!("../../migrations/postgres/0012_webhook_outbox_indexes.sql"),
        ),
    ])
}
