//! Events: appended with a monotonic `seq`, listed newest first, capped.
use super::{EventRecord, NewEvent, Store, StoreError, on_pool};

impl Store {
    /// Appends an event and prunes so that about `keep` newest events remain. The prune is a
    /// range delete on the primary key below `seq - keep`: usually one row, never a scan.
    pub async fn insert_event(&self, e: &NewEvent, keep: i64) -> Result<EventRecord, StoreError> {
        let _turn = self.write_turn().await;
        let record = on_pool!(self, pool => {
            sqlx::query_as::<_, EventRecord>(
                "INSERT INTO events (id, type, category, timestamp, request_id, data) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING seq, id, type, category, timestamp, request_id, data",
            )
            .bind(&e.id)
            .bind(&e.event_type)
            .bind(&e.category)
            .bind(e.timestamp)
            .bind(&e.request_id)
            .bind(&e.data)
            .fetch_one(pool)
            .await
        })?;
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM events WHERE seq <= $1")
                .bind(record.seq - keep.max(1))
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(record)
    }

    /// Up to `limit` events older than position `before_seq` (newest when `None`), newest
    /// first, optionally only of one type.
    pub async fn list_events(
        &self,
        event_type: Option<&str>,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let before = before_seq.unwrap_or(i64::MAX);
        let records = on_pool!(self, pool => {
            match event_type {
                Some(t) => {
                    sqlx::query_as::<_, EventRecord>(
                        "SELECT seq, id, type, category, timestamp, request_id, data FROM events \
                         WHERE type = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                    )
                    .bind(t)
                    .bind(before)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                }
                None => {
                    sqlx::query_as::<_, EventRecord>(
                        "SELECT seq, id, type, category, timestamp, request_id, data FROM events \
                         WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
                    )
                    .bind(before)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                }
            }
        })?;
        Ok(records)
    }

    pub async fn count_events(&self) -> Result<i64, StoreError> {
        let count: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(pool).await
        })?;
        Ok(count)
    }
}
