//! The store's one error type. An outage is its own variant so the edges can answer 503; a
//! missing row is never an error here (it is `Ok(None)` / `Ok(false)`), and an error is never
//! turned into "missing".

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database can't be reached or is refusing work (connection, pool timeout, shutdown,
    /// busy): the caller should answer 503 and try later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A uniqueness constraint refused the write (e.g. a serial number already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else the database reported: a bug or a damaged row.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare the database: {0}")]
    Setup(String),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => Self::Unavailable(error),
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    return Self::Conflict(db.message().to_string());
                }
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                // PostgreSQL classes 08 (connection), 53 (resources), 57 (operator intervention,
                // e.g. shutdown, database dropped); SQLite 5/6/10/13/14 (busy, locked, I/O, full,
                // cannot open). The database is in trouble, not the request.
                // SQLSTATEs are five characters; SQLite codes are numbers of at most four digits.
                let pg_outage = code.len() == 5 && ["08", "53", "57"].iter().any(|c| code.starts_with(c));
                let sqlite_outage = code.len() < 5
                    && code
                        .parse::<u32>()
                        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14));
                if pg_outage || sqlite_outage {
                    Self::Unavailable(error)
                } else {
                    Self::Database(error)
                }
            }
            _ => Self::Database(error),
        }
    }
}
