//! Device-side records: what anonymous devices and the push worker cause (PassKit log
//! messages, failed device registrations, push outcomes), kept apart from the management audit
//! trail so no amount of device traffic can push a management event out (SPEC 6).
//!
//! They arrive as [`NewEvent`]s through the one event writer; [`is_device_side`] sends each to
//! its table by type. Here they are:
//! - **aggregated**: repeats of one failure or one log message (same type, category and data)
//!   share a row whose `count` grows and whose `last_seen`/`request_id` follow the latest;
//! - **capped by count and bytes**: running totals in `device_record_totals` are updated in
//!   the writing transaction and the oldest rows go as soon as either cap is passed, so a
//!   flood costs a bounded amount of disk and each write a bounded amount of work.
use super::{EventRecord, NewEvent, Store, StoreError, on_pool};

/// Caps of the device-side records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Rows kept, at most.
    pub records: i64,
    /// Bytes kept (as counted by [`record_bytes`]), at most.
    pub bytes: i64,
}

impl Default for DeviceLimits {
    fn default() -> Self {
        Self {
            records: 10_000,
            bytes: 8 * 1024 * 1024,
        }
    }
}

/// Whether an event of this type is a device-side record (PassKit and APNs), not a
/// management audit event.
pub fn is_device_side(event_type: &str) -> bool {
    event_type.starts_with("PASSKIT_") || event_type.starts_with("APNS_")
}

/// Whether repeats of this type share one row: failures and device log messages. Successes
/// stay one row each (they name different passes and devices).
fn aggregates(event_type: &str) -> bool {
    event_type.ends_with("_FAIL") || event_type == "PASSKIT_DEVICE_LOG"
}

/// The part of a record's data that tells repeats apart: all of it but the attempt number, so
/// one push failing attempt after attempt (an APNs outage) is one row counting the attempts.
fn aggregation_data(data: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.remove("attempt");
            serde_json::Value::Object(map).to_string()
        }
        _ => data.to_string(),
    }
}

/// What a row costs: its text plus a fixed allowance for the row and index overhead.
pub fn record_bytes(e: &NewEvent) -> i64 {
    let text = e.id.len() + e.event_type.len() + e.category.len() + e.request_id.len() + e.data.len();
    i64::try_from(text).unwrap_or(i64::MAX / 2) + 96
}

/// One row to write: the first event of its kind in the batch, how many there were, and the
/// latest's time and request id.
pub(crate) struct Pending<'a> {
    pub first: &'a NewEvent,
    pub fingerprint: String,
    pub count: i64,
    pub last_seen: i64,
    pub request_id: &'a str,
    pub bytes: i64,
}

/// Groups a batch by aggregation key (a statement may not touch one row twice).
pub(crate) fn pending<'a>(events: &[&'a NewEvent]) -> Vec<Pending<'a>> {
    let mut out: Vec<Pending<'a>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for &e in events {
        let fingerprint = if aggregates(&e.event_type) {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            for part in [&e.event_type, &e.category, &aggregation_data(&e.data)] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            hex::encode(h.finalize())
        } else {
            e.id.clone()
        };
        match index.get(&fingerprint) {
            Some(&i) => {
                let p = &mut out[i];
                p.count += 1;
                p.last_seen = p.last_seen.max(e.timestamp);
                p.request_id = &e.request_id;
            }
            None => {
                index.insert(fingerprint.clone(), out.len());
                out.push(Pending {
                    first: e,
                    fingerprint,
                    count: 1,
                    last_seen: e.timestamp,
                    request_id: &e.request_id,
                    bytes: record_bytes(e),
                });
            }
        }
    }
    out
}

/// Writes device-side records (a `&[&NewEvent]`) on the executor `$conn` (an open
/// transaction's connection), aggregating repeats, then prunes the oldest rows until both caps
/// of `$limits` (a [`DeviceLimits`]) hold. One macro for both backends, as `append_events!`.
macro_rules! append_device_records {
    ($conn:expr, $events:expr, $limits:expr) => {{
        let limits: $crate::store::DeviceLimits = $limits;
        let pending = $crate::store::device_records::pending($events);
        let (mut added_rows, mut added_bytes) = (0_i64, 0_i64);
        // 10 binds per row.
        for chunk in pending.chunks(300) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO device_records (id, fingerprint, type, category, first_seen, \
                 last_seen, request_id, count, bytes, data) ",
            );
            insert.push_values(
                chunk,
                |mut row, p: &$crate::store::device_records::Pending<'_>| {
                    row.push_bind(&p.first.id)
                        .push_bind(&p.fingerprint)
                        .push_bind(&p.first.event_type)
                        .push_bind(&p.first.category)
                        .push_bind(p.first.timestamp)
                        .push_bind(p.last_seen)
                        .push_bind(p.request_id)
                        .push_bind(p.count)
                        .push_bind(p.bytes)
                        .push_bind(&p.first.data);
                },
            );
            insert.push(
                " ON CONFLICT (fingerprint) DO UPDATE SET \
                 count = device_records.count + excluded.count, \
                 last_seen = excluded.last_seen, request_id = excluded.request_id \
                 RETURNING id",
            );
            let ids: Vec<String> = insert
                .build_query_scalar()
                .persistent(false)
                .fetch_all(&mut *$conn)
                .await?;
            // A row that kept the id written here is new; an aggregated one kept its own.
            let fresh: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
            for p in chunk {
                if fresh.contains(p.first.id.as_str()) {
                    added_rows += 1;
                    added_bytes += p.bytes;
                }
            }
        }
        let (mut rows, mut bytes): (i64, i64) = sqlx::query_as(
            "UPDATE device_record_totals SET records = records + $1, bytes = bytes + $2 \
             WHERE id = 1 RETURNING records, bytes",
        )
        .bind(added_rows)
        .bind(added_bytes)
        .fetch_one(&mut *$conn)
        .await?;
        // Oldest first, a page at a time, until both caps hold.
        while rows > limits.records.max(1) || bytes > limits.bytes.max(1) {
            let oldest: Vec<(i64, i64)> =
                sqlx::query_as("SELECT seq, bytes FROM device_records ORDER BY seq LIMIT 512")
                    .fetch_all(&mut *$conn)
                    .await?;
            if oldest.is_empty() {
                break;
            }
            let (mut cut_seq, mut cut_rows, mut cut_bytes) = (0_i64, 0_i64, 0_i64);
            for (seq, size) in &oldest {
                if rows - cut_rows <= limits.records.max(1) && bytes - cut_bytes <= limits.bytes.max(1) {
                    break;
                }
                cut_seq = *seq;
                cut_rows += 1;
                cut_bytes += size;
            }
            sqlx::query("DELETE FROM device_records WHERE seq <= $1")
                .bind(cut_seq)
                .execute(&mut *$conn)
                .await?;
            let totals: (i64, i64) = sqlx::query_as(
                "UPDATE device_record_totals SET records = records - $1, bytes = bytes - $2 \
                 WHERE id = 1 RETURNING records, bytes",
            )
            .bind(cut_rows)
            .bind(cut_bytes)
            .fetch_one(&mut *$conn)
            .await?;
            (rows, bytes) = totals;
        }
    }};
}
pub(crate) use append_device_records;

impl Store {
    /// The device-side caps in force.
    pub fn device_limits(&self) -> DeviceLimits {
        self.device_limits
    }

    /// Up to `limit` device-side records older than position `before_seq` (newest when
    /// `None`), newest first, optionally only of one type.
    pub async fn list_device_records(
        &self,
        event_type: Option<&str>,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let before = before_seq.unwrap_or(i64::MAX);
        let columns = "seq, id, type, category, last_seen AS timestamp, request_id, data, count, \
                       first_seen";
        let records = on_pool!(self, pool => {
            match event_type {
                Some(t) => {
                    sqlx::query_as::<_, EventRecord>(sqlx::AssertSqlSafe(format!(
                        "SELECT {columns} FROM device_records WHERE type = $1 AND seq < $2 \
                         ORDER BY seq DESC LIMIT $3"
                    )))
                    .bind(t)
                    .bind(before)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                }
                None => {
                    sqlx::query_as::<_, EventRecord>(sqlx::AssertSqlSafe(format!(
                        "SELECT {columns} FROM device_records WHERE seq < $1 \
                         ORDER BY seq DESC LIMIT $2"
                    )))
                    .bind(before)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                }
            }
        })?;
        Ok(records)
    }

    /// Rows and bytes of device-side records kept now (the running totals).
    pub async fn device_record_totals(&self) -> Result<(i64, i64), StoreError> {
        let totals = on_pool!(self, pool => {
            sqlx::query_as("SELECT records, bytes FROM device_record_totals WHERE id = 1")
                .fetch_one(pool)
                .await
        })?;
        Ok(totals)
    }
}
