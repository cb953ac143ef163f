//! Insight (SPEC 11): each pass's timeline and each template's counters.
//!
//! Most of both is written by the triggers of migration 0008, inside the transaction of the row
//! change they describe (a pass created, updated, voided or deleted; a registration added,
//! refreshed or removed; a pass installed or uninstalled). Here is the rest:
//! - [`Store::append_timeline`]: what is not a row change (a device asking for its changed
//!   serials, fetching a pass, a download, a log line naming a serial), a batch at a time from
//!   the domain's insight writer;
//! - the push recorder's entries and push counters ([`record_push_notes!`], in the push
//!   recorder's transaction);
//! - the reads: a pass's timeline page, a template's totals and days.
//!
//! Every read is an index lookup: the timeline by `(pass_id, seq)`, the totals by template id,
//! the days by `(template_id, day)` over at most a year of rows. Nothing counts passes.
use super::{Store, StoreError, in_transaction, on_pool};

/// Which pass an entry is about: by id, or as a device names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassKey {
    Id(String),
    Serial { pass_type: String, serial: String },
}

/// One timeline entry to append.
#[derive(Debug, Clone)]
pub struct TimelineNote {
    pub pass: PassKey,
    /// Unix milliseconds.
    pub at: i64,
    pub kind: &'static str,
    /// JSON object text.
    pub detail: String,
    /// Counts as a download in the template's day.
    pub download: bool,
}

/// A stored timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TimelineRecord {
    pub seq: i64,
    pub at: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub detail: String,
}

/// A template's running totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateTotals {
    pub passes: i64,
    pub voided: i64,
    pub installed: i64,
    pub devices: i64,
    pub pushes_sent: i64,
    pub pushes_failed: i64,
}

/// One UTC day's counters of a template.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyRecord {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub issued: i64,
    pub updated: i64,
    pub installed: i64,
    pub uninstalled: i64,
    pub downloads: i64,
}

/// What one push came to, for the timelines of the passes its token is registered for.
#[derive(Debug, Clone, Default)]
pub struct PushNote {
    /// APNs answered 200.
    pub delivered: bool,
    /// APNs's HTTP status, when it answered.
    pub status: Option<u16>,
    /// APNs's reason (or ours: `Timeout`, `ConnectionError`, …).
    pub reason: Option<String>,
    /// It will not be tried again (given up, refused).
    pub final_failure: bool,
}

impl PushNote {
    fn detail(&self) -> String {
        let mut detail = serde_json::json!({
            "result": if self.delivered { "sent" } else if self.final_failure { "failed" } else { "retrying" },
        });
        if let Some(status) = self.status.or(self.delivered.then_some(200)) {
            detail["status"] = serde_json::json!(status);
        }
        if let Some(reason) = &self.reason {
            detail["reason"] = serde_json::json!(reason);
        }
        detail.to_string()
    }
}

/// The UTC day (`YYYY-MM-DD`) of a Unix millisecond time.
pub fn utc_day(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Pushes recorded per statement (4 binds a row).
const PUSH_CHUNK: usize = 200;

/// Appends the push entries of `notes` (one per pass the token is registered for) and adds
/// them to the templates' push counters, on the executor `$conn` (an open transaction's
/// connection). `$notes` is a `&[(&ClaimedPush, &PushNote)]`. One macro for both backends.
macro_rules! record_push_notes {
    ($conn:expr, $notes:expr, $now:expr) => {{
        let all: &[(
            &$crate::store::outbox::ClaimedPush,
            &$crate::store::insight::PushNote,
        )] = $notes;
        let notes: Vec<_> = all.iter().filter(|(_, n)| n.happened()).copied().collect();
        let now: i64 = $now;
        for chunk in notes.chunks($crate::store::insight::PUSH_CHUNK_ROWS) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO pass_timeline (pass_id, n, at, type, detail) \
                 SELECT r.pass_id, COALESCE((SELECT MAX(t.n) FROM pass_timeline t \
                 WHERE t.pass_id = r.pass_id), 0) + 1, ",
            );
            insert.push_bind(now);
            insert.push(", 'push', v.column3 FROM (");
            insert.push_values(chunk, |mut row, (claim, note)| {
                row.push_bind(&claim.push_token)
                    .push_bind(&claim.pass_type_identifier)
                    .push_bind(note.detail_json());
            });
            insert.push(
                ") AS v JOIN registrations r ON r.push_token = v.column1 \
                 AND r.pass_type_identifier = v.column2",
            );
            insert.build().persistent(false).execute(&mut *$conn).await?;
        }
        let mut per_template: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
        for (claim, note) in &notes {
            let counts = per_template.entry(claim.template_id.as_str()).or_default();
            if note.delivered {
                counts.0 += 1;
            } else if note.final_failure {
                counts.1 += 1;
            }
        }
        for (template_id, (sent, failed)) in per_template {
            if sent == 0 && failed == 0 {
                continue;
            }
            sqlx::query(
                "UPDATE template_totals SET pushes_sent = pushes_sent + $2, \
                 pushes_failed = pushes_failed + $3 WHERE template_id = $1",
            )
            .bind(template_id)
            .bind(sent)
            .bind(failed)
            .execute(&mut *$conn)
            .await?;
        }
    }};
}
pub(crate) use record_push_notes;

/// Rows per push statement (see [`record_push_notes!`]).
pub(crate) const PUSH_CHUNK_ROWS: usize = PUSH_CHUNK;

impl PushNote {
    /// Whether the push was tried at all (a push released untried, at shutdown, is no news).
    pub fn happened(&self) -> bool {
        self.delivered || self.status.is_some() || self.reason.is_some()
    }

    /// The entry's detail (JSON object text).
    pub fn detail_json(&self) -> String {
        self.detail()
    }
}

const APPEND_BY_ID: &str = "INSERT INTO pass_timeline (pass_id, n, at, type, detail) \
     SELECT p.id, COALESCE((SELECT MAX(t.n) FROM pass_timeline t WHERE t.pass_id = p.id), 0) + 1, \
     $2, $3, $4 FROM passes p WHERE p.id = $1";
const APPEND_BY_SERIAL: &str = "INSERT INTO pass_timeline (pass_id, n, at, type, detail) \
     SELECT p.id, COALESCE((SELECT MAX(t.n) FROM pass_timeline t WHERE t.pass_id = p.id), 0) + 1, \
     $3, $4, $5 FROM passes p WHERE p.pass_type_identifier = $1 AND p.serial_number = $2";
const DOWNLOAD_BY_ID: &str = "INSERT INTO template_daily (template_id, day, downloads) \
     SELECT p.template_id, $2, 1 FROM passes p JOIN template_totals t ON t.template_id = p.template_id \
     WHERE p.id = $1 \
     ON CONFLICT (template_id, day) DO UPDATE SET downloads = template_daily.downloads + 1";
const DOWNLOAD_BY_SERIAL: &str = "INSERT INTO template_daily (template_id, day, downloads) \
     SELECT p.template_id, $3, 1 FROM passes p JOIN template_totals t ON t.template_id = p.template_id \
     WHERE p.pass_type_identifier = $1 AND p.serial_number = $2 \
     ON CONFLICT (template_id, day) DO UPDATE SET downloads = template_daily.downloads + 1";

impl Store {
    /// Sets how many timeline entries each pass keeps (the triggers read it).
    pub async fn set_timeline_cap(&self, cap: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE insight_settings SET timeline_cap = $1 WHERE id = 1 AND timeline_cap <> $1")
                .bind(cap.max(1))
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Appends `notes` in one transaction. An entry about a pass that is not there (deleted
    /// meanwhile, or a serial no pass has) is dropped.
    pub async fn append_timeline(&self, notes: &[TimelineNote]) -> Result<(), StoreError> {
        if notes.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        in_transaction!(self, tx => async {
            for note in notes {
                match &note.pass {
                    PassKey::Id(id) => {
                        sqlx::query(APPEND_BY_ID)
                            .bind(id)
                            .bind(note.at)
                            .bind(note.kind)
                            .bind(&note.detail)
                            .execute(&mut **tx)
                            .await?;
                        if note.download {
                            sqlx::query(DOWNLOAD_BY_ID)
                                .bind(id)
                                .bind(utc_day(note.at))
                                .execute(&mut **tx)
                                .await?;
                        }
                    }
                    PassKey::Serial { pass_type, serial } => {
                        sqlx::query(APPEND_BY_SERIAL)
                            .bind(pass_type)
                            .bind(serial)
                            .bind(note.at)
                            .bind(note.kind)
                            .bind(&note.detail)
                            .execute(&mut **tx)
                            .await?;
                        if note.download {
                            sqlx::query(DOWNLOAD_BY_SERIAL)
                                .bind(pass_type)
                                .bind(serial)
                                .bind(utc_day(note.at))
                                .execute(&mut **tx)
                                .await?;
                        }
                    }
                }
            }
            Ok::<(), StoreError>(())
        });
        Ok(())
    }

    /// Up to `limit` entries of a pass's timeline older than position `before` (newest first).
    pub async fn list_timeline(
        &self,
        pass_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<TimelineRecord>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, TimelineRecord>(
                "SELECT seq, at, type, detail FROM pass_timeline \
                 WHERE pass_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
            )
            .bind(pass_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// A template's running totals (`None` when there is no such template).
    pub async fn template_totals(&self, template_id: &str) -> Result<Option<TemplateTotals>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query_as::<_, TemplateTotals>(
                "SELECT passes, voided, installed, devices, pushes_sent, pushes_failed \
                 FROM template_totals WHERE template_id = $1",
            )
            .bind(template_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// A template's days from `from` to `to` (inclusive, `YYYY-MM-DD`) that have counts, in
    /// order; days with nothing have no row.
    pub async fn template_days(
        &self,
        template_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<DailyRecord>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, DailyRecord>(
                "SELECT day, issued, updated, installed, uninstalled, downloads FROM template_daily \
                 WHERE template_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
            )
            .bind(template_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Every template's id and certificate expiry (Unix seconds), for the metrics gauge.
    pub async fn certificate_expiries(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT id, certificate_expires_at FROM templates ORDER BY seq",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(1_796_342_399_999), "2026-12-03");
        assert_eq!(utc_day(1_796_342_400_000), "2026-12-04");
    }

    #[test]
    fn push_notes_say_what_apns_answered() {
        let sent = PushNote {
            delivered: true,
            ..Default::default()
        };
        let sent: serde_json::Value = serde_json::from_str(&sent.detail()).unwrap();
        assert_eq!(sent, serde_json::json!({"result": "sent", "status": 200}));
        let gone = PushNote {
            status: Some(410),
            reason: Some("Unregistered".into()),
            final_failure: true,
            ..Default::default()
        };
        let gone: serde_json::Value = serde_json::from_str(&gone.detail()).unwrap();
        assert_eq!(
            gone,
            serde_json::json!({"reason": "Unregistered", "result": "failed", "status": 410})
        );
    }
}
