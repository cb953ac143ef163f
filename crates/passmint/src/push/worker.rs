//! The outbox worker: claim → send (bounded in flight) → record in batches.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apns::{Credential, DeviceToken, Notification, Outcome};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::config::Settings;
use crate::domain::crypto::MasterKey;
use crate::metrics::Metrics;
use crate::store::insight::PushNote;
use crate::store::outbox::{ClaimedPush, PushResult};
use crate::store::{NewEvent, Store, StoreError, now_millis};
use crate::worker::{Backoff, WorkerHandle};

/// Why the worker could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("APNs endpoint: {0}")]
    Endpoint(#[from] apns::Error),
    #[error("cannot read PASSMINT_APNS_CA_FILE {path}: {source}")]
    CaFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The APNs endpoint from `PASSMINT_APNS_URL` and `PASSMINT_APNS_CA_FILE`.
pub fn endpoint_from_settings(settings: &Settings) -> Result<apns::Endpoint, PushError> {
    let mut endpoint = apns::Endpoint::new(&settings.apns_url)?;
    if let Some(path) = &settings.apns_ca_file {
        let pem = std::fs::read(path).map_err(|source| PushError::CaFile {
            path: path.clone(),
            source,
        })?;
        endpoint = endpoint.with_extra_roots_pem(&pem)?;
    }
    Ok(endpoint)
}

/// Tuning. The defaults suit production; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Rows claimed per query.
    pub batch_size: i64,
    /// Pushes awaiting APNs's answer at once (across all connections).
    pub max_in_flight: usize,
    /// How long a claim holds; a push whose worker died is sent again after it.
    pub lease: Duration,
    /// How often to look for work queued by other processes (and to refresh the gauges).
    pub poll_interval: Duration,
    pub backoff: Backoff,
    /// Attempts after which a push failing with retryable errors is dropped (with an event).
    pub max_attempts: i64,
    /// Results recorded per database transaction, at most.
    pub record_batch: usize,
    /// Events kept in the database (as `PASSMINT_MAX_EVENTS`).
    pub keep_events: i64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_in_flight: 2000,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            backoff: Backoff::default(),
            max_attempts: 25,
            record_batch: 1000,
            keep_events: 10_000,
        }
    }
}

/// Everything the worker's tasks share.
struct Shared {
    store: Store,
    master_key: MasterKey,
    apns: apns::Pool,
    metrics: Arc<Metrics>,
    config: WorkerConfig,
    /// Pool keys (template id + certificate fingerprint) APNs refused: later sends in flight
    /// for them are released instead of tried.
    refused: Mutex<HashSet<String>>,
}

/// The push worker. [`PushWorker::spawn`] starts it; [`WorkerHandle::shutdown`] stops it.
pub struct PushWorker {
    shared: Arc<Shared>,
}

/// A sent (or skipped) push on its way to the recorder.
struct Finished {
    claim: ClaimedPush,
    result: PushResult,
    event: Option<NewEvent>,
    /// APNs refused this certificate: pause the template (certificate DER, APNs reason).
    pause: Option<(Vec<u8>, String)>,
    /// APNs accepted it (successes are reported in one event per recorded batch).
    delivered: bool,
}

/// The client to send a template's pushes with, for one claimed batch.
#[derive(Clone)]
struct Sender {
    key: String,
    client: apns::Client,
    cert_der: Arc<Vec<u8>>,
}

impl PushWorker {
    pub fn new(
        store: Store,
        master_key: MasterKey,
        endpoint: apns::Endpoint,
        metrics: Arc<Metrics>,
        config: WorkerConfig,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                master_key,
                apns: apns::Pool::new(endpoint),
                metrics,
                config,
                refused: Mutex::default(),
            }),
        }
    }

    /// Starts the worker on the current runtime.
    pub fn spawn(self) -> WorkerHandle {
        // On shutdown it stops claiming, waits for the pushes in flight, records their results
        // and releases the claims not yet sent (everything else stays queued).
        WorkerHandle::spawn("push", |stopped| run(self.shared, stopped))
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
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let (finished_tx, finished_rx) = mpsc::channel::<Finished>(config.record_batch.max(1) * 2);
    let batch_id = uuid::Uuid::new_v4().to_string();
    let request_id: Arc<str> = format!("push-{batch_id}").into();
    let recorder = tokio::spawn(record(shared.clone(), finished_rx, request_id.clone()));
    let wakeup = shared.store.push_wakeup();
    let mut last_housekeeping: Option<Instant> = None;
    let mut last_count: Option<Instant> = None;

    'claiming: loop {
        if *stop.borrow() {
            break;
        }
        if last_housekeeping.is_none_or(|t| t.elapsed() >= config.poll_interval) {
            // Counting a large outbox is not free (PostgreSQL scans it): refresh the gauge less
            // often than the pauses.
            let count = last_count.is_none_or(|t| t.elapsed() >= QUEUE_GAUGE_INTERVAL);
            housekeeping(&shared, &request_id, count).await;
            last_housekeeping = Some(Instant::now());
            if count {
                last_count = last_housekeeping;
            }
        }
        let now = now_millis();
        let lease_ms = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX / 4);
        let claimed = match shared.store.claim_pushes(now, lease_ms, config.batch_size).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "cannot claim pushes; trying again shortly");
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
        let senders = resolve_senders(&shared, &claimed).await;
        let mut pending = claimed.into_iter();
        while let Some(claim) = pending.next() {
            let permit = tokio::select! {
                biased;
                () = stop_requested(&mut stop) => None,
                permit = in_flight.clone().acquire_owned() => permit.ok(),
            };
            let Some(permit) = permit else {
                // Stopping: hand back this claim and the rest of the batch.
                for claim in std::iter::once(claim).chain(pending) {
                    let _ = finished_tx
                        .send(Finished {
                            claim,
                            result: PushResult::Release,
                            event: None,
                            pause: None,
                            delivered: false,
                        })
                        .await;
                }
                break 'claiming;
            };
            let sender = senders.get(&claim.template_id).cloned();
            let shared = shared.clone();
            let finished_tx = finished_tx.clone();
            let request_id = request_id.clone();
            tokio::spawn(async move {
                let finished = send_one(&shared, claim, sender, &request_id).await;
                let _ = finished_tx.send(finished).await;
                drop(permit);
            });
        }
    }
    // Wait for every push in flight (each holds a permit until its result is queued).
    let all = u32::try_from(config.max_in_flight).unwrap_or(u32::MAX);
    let _ = in_flight.acquire_many(all).await;
    drop(finished_tx);
    if let Err(error) = recorder.await {
        tracing::error!(%error, "push recorder ended abnormally");
    }
}

/// Lifts pauses whose template got new signing material, re-parks pushes of paused templates,
/// and refreshes the queue gauge.
async fn housekeeping(shared: &Shared, request_id: &str, count: bool) {
    match shared.store.refresh_push_pauses(now_millis()).await {
        Ok(resumed) => {
            let events: Vec<NewEvent> = resumed
                .iter()
                .map(|id| {
                    tracing::info!(template_id = %id, "template has new signing material; its pushes resume");
                    push_event("APNS_PUSH_RESUMED", request_id, json!({ "templateId": id }))
                })
                .collect();
            record_events(shared, &events).await;
        }
        Err(error) => tracing::warn!(%error, "cannot refresh push pauses"),
    }
    if count {
        match shared.store.push_queue_depth().await {
            Ok(depth) => shared.metrics.set_push_queue_depth(depth),
            Err(error) => tracing::warn!(%error, "cannot count queued pushes"),
        }
    }
}

/// The sender for each template in the batch: the pool's client for its current certificate,
/// made (key unsealed) only when the certificate is new. A template that is gone or whose
/// material does not load has no entry.
async fn resolve_senders(shared: &Shared, claimed: &[ClaimedPush]) -> HashMap<String, Sender> {
    let mut senders = HashMap::new();
    let mut seen = HashSet::new();
    for claim in claimed {
        if !seen.insert(claim.template_id.as_str()) {
            continue;
        }
        match sender_for(shared, &claim.template_id).await {
            Ok(Some(sender)) => {
                senders.insert(claim.template_id.clone(), sender);
            }
            Ok(None) => {}
            Err(problem) => {
                tracing::warn!(template_id = %claim.template_id, %problem, "no APNs client for template");
            }
        }
    }
    senders
}

async fn sender_for(shared: &Shared, template_id: &str) -> Result<Option<Sender>, String> {
    let Some(cert_der) = shared
        .store
        .template_signer_cert(template_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        // The template is gone: so is any use for its connection.
        let prefix = format!("{template_id}:");
        shared.apns.retain(|k| !k.starts_with(&prefix));
        return Ok(None);
    };
    let key = format!("{template_id}:{}", hex::encode(Sha256::digest(&cert_der)));
    let cert_der = Arc::new(cert_der);
    if let Some(client) = shared.apns.get(&key) {
        return Ok(Some(Sender {
            key,
            client,
            cert_der,
        }));
    }
    let Some(material) = shared
        .store
        .get_template_material(template_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let pkcs8 = shared
        .master_key
        .open(&material.signer_key_sealed, template_id.as_bytes())
        .map_err(|e| format!("cannot unseal the signing key: {e}"))?;
    let credential = Credential::from_der(
        vec![material.signer_cert_der.clone(), material.wwdr_der.clone()],
        pkcs8,
    )
    .map_err(|e| e.to_string())?;
    // The template's previous certificate (if any) is done with.
    let prefix = format!("{template_id}:");
    shared.apns.retain(|k| !k.starts_with(&prefix));
    let client = shared.apns.insert(&key, &credential).map_err(|e| e.to_string())?;
    Ok(Some(Sender {
        key,
        client,
        cert_der: Arc::new(material.signer_cert_der),
    }))
}

/// How often the queue depth gauge is refreshed.
const QUEUE_GAUGE_INTERVAL: Duration = Duration::from_secs(10);

/// Token prefixes listed in one success event, at most.
const SUCCESS_PREFIXES: usize = 20;

fn token_prefix(token: &str) -> String {
    let prefix: String = token.chars().take(8).collect();
    format!("{prefix}…")
}

fn push_event(event_type: &str, request_id: &str, data: serde_json::Value) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::new_v4().to_string(),
        event_type: event_type.to_string(),
        category: "push".to_string(),
        timestamp: now_millis(),
        request_id: request_id.to_string(),
        data: data.to_string(),
    }
}

/// Sends one claimed push and decides what to record.
async fn send_one(shared: &Shared, claim: ClaimedPush, sender: Option<Sender>, request_id: &str) -> Finished {
    let base = json!({
        "tokenPrefix": token_prefix(&claim.push_token),
        "passTypeIdentifier": claim.pass_type_identifier,
        "templateId": claim.template_id,
        "attempt": claim.attempts + 1,
    });
    let fail = |reason: &str, status: Option<u16>, retrying: bool, data: &serde_json::Value| {
        let mut data = data.clone();
        data["reason"] = json!(reason);
        data["retrying"] = json!(retrying);
        if let Some(status) = status {
            data["status"] = json!(status);
        }
        Some(push_event("APNS_PUSH_FAIL", request_id, data))
    };
    let Some(sender) = sender else {
        // The template is gone (its rows cascade away) or its material no longer loads: try
        // again later rather than spin.
        let delay = shared.config.backoff.delay(claim.attempts, None);
        let due_at = now_millis() + millis(delay);
        shared.metrics.count_push_failure("NoCredential");
        let event = fail("NoCredential", None, true, &base);
        return Finished {
            claim,
            result: PushResult::Retry {
                due_at,
                error: "no usable signing material".into(),
            },
            event,
            pause: None,
            delivered: false,
        };
    };
    if refused(shared, &sender.key) {
        return Finished {
            claim,
            result: PushResult::Release,
            event: None,
            pause: None,
            delivered: false,
        };
    }
    let (token, notification) = match (
        DeviceToken::parse(&claim.push_token),
        Notification::wallet(&claim.pass_type_identifier),
    ) {
        (Ok(token), Ok(notification)) => (token, notification),
        (Err(problem), _) | (_, Err(problem)) => {
            shared.metrics.count_push_failure("BadDeviceToken");
            let event = fail("BadDeviceToken", None, false, &base);
            tracing::debug!(%problem, "unusable push token");
            return Finished {
                claim,
                result: PushResult::RemoveRegistrations {
                    not_after_ms: now_millis(),
                },
                event,
                pause: None,
                delivered: false,
            };
        }
    };
    let started = Instant::now();
    let outcome = sender.client.send(&token, &notification).await;
    shared.metrics.observe_push_latency(started.elapsed());
    let now = now_millis();
    let delivered = matches!(outcome, Outcome::Delivered { .. });
    let (result, event, pause) = match outcome {
        Outcome::Delivered { .. } => {
            shared.metrics.count_push_sent();
            (PushResult::Done, None, None)
        }
        Outcome::Retry { reason, retry_after } => {
            let (label, status) = match &reason {
                apns::RetryReason::Apns { status, reason } => (reason.to_string(), Some(*status)),
                apns::RetryReason::Timeout => ("Timeout".to_string(), None),
                apns::RetryReason::Connection(_) => ("ConnectionError".to_string(), None),
            };
            shared.metrics.count_push_failure(&label);
            if claim.attempts + 1 >= shared.config.max_attempts {
                let event = fail(&label, status, false, &base);
                (PushResult::Done, event, None)
            } else {
                let delay = shared.config.backoff.delay(claim.attempts, retry_after);
                let event = fail(&label, status, true, &base);
                let error = reason.to_string();
                let due_at = now + millis(delay);
                (PushResult::Retry { due_at, error }, event, None)
            }
        }
        Outcome::Unregistered { reason, timestamp } => {
            shared.metrics.count_push_failure(&reason.to_string());
            let event = fail(&reason.to_string(), Some(410), false, &base);
            let not_after_ms = timestamp.unwrap_or(now);
            (PushResult::RemoveRegistrations { not_after_ms }, event, None)
        }
        Outcome::BadToken { reason } => {
            shared.metrics.count_push_failure(&reason.to_string());
            let event = fail(&reason.to_string(), Some(400), false, &base);
            (PushResult::RemoveRegistrations { not_after_ms: now }, event, None)
        }
        Outcome::CredentialRejected { reason } => {
            shared.metrics.count_push_failure(&reason.to_string());
            mark_refused(shared, &sender.key);
            let event = fail(&reason.to_string(), Some(403), false, &base);
            let pause = Some(((*sender.cert_der).clone(), reason.to_string()));
            (PushResult::Release, event, pause)
        }
        Outcome::Rejected { status, reason } => {
            shared.metrics.count_push_failure(&reason.to_string());
            let event = fail(&reason.to_string(), Some(status), false, &base);
            (PushResult::Done, event, None)
        }
    };
    Finished {
        claim,
        result,
        event,
        pause,
        delivered,
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn refused(shared: &Shared, key: &str) -> bool {
    shared
        .refused
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(key)
}

fn mark_refused(shared: &Shared, key: &str) {
    shared
        .refused
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(key.to_string());
}

/// Records results in batches: whatever arrived within a few milliseconds, up to
/// `record_batch`, in one transaction.
async fn record(shared: Arc<Shared>, mut rx: mpsc::Receiver<Finished>, request_id: Arc<str>) {
    let limit = shared.config.record_batch.max(1);
    let mut batch: Vec<Finished> = Vec::with_capacity(limit);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let window = tokio::time::sleep(Duration::from_millis(5));
        tokio::pin!(window);
        while batch.len() < limit {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(next) => batch.push(next),
                    None => break,
                },
                () = &mut window => break,
            }
        }
        flush(&shared, std::mem::take(&mut batch), &request_id).await;
    }
}

async fn flush(shared: &Shared, batch: Vec<Finished>, request_id: &str) {
    let now = now_millis();
    let mut events = Vec::with_capacity(batch.len());
    let mut results = Vec::with_capacity(batch.len());
    let mut notes = Vec::with_capacity(batch.len());
    // Successes: one event per template and pass type per recorded batch (a fan-out to 100,000
    // devices would otherwise write 100,000 event rows, only to prune most of them).
    let mut delivered: BTreeMap<(String, String), (u64, Vec<String>)> = BTreeMap::new();
    for finished in batch {
        if finished.delivered {
            let entry = delivered
                .entry((
                    finished.claim.template_id.clone(),
                    finished.claim.pass_type_identifier.clone(),
                ))
                .or_default();
            entry.0 += 1;
            if entry.1.len() < SUCCESS_PREFIXES {
                entry.1.push(token_prefix(&finished.claim.push_token));
            }
        }
        if let Some((cert_der, reason)) = &finished.pause {
            let template_id = &finished.claim.template_id;
            match shared
                .store
                .pause_template_pushes(template_id, cert_der, reason, now)
                .await
            {
                Ok(true) => {
                    tracing::warn!(template_id = %template_id, %reason,
                        "APNs refused the template's certificate; its pushes are paused until it is replaced");
                    events.push(push_event(
                        "APNS_PUSH_PAUSED",
                        request_id,
                        json!({ "templateId": template_id, "reason": reason }),
                    ));
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot record a push pause"),
            }
        }
        notes.push(push_note(&finished));
        events.extend(finished.event);
        results.push((finished.claim, finished.result));
    }
    for ((template_id, pass_type_identifier), (count, prefixes)) in delivered {
        events.push(push_event(
            "APNS_PUSH_SUCCESS",
            request_id,
            json!({
                "templateId": template_id,
                "passTypeIdentifier": pass_type_identifier,
                "count": count,
                "tokenPrefixes": prefixes,
            }),
        ));
    }
    // A failed write leaves the rows claimed: they are sent again when the lease runs out
    // (at least once, never lost).
    let mut attempt = 0;
    loop {
        match shared.store.record_push_outcomes(&results, &notes, now).await {
            Ok(()) => break,
            Err(error) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(%error, attempt, "cannot record push results; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot record push results; the lease will bring them back");
                break;
            }
        }
    }
    record_events(shared, &events).await;
}

/// What a push came to, for the timelines of its token's passes: read off the failure event
/// (status, reason, whether it is retried), so the two always agree.
fn push_note(finished: &Finished) -> PushNote {
    let data: serde_json::Value = finished
        .event
        .as_ref()
        .and_then(|e| serde_json::from_str(&e.data).ok())
        .unwrap_or_default();
    PushNote {
        delivered: finished.delivered,
        status: data
            .get("status")
            .and_then(serde_json::Value::as_u64)
            .and_then(|s| u16::try_from(s).ok()),
        reason: data
            .get("reason")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string),
        final_failure: !finished.delivered && data.get("retrying") == Some(&serde_json::Value::Bool(false)),
    }
}

async fn record_events(shared: &Shared, events: &[NewEvent]) {
    for event in events {
        tracing::debug!(event = %event.event_type, data = %event.data, "event");
        shared.metrics.count_event(&event.event_type);
    }
    if let Err(error) = shared
        .store
        .insert_events(events, shared.config.keep_events)
        .await
    {
        log_store_error(&error);
    }
}

fn log_store_error(error: &StoreError) {
    tracing::warn!(%error, "push events not stored");
}
