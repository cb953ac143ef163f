//! The Google worker: claim → map and write (a few at a time) → record, like the push worker.
//!
//! * Classes are written with `update_class` (PUT, a 404 becomes an insert), objects with
//!   `update_object` (PUT, a 404 becomes an insert; the insert's 404 means the class is missing,
//!   so the class is written first and the object again).
//! * `Retry` backs off (exponential with jitter, never sooner than Google's `Retry-After`);
//!   after `max_attempts` the sync is recorded as failed.
//! * `GiveUp` is recorded as failed (the row stays, parked, with Google's message, until the
//!   next change queues it again), with a `GOOGLE_WALLET_SYNC_FAIL` event.
//! * A refused service account (`PermissionDenied`, `CredentialsRefused`, `Unauthorized`) fails
//!   every write the same way: the worker hands its claims back untried and pauses, as the push
//!   worker does on an APNs 403, with one `GOOGLE_WALLET_SYNC_FAIL` event saying so.
//!
//! Events carry ids, counts and reasons only: never a key, a token, a payload value or Google's
//! message (which may quote a value).
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gwallet::{GiveUpReason, Outcome, RetryReason};
use serde_json::json;
use tokio::sync::watch;

use crate::domain::{Domain, DomainError};
use crate::metrics::Metrics;
use crate::store::google::{ClaimedSync, SyncKind, SyncResult};
use crate::store::now_millis;
use crate::worker::{Backoff, WorkerHandle};

/// Tuning. The defaults suit production; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct GoogleWorkerConfig {
    /// Rows claimed per query.
    pub batch_size: i64,
    /// Writes awaiting Google's answer at once.
    pub concurrency: usize,
    /// How long a claim holds; a sync whose worker died is sent again after it.
    pub lease: Duration,
    /// How often to look for work queued by other processes (and to refresh the gauges).
    pub poll_interval: Duration,
    pub backoff: Backoff,
    /// Attempts after which a sync failing with retryable errors is recorded as failed.
    pub max_attempts: i64,
    /// How long the worker waits after Google refused the service account before trying again.
    pub pause: Duration,
}

impl Default for GoogleWorkerConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            concurrency: 8,
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            backoff: Backoff::default(),
            max_attempts: 25,
            pause: Duration::from_secs(300),
        }
    }
}

struct Shared {
    domain: Domain,
    client: Arc<gwallet::Client>,
    metrics: Arc<Metrics>,
    config: GoogleWorkerConfig,
}

/// The Google Wallet sync worker. [`GoogleWorker::spawn`] starts it; [`WorkerHandle::shutdown`]
/// stops it (the writes in flight finish; everything else stays queued).
pub struct GoogleWorker {
    shared: Arc<Shared>,
}

impl GoogleWorker {
    pub fn new(
        domain: Domain,
        client: Arc<gwallet::Client>,
        metrics: Arc<Metrics>,
        config: GoogleWorkerConfig,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                domain,
                client,
                metrics,
                config,
            }),
        }
    }

    pub fn spawn(self) -> WorkerHandle {
        WorkerHandle::spawn("google", |stopped| run(self.shared, stopped))
    }
}

/// What one write came to.
enum Sent {
    Done,
    /// Nothing to send any more (the pass or template is gone).
    Gone,
    Retry {
        after: Option<Duration>,
        why: String,
    },
    GiveUp {
        reason: String,
        message: String,
    },
    /// The service account is refused: every write would fail the same way.
    Refused {
        reason: GiveUpReason,
        message: String,
    },
}

impl From<Outcome> for Sent {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Done => Self::Done,
            Outcome::Retry { reason, after } => Self::Retry {
                after,
                why: reason.to_string(),
            },
            Outcome::GiveUp { reason, message } => match reason {
                GiveUpReason::PermissionDenied
                | GiveUpReason::CredentialsRefused
                | GiveUpReason::Unauthorized => Self::Refused { reason, message },
                other => Self::GiveUp {
                    reason: other.to_string(),
                    message,
                },
            },
        }
    }
}

/// Resolves when a stop was asked for (or the handle is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let config = &shared.config;
    let store = shared.domain.events().store().clone();
    let wakeup = store.google_wakeup();
    let request_id = format!("google-{}", uuid::Uuid::new_v4());
    let mut last_gauge: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if last_gauge.is_none_or(|t| t.elapsed() >= config.poll_interval) {
            refresh_gauges(&shared).await;
            last_gauge = Some(Instant::now());
        }
        let lease_ms = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX / 4);
        let claimed = match store
            .claim_google_syncs(now_millis(), lease_ms, config.batch_size)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "cannot claim Google Wallet syncs; trying again shortly");
                tokio::select! {
                    () = tokio::time::sleep(config.poll_interval) => {}
                    () = stop_requested(&mut stop) => break,
                }
                continue;
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                () = wakeup.notified() => {}
                () = tokio::time::sleep(config.poll_interval) => {}
                () = stop_requested(&mut stop) => break,
            }
            continue;
        }
        // Classes first: an object's insert needs its class.
        let mut claimed = claimed;
        claimed.sort_by_key(|c| c.kind() != SyncKind::Class);
        let results: Vec<(ClaimedSync, Sent)> = futures_util::stream::iter(claimed)
            .map(|claim| {
                let shared = shared.clone();
                async move {
                    let sent = sync_one(&shared, &claim).await;
                    (claim, sent)
                }
            })
            .buffered(config.concurrency.max(1))
            .collect()
            .await;
        let paused = record(&shared, results, &request_id).await;
        refresh_gauges(&shared).await;
        last_gauge = Some(Instant::now());
        if paused {
            tokio::select! {
                () = tokio::time::sleep(config.pause) => {}
                () = stop_requested(&mut stop) => break,
            }
        }
    }
}

/// Maps and writes one class or object.
async fn sync_one(shared: &Shared, claim: &ClaimedSync) -> Sent {
    let domain = &shared.domain;
    let client = &shared.client;
    match claim.kind() {
        SyncKind::Class => match domain.google_template(&claim.target_id).await {
            Ok(None) => Sent::Gone,
            Ok(Some(mapped)) => client
                .update_class(mapped.google.kind(), mapped.google.class_json())
                .await
                .into(),
            Err(error) => internal(&error),
        },
        SyncKind::Object => match domain.google_object(&claim.target_id).await {
            Ok(None) => Sent::Gone,
            Ok(Some((mapped, object))) => {
                let kind = mapped.google.kind();
                let outcome = client.update_object(kind, &object.json).await;
                if let Outcome::Retry {
                    reason: RetryReason::ClassNotFound,
                    ..
                } = outcome
                {
                    // The class's own sync has not gone through (yet): write it now.
                    match client.update_class(kind, mapped.google.class_json()).await {
                        Outcome::Done => client.update_object(kind, &object.json).await.into(),
                        other => other.into(),
                    }
                } else {
                    outcome.into()
                }
            }
            // The pass no longer renders with its template (a placeholder the payload lacks).
            Err(DomainError::Invalid { message, .. }) => Sent::GiveUp {
                reason: "the pass does not render".into(),
                message,
            },
            Err(error) => internal(&error),
        },
    }
}

fn internal(error: &DomainError) -> Sent {
    tracing::warn!(%error, "cannot map a Google Wallet sync; trying again later");
    Sent::Retry {
        after: None,
        why: format!("passmint: {error}"),
    }
}

/// Ids of a sync for events: the template, and the pass for an object.
fn ids(claim: &ClaimedSync) -> serde_json::Value {
    match claim.kind() {
        SyncKind::Class => json!({ "kind": "class", "templateId": claim.template_id }),
        SyncKind::Object => json!({
            "kind": "object", "templateId": claim.template_id, "passId": claim.target_id,
        }),
    }
}

/// At most this many ids in one success event (the counts are always complete).
const EVENT_IDS: usize = 100;

/// Records a batch's results, its events and metrics; `true` if the service account was
/// refused (the worker should pause).
async fn record(shared: &Shared, results: Vec<(ClaimedSync, Sent)>, request_id: &str) -> bool {
    let config = &shared.config;
    let now = now_millis();
    let events = shared.domain.events();
    let mut rows = Vec::with_capacity(results.len());
    let mut new_events = Vec::new();
    let (mut classes, mut objects) = (Vec::new(), Vec::new());
    let mut refused: Option<(GiveUpReason, String)> = None;
    for (claim, sent) in results {
        let result = match sent {
            Sent::Done | Sent::Gone => {
                if matches!(sent, Sent::Done) {
                    shared.metrics.count_google_sync("done");
                    match claim.kind() {
                        SyncKind::Class => classes.push(claim.template_id.clone()),
                        SyncKind::Object => objects.push(claim.target_id.clone()),
                    }
                }
                SyncResult::Done
            }
            Sent::Retry { after, why } if claim.attempts + 1 < config.max_attempts => {
                shared.metrics.count_google_sync("retrying");
                let delay = config.backoff.delay(claim.attempts, after);
                tracing::info!(kind = claim.kind().as_str(), id = %claim.target_id, attempt = claim.attempts + 1, %why, "Google Wallet sync will be retried");
                SyncResult::Retry {
                    due_at: now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 4),
                    error: why,
                }
            }
            Sent::Retry { why, .. } => {
                shared.metrics.count_google_sync("failed");
                new_events.push(fail_event(&claim, "retries exhausted", request_id));
                SyncResult::Failed { error: why }
            }
            Sent::GiveUp { reason, message } => {
                shared.metrics.count_google_sync("failed");
                tracing::warn!(kind = claim.kind().as_str(), id = %claim.target_id, %reason, "Google Wallet refused a sync");
                new_events.push(fail_event(&claim, &reason, request_id));
                SyncResult::Failed {
                    error: format!("{reason}: {message}"),
                }
            }
            Sent::Refused { reason, message } => {
                shared.metrics.count_google_sync("paused");
                refused.get_or_insert((reason, message));
                SyncResult::Release {
                    due_at: now + i64::try_from(config.pause.as_millis()).unwrap_or(i64::MAX / 4),
                }
            }
        };
        rows.push((claim, result));
    }
    if let Some((reason, message)) = &refused {
        tracing::error!(
            %reason, %message,
            "Google Wallet refused the service account; syncs are paused (add the service account \
             as a user of the issuer in the Google Pay & Wallet Console, or check its key)"
        );
        let pause = config.pause.as_secs();
        new_events.push(crate::domain::events::new_event(
            "GOOGLE_WALLET_SYNC_FAIL",
            "google",
            request_id,
            json!({ "reason": reason.to_string(), "paused": true, "pauseSeconds": pause }),
        ));
    }
    if !classes.is_empty() || !objects.is_empty() {
        new_events.push(crate::domain::events::new_event(
            "GOOGLE_WALLET_SYNC_SUCCESS",
            "google",
            request_id,
            json!({
                "classes": classes.len(),
                "objects": objects.len(),
                "templateIds": classes.iter().take(EVENT_IDS).collect::<Vec<_>>(),
                "passIds": objects.iter().take(EVENT_IDS).collect::<Vec<_>>(),
            }),
        ));
    }
    let store = events.store();
    if let Err(error) = store.record_google_results(&rows, now).await {
        // The claims run out and the syncs are sent again: Google takes the same PUT twice.
        tracing::warn!(%error, "cannot record Google Wallet sync results; they will be sent again");
    }
    events.write(new_events).await;
    refused.is_some()
}

fn fail_event(claim: &ClaimedSync, reason: &str, request_id: &str) -> crate::store::NewEvent {
    let mut data = ids(claim);
    data["reason"] = json!(reason);
    data["attempts"] = json!(claim.attempts + 1);
    crate::domain::events::new_event("GOOGLE_WALLET_SYNC_FAIL", "google", request_id, data)
}

async fn refresh_gauges(shared: &Shared) {
    match shared.domain.events().store().google_queue().await {
        Ok(queue) => {
            let age = queue
                .oldest_created_at
                .map_or(0.0, |at| (now_millis() - at).max(0) as f64 / 1000.0);
            shared.metrics.set_google_queue(queue.depth, age, queue.failed);
        }
        Err(error) => tracing::debug!(%error, "cannot count the Google Wallet outbox"),
    }
}
