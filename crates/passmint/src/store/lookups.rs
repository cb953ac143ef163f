//! Reads for people looking at the data (the dashboard): a pass by serial number whatever its
//! pass type, a pass's devices, the push queue by failure, a template's uploaded .zip. Each is
//! an index lookup or bounded by what it lists.
use super::{Store, StoreError, on_pool};

/// One device registered for a pass.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegistrationRecord {
    pub device_library_identifier: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// The push queue at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushQueueSummary {
    /// Pushes queued.
    pub depth: i64,
    /// Of those, how many failed at least once, by their last error.
    pub failing: Vec<(String, i64)>,
    /// Templates whose pushes wait because APNs refused their certificate: (id, reason).
    pub paused: Vec<(String, String)>,
}

/// Most registrations listed for one pass.
const MAX_REGISTRATIONS_LISTED: i64 = 500;
/// Most distinct failure reasons listed.
const MAX_REASONS: i64 = 50;

impl Store {
    /// The ids of the passes with serial number `serial`, one per pass type at most (a serial
    /// is unique within its pass type). One index lookup per pass type the templates use.
    pub async fn find_passes_by_serial(&self, serial: &str) -> Result<Vec<String>, StoreError> {
        let ids = on_pool!(self, pool => {
            sqlx::query_scalar::<_, String>(
                "SELECT p.id FROM (SELECT DISTINCT pass_type_identifier FROM templates) t \
                 JOIN passes p ON p.pass_type_identifier = t.pass_type_identifier \
                 AND p.serial_number = $1 ORDER BY p.seq",
            )
            .bind(serial)
            .fetch_all(pool)
            .await
        })?;
        Ok(ids)
    }

    /// The devices registered for a pass (at most 500), newest first.
    pub async fn pass_registrations(&self, pass_id: &str) -> Result<Vec<RegistrationRecord>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, RegistrationRecord>(
                "SELECT device_library_identifier, created_at, updated_at FROM registrations \
                 WHERE pass_id = $1 ORDER BY updated_at DESC LIMIT $2",
            )
            .bind(pass_id)
            .bind(MAX_REGISTRATIONS_LISTED)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// The push queue's depth, its failing pushes by last error, and the paused templates.
    pub async fn push_queue_summary(&self) -> Result<PushQueueSummary, StoreError> {
        let depth = self.push_queue_depth().await?;
        let (failing, paused) = on_pool!(self, pool => {
            async {
                let failing = sqlx::query_as::<_, (String, i64)>(
                    "SELECT last_error, COUNT(*) FROM push_outbox WHERE last_error IS NOT NULL \
                     GROUP BY last_error ORDER BY COUNT(*) DESC LIMIT $1",
                )
                .bind(MAX_REASONS)
                .fetch_all(pool)
                .await?;
                let paused = sqlx::query_as::<_, (String, String)>(
                    "SELECT template_id, reason FROM push_pauses ORDER BY paused_at DESC LIMIT $1",
                )
                .bind(MAX_REASONS)
                .fetch_all(pool)
                .await?;
                Ok::<_, sqlx::Error>((failing, paused))
            }
            .await
        })?;
        Ok(PushQueueSummary {
            depth,
            failing,
            paused,
        })
    }

    /// The .zip template `id` was uploaded with (for its preview), if there is such a template.
    pub async fn template_zip(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let zip = on_pool!(self, pool => {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT template_zip FROM templates WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(zip)
    }
}
