//! Events: appended with a monotonic `seq`, listed newest first, capped.
use super::{EventRecord, NewEvent, Store, StoreError, in_transaction, on_pool};

/// Appends `$events` (a `&[NewEvent]`) on the executor `$conn` (an open transaction's
/// connection) in multi-row statements, then prunes so that about `$keep` newest events remain.
/// Device-side events go to the device records instead, capped by `$device` (a
/// `DeviceLimits`; see `device_records.rs`), so they never count against `$keep`.
/// The prune is a range delete on the primary key below the newest `seq - keep`: usually a few
/// rows, never a scan. One macro for both backends (it compiles once per connection type), so
/// every writer of events shares this one statement shape.
macro_rules! append_events {
    ($conn:expr, $events:expr, $keep:expr, $device:expr) => {{
        let all: &[$crate::store::NewEvent] = $events;
        let (device, management): (Vec<&$crate::store::NewEvent>, Vec<&$crate::store::NewEvent>) = all
            .iter()
            .partition(|e| $crate::store::is_device_side(&e.event_type));
        if !device.is_empty() {
            $crate::store::device_records::append_device_records!($conn, &device, $device);
        }
        let events: &[&$crate::store::NewEvent] = &management;
        let mut last_seq = 0_i64;
        // 6 binds per row: stay far below SQLite's and PostgreSQL's bind limits.
        for chunk in events.chunks(500) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO events (id, type, category, timestamp, request_id, data) ",
            );
            insert.push_values(chunk, |mut row, e: &&$crate::store::NewEvent| {
                row.push_bind(&e.id)
                    .push_bind(&e.event_type)
                    .push_bind(&e.category)
                    .push_bind(e.timestamp)
                    .push_bind(&e.request_id)
                    .push_bind(&e.data);
            });
            insert.push(" RETURNING seq");
            let seqs: Vec<i64> = insert
                .build_query_scalar()
                .persistent(false)
                .fetch_all(&mut *$conn)
                .await?;
            last_seq = last_seq.max(seqs.into_iter().max().unwrap_or(0));
        }
        // Webhook deliveries these events stand for (device-side ones included: a registration
        // is `device.registered`), in the same transaction.
        $crate::store::webhooks::WebhookQueue::queue_for_events(&mut *$conn, all).await?;
        if last_seq > 0 {
            sqlx::query("DELETE FROM events WHERE seq <= $1")
                .bind(last_seq - i64::max($keep, 1))
                .execute(&mut *$conn)
                .await?;
        }
    }};
}
pub(crate) use append_events;

impl Store {
    /// Appends events in one transaction and prunes to about `keep` newest.
    pub async fn insert_events(&self, events: &[NewEvent], keep: i64) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        // Queue behind this process's other SQLite writers instead of in the busy handler.
        let _turn = self.write_turn().await;
        in_transaction!(self, tx => async {
            append_events!(&mut **tx, events, keep, self.device_limits);
            Ok::<(), StoreError>(())
        });
        Ok(())
    }

    /// Up to `limit` events older than position `before_seq` (newest when `None`), newest
    /// first, optionally only of one type. A device-side type is listed from the device
    /// records (positions are theirs); no type lists the management events.
    pub async fn list_events(
        &self,
        event_type: Option<&str>,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        if let Some(t) = event_type
            && super::is_device_side(t)
        {
            return self.list_device_records(Some(t), before_seq, limit).await;
        }
        let before = before_seq.unwrap_or(i64::MAX);
        let records = on_pool!(self, pool => {
            match event_type {
                Some(t) => {
                    sqlx::query_as::<_, EventRecord>(
                        "SELECT seq, id, type, category, timestamp, request_id, data, CAST(1 AS BIGINT) AS count, \
                         timestamp AS first_seen FROM events \
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
                        "SELECT seq, id, type, category, timestamp, request_id, data, CAST(1 AS BIGINT) AS count, \
                         timestamp AS first_seen FROM events \
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
