//! Events (SPEC 2.3): every management operation records `…_START`, then `…_SUCCESS` or
//! `…_FAIL`; kept in the database (capped), logged, and counted in the metrics.
//!
//! Event data is built only from ids, counts, error codes and parameter names, never from
//! request bodies, so no secret can reach an event.
use std::sync::Arc;

use serde_json::{Value, json};

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

    pub const PASS_CREATE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_CREATE");
    pub const PASS_RETRIEVE_LIST: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_RETRIEVE_LIST");
    pub const PASS_RETRIEVE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_RETRIEVE");
    pub const PASS_UPDATE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_UPDATE");
    pub const PASS_DELETE: Self = Self::pass("CREDENTIAL_COMPACT_APPLE_PASS_DELETE");

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

/// Records events into the store (pruned to `keep`), the log and the metrics.
#[derive(Debug, Clone)]
pub struct Events {
    store: Store,
    metrics: Arc<Metrics>,
    keep: i64,
}

impl Events {
    pub fn new(store: Store, metrics: Arc<Metrics>, keep: i64) -> Self {
        Self { store, metrics, keep }
    }

    /// Records `op` at `phase`.
    pub async fn operation(&self, op: Operation, phase: Phase, request_id: &str, data: Value) {
        let event_type = format!("{}_{}", op.prefix, phase.suffix());
        self.record(&event_type, op.category, request_id, data).await;
    }

    /// Records one event. Best effort: if the database is down the request fails on its own
    /// (503), so a lost event is only logged here.
    pub async fn record(&self, event_type: &str, category: &str, request_id: &str, data: Value) {
        tracing::info!(event = event_type, request_id, data = %data, "event");
        self.metrics.count_event(event_type);
        let event = NewEvent {
            id: uuid::Uuid::new_v4().to_string(),
            event_type: event_type.to_string(),
            category: category.to_string(),
            timestamp: now_millis(),
            request_id: request_id.to_string(),
            data: data.to_string(),
        };
        if let Err(error) = self.store.insert_event(&event, self.keep).await {
            tracing::warn!(event = event_type, %error, "event not stored");
        }
    }
}

/// Event data for a failure: the error code and which parameters were at fault (never values).
pub fn failure_data(error: &crate::api::error::ApiError, mut data: Value) -> Value {
    let params: Vec<&str> = error.details.iter().map(|d| d.param.as_str()).collect();
    if let Value::Object(map) = &mut data {
        map.insert("code".into(), json!(error.code()));
        map.insert("status".into(), json!(error.status.as_u16()));
        if !params.is_empty() {
            map.insert("params".into(), json!(params));
        }
    }
    data
}
