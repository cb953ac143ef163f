//! Events (SPEC 2.3): every management operation records `…_START`, then `…_SUCCESS` or
//! `…_FAIL`; the device side and the workers record what happened to passes. Events are kept in
//! the database (capped), logged, and counted in the metrics, all through [`Events`], the one
//! event writer.
//!
//! Event data is built only from ids, counts, error codes and parameter names, never from
//! request bodies, so no secret can reach an event.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use super::batcher::Batcher;
use crate::metrics::Metrics;
use crate::store::{NewEvent, Store, now_millis};

/// A family of events: `PREFIX_START`, `PREFIX_SUCCESS`, `PREFIX_FAIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub prefix: &'static str,
    pub category: &'static str,
}

impl Operation {
    pub const TEMPLATE_CREATE: Self = Self::template("CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_CREATE");
    pub const TEMPLATE_RETRIEVE_LIST: Self =
        Self::template("CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_RETRIEVE_LIST");
    pub const TEMPLATE_RETRIEVE: Self = Self::template("CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_RETRIEVE");
    pub const TEMPLATE_UPDATE: Self = Self::template("CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_UPDATE");
    pub const TEMPLATE_DELETE: Self = Self::template("CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_DELETE");
    /// The end of a rollout (SUCCESS or FAIL only: its start is the PUT's UPDATE event).
    pub const TEMPLATE_ROLLOUT: Self = Self::template("CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_ROLLOUT");
    pub const TEMPLATE_ROLLOUT_RETRIEVE: Self =
        Self::template("CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_ROLLOUT_RETRIEVE");

    pub const PASS_CREATE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_CREATE");
    pub const PASS_CREATE_BATCH: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_CREATE_BATCH");
    pub const PASS_RETRIEVE_LIST: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_RETRIEVE_LIST");
    pub const PASS_RETRIEVE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_RETRIEVE");
    pub const PASS_UPDATE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_UPDATE");
    pub const PASS_DELETE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_DELETE");
    pub const PASS_TIMELINE_RETRIEVE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_TIMELINE_RETRIEVE");
    pub const TEMPLATE_STATS_RETRIEVE: Self =
        Self::template("CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_STATS_RETRIEVE");
    /// A pass's share link replaced (SPEC 9).
    pub const PASS_SHARE_UPDATE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_SHARE_UPDATE");
    pub const BUNDLE_CREATE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_BUNDLE_CREATE");
    pub const BUNDLE_RETRIEVE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_BUNDLE_RETRIEVE");
    pub const BUNDLE_DELETE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_BUNDLE_DELETE");

    pub const WEBHOOK_CREATE: Self = Self::webhook("WEBHOOK_CREATE");
    pub const WEBHOOK_RETRIEVE_LIST: Self = Self::webhook("WEBHOOK_RETRIEVE_LIST");
    pub const WEBHOOK_RETRIEVE: Self = Self::webhook("WEBHOOK_RETRIEVE");
    pub const WEBHOOK_DELETE: Self = Self::webhook("WEBHOOK_DELETE");
    pub const WEBHOOK_DELIVERY_RETRIEVE_LIST: Self = Self::webhook("WEBHOOK_DELIVERY_RETRIEVE_LIST");

    const fn webhook(prefix: &'static str) -> Self {
        Self {
            prefix,
            category: "webhook",
        }
    }

    const fn pass(prefix: &'static str) -> Self {
        Self {
            prefix,
            category: "pass",
        }
    }

    const fn template(prefix: &'static str) -> Self {
        Self {
            prefix,
            category: "template",
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Start,
    Success,
    Fail,
}

impl Phase {
    fn suffix(self) -> &'static str {
        match self {
            Self::Start => "START",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
        }
    }
}

/// One management operation's audit trail in the making: its `…_START` is stamped when the
/// operation begins, and written together with its outcome, either by the domain inside the
/// transaction of the change (so a stored pass and its events commit together) or, for every
/// other operation, by [`Events::finish`].
#[derive(Debug)]
pub struct Audit {
    op: Operation,
    request_id: Arc<str>,
    started_at: i64,
    written: AtomicBool,
}

impl Audit {
    pub fn begin(op: Operation, request_id: Arc<str>) -> Self {
        Self {
            op,
            request_id,
            started_at: now_millis(),
            written: AtomicBool::new(false),
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    fn event(&self, phase: Phase, timestamp: i64, data: Value) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4().to_string(),
            event_type: format!("{}_{}", self.op.prefix, phase.suffix()),
            category: self.op.category.to_string(),
            timestamp,
            request_id: self.request_id.to_string(),
            data: data.to_string(),
        }
    }

    /// `…_START` and `…_SUCCESS` with `data`, for the domain to write with its change (then
    /// [`Audit::mark_written`] once committed).
    pub fn success_events(&self, data: Value) -> [NewEvent; 2] {
        [
            self.event(Phase::Start, self.started_at, json!({})),
            self.event(Phase::Success, now_millis(), data),
        ]
    }

    /// The domain committed this audit's events with its change.
    pub fn mark_written(&self) {
        self.written.store(true, Ordering::Release);
    }

    /// Whether the domain already wrote this audit's events with its change.
    pub fn written(&self) -> bool {
        self.written.load(Ordering::Acquire)
    }
}

/// Events written per batch by the event writer.
const MAX_BATCH: usize = 256;

/// Records events into the store (pruned to `keep`), the log and the metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    store: Store,
    metrics: Arc<Metrics>,
    keep: i64,
    /// Group commit: concurrent requests' events go in one transaction.
    writer: Batcher<Vec<NewEvent>, bool>,
}

impl Events {
    /// Starts the event writer on the current tokio runtime.
    pub fn start(store: Store, metrics: Arc<Metrics>, keep: i64) -> Self {
        let writer_store = store.clone();
        let writer = Batcher::start(MAX_BATCH, 4096, move |jobs: Vec<Vec<NewEvent>>| {
            let store = writer_store.clone();
            async move {
                let all: Vec<NewEvent> = jobs.iter().flatten().cloned().collect();
                let stored = match store.insert_events(&all, keep).await {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::warn!(%error, count = all.len(), "events not stored");
                        false
                    }
                };
                vec![stored; jobs.len()]
            }
        });
        Self {
            store,
            metrics,
            keep,
            writer,
        }
    }

    /// How many events are kept.
    pub fn keep(&self) -> i64 {
        self.keep
    }

    /// Logs and counts events once they are stored (whoever stored them).
    pub fn committed(&self, events: &[NewEvent]) {
        for event in events {
            // Device-side data holds what devices sent: escaped, so it can't forge a line.
            tracing::info!(
                event = %event.event_type,
                request_id = %event.request_id,
                data = %crate::logtext::escape_json(&event.data),
                "event"
            );
            self.metrics.count_event(&event.event_type);
        }
    }

    /// Stores events (group-committed with other requests'), then logs and counts them. Best
    /// effort: if the database is down the request fails on its own (503), so a lost event is
    /// only logged.
    pub async fn write(&self, events: Vec<NewEvent>) {
        if events.is_empty() {
            return;
        }
        let stored = self.writer.submit(events.clone()).await;
        if stored != Some(true) {
            tracing::warn!(count = events.len(), "events not stored");
        }
        self.committed(&events);
    }

    /// Records one event.
    pub async fn record(&self, event_type: &str, category: &str, request_id: &str, data: Value) {
        self.write(vec![new_event(event_type, category, request_id, data)])
            .await;
    }

    /// Writes `audit`'s `…_START` and its outcome, unless the domain already wrote them with
    /// its change: `Ok` → `…_SUCCESS` with `success`, `Err` → `…_FAIL` with `failure`.
    pub async fn finish(&self, audit: &Audit, outcome: Result<Value, Value>) {
        if audit.written() {
            return;
        }
        let (phase, data) = match outcome {
            Ok(data) => (Phase::Success, data),
            Err(data) => (Phase::Fail, data),
        };
        let start = audit.event(Phase::Start, audit.started_at, json!({}));
        let end = audit.event(phase, now_millis(), data);
        self.write(vec![start, end]).await;
    }

    /// The store the events go to (for the domain's in-transaction writes).
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// An event of `event_type`, stamped now, with a new id.
pub fn new_event(event_type: &str, category: &str, request_id: &str, data: Value) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::new_v4().to_string(),
        event_type: event_type.to_string(),
        category: category.to_string(),
        timestamp: now_millis(),
        request_id: request_id.to_string(),
        data: data.to_string(),
    }
}

/// `op`'s `…_SUCCESS` (or `…_FAIL`) event, stamped now, for work that is not a request (a
/// rollout's end): written by whoever stores it, then reported through [`Events::committed`].
pub fn outcome_event(op: Operation, success: bool, request_id: &str, data: Value) -> NewEvent {
    let phase = if success { Phase::Success } else { Phase::Fail };
    new_event(
        &format!("{}_{}", op.prefix, phase.suffix()),
        op.category,
        request_id,
        data,
    )
}

/// Event data for a failure: the error's wire code and status, and which parameters were at
/// fault (never their values).
pub fn failure_data(code: &str, status: u16, params: &[&str]) -> Value {
    let mut data = json!({ "code": code, "status": status });
    if !params.is_empty() {
        data["params"] = json!(params);
    }
    data
}
