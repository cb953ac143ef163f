//! Messages devices send to `/passkit/v1/log`: kept, capped like events.
use super::{DeviceLogRecord, Store, StoreError, now_millis, on_pool};

impl Store {
    /// Appends one message and prunes so that about `keep` newest messages remain.
    pub async fn insert_device_log(
        &self,
        request_id: &str,
        message: &str,
        keep: i64,
    ) -> Result<DeviceLogRecord, StoreError> {
        let record = on_pool!(self, pool => {
            sqlx::query_as::<_, DeviceLogRecord>(
                "INSERT INTO device_logs (received_at, request_id, message) VALUES ($1, $2, $3) \
                 RETURNING seq, received_at, request_id, message",
            )
            .bind(now_millis())
            .bind(request_id)
            .bind(message)
            .fetch_one(pool)
            .await
        })?;
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM device_logs WHERE seq <= $1")
                .bind(record.seq - keep.max(1))
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(record)
    }

    /// The newest `limit` messages, newest first.
    pub async fn list_device_logs(&self, limit: i64) -> Result<Vec<DeviceLogRecord>, StoreError> {
        let records = on_pool!(self, pool => {
            sqlx::query_as::<_, DeviceLogRecord>(
                "SELECT seq, received_at, request_id, message FROM device_logs \
                 ORDER BY seq DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(records)
    }
}
