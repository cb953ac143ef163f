//! Insight (SPEC 11): what happened to a pass (its timeline) and to a template's passes (its
//! statistics).
//!
//! Row changes (created, updated, voided, registrations, installs) are put in the timeline and
//! counted by the store's triggers, inside the transactions that make them. What a device or a
//! client only *reads* (its changed serials, the pass, a download) and the log lines devices
//! send are noted here, through [`Insight`]: the request hands the note to a channel and goes
//! on (no wait, no transaction of its own); one task appends the notes a batch per
//! transaction. So the PassKit hot paths pay a channel send, never a commit. When the writer
//! falls behind by more than [`QUEUE`] notes, further ones are dropped and counted
//! (`passmint_timeline_notes_dropped_total`) rather than slowing the devices down.
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use super::{Domain, DomainError, PassId, TemplateId};
use crate::metrics::Metrics;
use crate::store::insight::{DailyRecord, PassKey, TemplateTotals, TimelineNote, TimelineRecord};
use crate::store::{Store, now_millis};

/// Notes waiting for the writer, at most.
const QUEUE: usize = 16_384;
/// Notes appended per transaction, at most.
const MAX_BATCH: usize = 512;
/// Serial numbers noted per device request, at most (a device asking about 1,000 changed
/// passes gets its first 100 noted).
const MAX_SERIALS_NOTED: usize = 100;

/// Hands timeline notes to the writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Insight {
    notes: mpsc::Sender<TimelineNote>,
    metrics: Arc<Metrics>,
}

impl Insight {
    /// Starts the writer on the current tokio runtime.
    pub fn start(store: Store, metrics: Arc<Metrics>) -> Self {
        let (notes, mut rx) = mpsc::channel::<TimelineNote>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                if let Err(error) = store.append_timeline(&batch).await {
                    tracing::warn!(%error, count = batch.len(), "timeline notes not stored");
                }
                batch.clear();
            }
        });
        Self { notes, metrics }
    }

    /// Queues `note` without waiting; a full queue drops it (counted).
    pub fn note(&self, note: TimelineNote) {
        if self.notes.try_send(note).is_err() {
            self.metrics.count_timeline_note_dropped();
        }
    }
}

/// A pass's statistics over a range of UTC days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateStats {
    pub totals: TemplateTotals,
    /// Every day from `from` to `to`, in order (days with nothing are zeros).
    pub daily: Vec<DailyRecord>,
}

/// Longest range of days one stats request covers.
pub const MAX_STATS_DAYS: i64 = 366;

/// The serial number and pass type named in a device's log line, if it names them. Wallet's
/// lines read like `Get pass task (pass type pass.com.example, serial number ABC123, …)`.
pub fn serial_in_log(message: &str) -> Option<(String, String)> {
    fn after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
        let start = text.find(label)? + label.len();
        let value: &str = text[start..]
            .trim_start()
            .split([',', ';', ')', '(', ' ', '\n', '\t', '"', '\''])
            .next()?;
        (!value.is_empty()).then_some(value)
    }
    let serial = after(message, "serial number")?;
    let pass_type = after(message, "pass type")?;
    Some((pass_type.to_string(), serial.to_string()))
}

impl Domain {
    /// Up to `limit` entries of a pass's timeline older than position `before`, newest first.
    pub async fn timeline(
        &self,
        id: &PassId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<TimelineRecord>, DomainError> {
        // 404 for a pass that isn't there (an empty list would hide a wrong id).
        self.pass(id).await?;
        Ok(self.store.list_timeline(id.as_str(), before, limit).await?)
    }

    /// A template's totals and its days from `from` to `to` (UTC, inclusive; the caller keeps
    /// it to [`MAX_STATS_DAYS`]), each day present (none when `from` is after `to`).
    pub async fn template_stats(
        &self,
        id: &TemplateId,
        from: time::Date,
        to: time::Date,
    ) -> Result<TemplateStats, DomainError> {
        let totals = self
            .store
            .template_totals(id.as_str())
            .await?
            .ok_or(DomainError::NotFound(super::Missing::Template))?;
        let stored = self
            .store
            .template_days(id.as_str(), &day_text(from), &day_text(to))
            .await?;
        let mut stored = stored.into_iter().peekable();
        let mut daily = Vec::new();
        let mut day = from;
        while day <= to {
            let text = day_text(day);
            match stored.peek() {
                Some(row) if row.day == text => daily.extend(stored.next()),
                _ => daily.push(DailyRecord {
                    day: text,
                    ..Default::default()
                }),
            }
            let Some(next) = day.next_day() else { break };
            day = next;
        }
        Ok(TemplateStats { totals, daily })
    }

    /// Every template's certificate expiry (Unix seconds), for `/metrics`.
    pub async fn certificate_expiries(&self) -> Result<Vec<(String, i64)>, DomainError> {
        Ok(self.store.certificate_expiries().await?)
    }

    /// Notes a device fetching a pass (`status` 200 or 304).
    pub fn note_fetch(&self, pass_id: &str, status: u16, if_modified_since: Option<i64>) {
        let mut detail = json!({ "status": status });
        if let Some(since) = if_modified_since {
            detail["ifModifiedSince"] = json!(since);
        }
        self.insight.note(TimelineNote {
            pass: PassKey::Id(pass_id.to_string()),
            at: now_millis(),
            kind: "fetched",
            detail: detail.to_string(),
            download: false,
        });
    }

    /// Notes a device asking for its changed serials: each pass it was told about gets an entry
    /// (with the tag it asked from and the one it got).
    pub fn note_serials(
        &self,
        device: &str,
        pass_type: &str,
        since: Option<i64>,
        serials: &[String],
        last_updated: i64,
    ) {
        let at = now_millis();
        let detail = json!({
            "deviceLibraryIdentifier": device,
            "passesUpdatedSince": since.map(|s| s.to_string()),
            "lastUpdated": last_updated.to_string(),
        })
        .to_string();
        for serial in serials.iter().take(MAX_SERIALS_NOTED) {
            self.insight.note(TimelineNote {
                pass: PassKey::Serial {
                    pass_type: pass_type.to_string(),
                    serial: serial.clone(),
                },
                at,
                kind: "serials",
                detail: detail.clone(),
                download: false,
            });
        }
    }

    /// Notes a download of a pass's `.pkpass` (`via`: `api`, `share`), counted in its
    /// template's day.
    pub fn note_download(&self, pass_id: &str, via: &'static str) {
        self.insight.note(TimelineNote {
            pass: PassKey::Id(pass_id.to_string()),
            at: now_millis(),
            kind: "downloaded",
            detail: json!({ "via": via }).to_string(),
            download: true,
        });
    }

    /// Notes the device log lines that name a pass (by pass type and serial number).
    pub(crate) fn note_device_logs(&self, messages: &[String]) {
        let at = now_millis();
        for message in messages {
            if let Some((pass_type, serial)) = serial_in_log(message) {
                self.insight.note(TimelineNote {
                    pass: PassKey::Serial { pass_type, serial },
                    at,
                    kind: "log",
                    detail: json!({ "message": message }).to_string(),
                    download: false,
                });
            }
        }
    }
}

impl Domain {
    /// The ids of the passes with serial number `serial` (any pass type).
    pub async fn find_passes_by_serial(&self, serial: &str) -> Result<Vec<String>, DomainError> {
        Ok(self.store.find_passes_by_serial(serial).await?)
    }

    /// The newest `limit` passes, newest first.
    pub async fn latest_passes(&self, limit: i64) -> Result<Vec<crate::store::PassRecord>, DomainError> {
        Ok(self.store.latest_passes(None, limit).await?)
    }

    /// The newest `limit` passes of a template, newest first.
    pub async fn latest_passes_of(
        &self,
        template: &TemplateId,
        limit: i64,
    ) -> Result<Vec<crate::store::PassRecord>, DomainError> {
        Ok(self.store.latest_passes(Some(template.as_str()), limit).await?)
    }

    /// The devices registered for a pass.
    pub async fn pass_registrations(
        &self,
        id: &PassId,
    ) -> Result<Vec<crate::store::lookups::RegistrationRecord>, DomainError> {
        Ok(self.store.pass_registrations(id.as_str()).await?)
    }

    /// The push queue's depth, failures by reason and paused templates.
    pub async fn push_queue_summary(&self) -> Result<crate::store::lookups::PushQueueSummary, DomainError> {
        Ok(self.store.push_queue_summary().await?)
    }

    /// The .zip template `id` was uploaded with.
    pub async fn template_zip(&self, id: &TemplateId) -> Result<Option<Vec<u8>>, DomainError> {
        Ok(self.store.template_zip(id.as_str()).await?)
    }
}

/// `YYYY-MM-DD`.
pub fn day_text(day: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_pass_a_wallet_log_line_names() {
        let line = "[2026-12-04 01:02:03 +0000] Get pass task (pass type pass.com.example.ticket, \
                    serial number ABC-123, if-modified-since (null); with web service url \
                    https://x/passkit) encountered error: Server response was malformed";
        assert_eq!(
            serial_in_log(line),
            Some(("pass.com.example.ticket".into(), "ABC-123".into()))
        );
        assert_eq!(serial_in_log("Register task failed: no serial here"), None);
    }

    #[test]
    fn days_parse_and_print_as_iso_dates() {
        let day = parse_day("2026-02-28").unwrap();
        assert_eq!(day_text(day.next_day().unwrap()), "2026-03-01");
        assert!(parse_day("2026-2-28").is_none());
        assert!(parse_day("2026-02-30").is_none());
        assert!(parse_day("yesterday").is_none());
    }
}
