//! The delivery worker: claim (per webhook, leased) → send (each on its own task, bounded per
//! webhook and in all) → record in batches.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};

use super::signature::sign;
use crate::config::Settings;
use crate::domain::crypto::MasterKey;
use crate::metrics::Metrics;
// The push worker's backoff (exponential, jitter in the upper half): one rule for both outboxes.
use crate::store::webhooks::{AttemptOutcome, AttemptResult, ClaimedDelivery, EventBody};
use crate::store::{Store, now_millis};
use crate::worker::{Backoff, WorkerHandle};

/// Tuning. The defaults suit production; tests shorten the delays through the settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Deliveries in flight to one webhook at most: a slow receiver holds only its own slots.
    pub per_webhook: usize,
    /// Deliveries in flight in all.
    pub max_in_flight: usize,
    /// How long a claim holds (longer than `timeout`, so a live worker never loses one).
    pub lease: Duration,
    /// How often to look for due deliveries when there were none.
    pub poll_interval: Duration,
    /// How long a receiver has to answer (SPEC: 10 s).
    pub timeout: Duration,
    pub backoff: Backoff,
    /// How long a failing delivery is retried (SPEC: 3 days), then given up.
    pub retry_for: Duration,
    /// Delivery attempts kept in the log.
    pub keep_deliveries: i64,
    /// How often the certificate sweep runs (SPEC: daily), across restarts and servers.
    pub sweep_interval: Duration,
    /// Results recorded per transaction, at most.
    pub record_batch: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            per_webhook: 32,
            max_in_flight: 512,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
            timeout: Duration::from_secs(10),
            backoff: Backoff {
                base: Duration::from_secs(10),
                cap: Duration::from_secs(3600),
            },
            retry_for: Duration::from_secs(3 * 86_400),
            keep_deliveries: 100_000,
            sweep_interval: Duration::from_secs(86_400),
            record_batch: 500,
        }
    }
}

impl WebhookConfig {
    /// The defaults with the `PASSMINT_WEBHOOK_*` settings applied.
    pub fn from_settings(settings: &Settings) -> Self {
        let timeout = Duration::from_millis(settings.webhook_timeout_ms);
        Self {
            timeout,
            lease: (timeout * 6).max(Duration::from_secs(5)),
            backoff: Backoff {
                base: Duration::from_millis(settings.webhook_retry_base_ms),
                cap: Duration::from_secs(3600).max(Duration::from_millis(settings.webhook_retry_base_ms)),
            },
            retry_for: Duration::from_secs(settings.webhook_retry_for_seconds),
            sweep_interval: Duration::from_secs(settings.webhook_sweep_interval_seconds),
            ..Self::default()
        }
    }
}

/// A receiver as the worker knows it: where, and the unsealed secret.
#[derive(Clone)]
struct Target {
    url: Arc<str>,
    secret: Arc<Vec<u8>>,
}

/// The webhooks by id, in creation order.
type Targets = Vec<(String, Target)>;

struct Shared {
    store: Store,
    master_key: MasterKey,
    metrics: Arc<Metrics>,
    config: WebhookConfig,
    client: reqwest::Client,
    /// Unsealed secrets by webhook id (webhooks never change; a deleted one drops out).
    targets: Mutex<HashMap<String, Target>>,
    /// Deliveries in flight, by webhook id.
    in_flight: Mutex<HashMap<String, usize>>,
    /// Raised when a delivery finishes: a webhook that was at its limit has room again.
    freed: tokio::sync::Notify,
    /// The webhooks as last listed, and when.
    listed: Mutex<Option<(Instant, Targets)>>,
}

/// The webhook worker. [`WebhookWorker::spawn`] starts it; [`WorkerHandle::shutdown`] stops it.
pub struct WebhookWorker {
    shared: Arc<Shared>,
}

/// Why the worker could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl WebhookWorker {
    pub fn new(
        store: Store,
        master_key: MasterKey,
        metrics: Arc<Metrics>,
        config: WebhookConfig,
    ) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect is not a 2xx: the receiver's URL is what it registered.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("passmint-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(config.per_webhook)
            .build()?;
        Ok(Self {
            shared: Arc::new(Shared {
                store,
                master_key,
                metrics,
                config,
                client,
                targets: Mutex::default(),
                in_flight: Mutex::default(),
                freed: tokio::sync::Notify::new(),
                listed: Mutex::default(),
            }),
        })
    }

    /// Starts the worker on the current runtime.
    pub fn spawn(self) -> WorkerHandle {
        // On shutdown it stops claiming, lets the deliveries in flight finish (each within the
        // timeout) and records them; everything else stays queued for the next start.
        WorkerHandle::spawn("webhooks", |stopped| run(self.shared, stopped))
    }
}

/// A finished attempt on its way to the recorder.
struct Finished {
    claim: ClaimedDelivery,
    event_type: String,
    result: AttemptResult,
}

async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How often the queue gauges are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the worker asks whether the certificate sweep is due (at most).
const SWEEP_CHECK: Duration = Duration::from_secs(60);

async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let config = &shared.config;
    let slots = Arc::new(Semaphore::new(config.max_in_flight));
    let (finished_tx, finished_rx) = mpsc::channel::<Finished>(config.record_batch.max(1) * 2);
    let recorder = tokio::spawn(record(shared.clone(), finished_rx));
    let mut last_gauge: Option<Instant> = None;
    let mut last_sweep_check: Option<Instant> = None;
    let sweep_check = SWEEP_CHECK.min(config.sweep_interval);
    loop {
        if *stop.borrow() {
            break;
        }
        if last_gauge.is_none_or(|t| t.elapsed() >= GAUGE_INTERVAL) {
            refresh_gauges(&shared).await;
            last_gauge = Some(Instant::now());
        }
        if last_sweep_check.is_none_or(|t| t.elapsed() >= sweep_check) {
            sweep(&shared).await;
            last_sweep_check = Some(Instant::now());
        }
        let claimed = match claim_round(&shared, &slots, &finished_tx).await {
            Ok(n) => n,
            Err(error) => {
                tracing::warn!(%error, "cannot claim webhook deliveries; trying again shortly");
                0
            }
        };
        if claimed == 0 {
            // Nothing due, or no room: look again after the poll interval, or as soon as a
            // delivery in flight finishes (its webhook may have more waiting).
            tokio::select! {
                () = tokio::time::sleep(config.poll_interval) => {}
                () = shared.freed.notified() => {}
                () = stop_requested(&mut stop) => break,
            }
        } else {
            // Let the sends start before claiming more.
            tokio::task::yield_now().await;
        }
    }
    // Wait for every delivery in flight (each holds a slot until its result is queued).
    let all = u32::try_from(config.max_in_flight).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    drop(finished_tx);
    if let Err(error) = recorder.await {
        tracing::error!(%error, "webhook recorder ended abnormally");
    }
}

/// One pass over the webhooks: claims what each has room for and starts sending it. Returns
/// how many deliveries were claimed.
async fn claim_round(
    shared: &Arc<Shared>,
    slots: &Arc<Semaphore>,
    finished_tx: &mpsc::Sender<Finished>,
) -> Result<usize, crate::store::StoreError> {
    let config = &shared.config;
    let targets = current_targets(shared).await?;
    let lease_ms = millis(config.lease);
    let mut claimed = 0;
    for (webhook_id, target) in targets {
        let busy = lock(&shared.in_flight).get(&webhook_id).copied().unwrap_or(0);
        let room = config
            .per_webhook
            .saturating_sub(busy)
            .min(slots.available_permits());
        // Claim in chunks, not one row per finished delivery: a webhook with deliveries in
        // flight waits until a quarter of its slots are free.
        if room == 0 || (busy > 0 && room < config.per_webhook.div_ceil(4)) {
            continue;
        }
        let claims = shared
            .store
            .claim_deliveries(
                &webhook_id,
                now_millis(),
                lease_ms,
                i64::try_from(room).unwrap_or(1),
            )
            .await?;
        if claims.is_empty() {
            continue;
        }
        claimed += claims.len();
        let ids: Vec<String> = claims.iter().map(|c| c.event_id.clone()).collect();
        let bodies: HashMap<String, Arc<EventBody>> = shared
            .store
            .webhook_event_bodies(&ids)
            .await?
            .into_iter()
            .map(|b| (b.id.clone(), Arc::new(b)))
            .collect();
        for claim in claims {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                // Can't happen (room was bounded by the free slots); the lease brings it back.
                break;
            };
            *lock(&shared.in_flight).entry(webhook_id.clone()).or_default() += 1;
            let body = bodies.get(&claim.event_id).cloned();
            let (shared, target, finished_tx) = (shared.clone(), target.clone(), finished_tx.clone());
            tokio::spawn(async move {
                let webhook_id = claim.webhook_id.clone();
                let finished = deliver(&shared, claim, body, target).await;
                if let Some(n) = lock(&shared.in_flight).get_mut(&webhook_id) {
                    *n = n.saturating_sub(1);
                }
                let _ = finished_tx.send(finished).await;
                drop(permit);
                shared.freed.notify_one();
            });
        }
    }
    Ok(claimed)
}

/// How long the list of webhooks is used before it is read again (a new webhook's first
/// delivery waits at most this long; a deleted one's rows are gone with it).
const TARGETS_TTL: Duration = Duration::from_secs(1);

/// The webhooks, read again once [`TARGETS_TTL`] has passed.
async fn current_targets(shared: &Shared) -> Result<Targets, crate::store::StoreError> {
    {
        let cached = lock(&shared.listed);
        if let Some((at, targets)) = &*cached
            && at.elapsed() < TARGETS_TTL
        {
            return Ok(targets.clone());
        }
    }
    let targets = refresh_targets(shared).await?;
    *lock(&shared.listed) = Some((Instant::now(), targets.clone()));
    Ok(targets)
}

/// The current webhooks, with their secrets unsealed once each.
async fn refresh_targets(shared: &Shared) -> Result<Targets, crate::store::StoreError> {
    let rows = shared.store.webhook_targets().await?;
    let mut known = lock(&shared.targets);
    let mut out = Vec::with_capacity(rows.len());
    let mut keep = HashMap::new();
    for (id, url, sealed) in rows {
        let target = match known.get(&id) {
            Some(t) => t.clone(),
            None => match shared.master_key.open(&sealed, id.as_bytes()) {
                Ok(secret) => Target {
                    url: url.into(),
                    secret: Arc::new(secret),
                },
                Err(error) => {
                    tracing::error!(webhook_id = %id, %error, "cannot unseal the webhook's secret; its deliveries wait");
                    continue;
                }
            },
        };
        keep.insert(id.clone(), target.clone());
        out.push((id, target));
    }
    *known = keep;
    Ok(out)
}

/// Most of a receiver's answer that is read (to reuse the connection); the rest is dropped.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Sends one delivery and decides what to record.
async fn deliver(
    shared: &Shared,
    claim: ClaimedDelivery,
    body: Option<Arc<EventBody>>,
    target: Target,
) -> Finished {
    let config = &shared.config;
    let started = Instant::now();
    let Some(event) = body else {
        // Its body is gone (should not happen): nothing can be sent, ever.
        let result = AttemptResult {
            status: None,
            error: Some("the event's body is missing".into()),
            duration_ms: 0,
            at: now_millis(),
            outcome: AttemptOutcome::GaveUp,
        };
        return Finished {
            claim,
            event_type: String::new(),
            result,
        };
    };
    let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    let created_at =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(event.created_at) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    let payload = json!({
        "id": event.id,
        "type": event.event_type,
        "createdAt": created_at,
        "data": data,
    });
    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
    let (status, error) = match sign(&target.secret, now_millis() / 1000, &bytes) {
        Err(e) => (None, Some(format!("cannot sign: {e}"))),
        Ok(signature) => {
            let sent = shared
                .client
                .post(&*target.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("Passmint-Event-Id", &event.id)
                .header("Passmint-Signature", signature)
                .body(bytes)
                .send()
                .await;
            match sent {
                Ok(mut response) => {
                    let code = response.status();
                    let mut read = 0;
                    while read < MAX_ANSWER_BYTES {
                        match response.chunk().await {
                            Ok(Some(chunk)) => read += chunk.len(),
                            _ => break,
                        }
                    }
                    if code.is_success() {
                        (Some(i64::from(code.as_u16())), None)
                    } else {
                        (
                            Some(i64::from(code.as_u16())),
                            Some(format!("HTTP {}", code.as_u16())),
                        )
                    }
                }
                Err(e) if e.is_timeout() => (
                    None,
                    Some(format!("no answer within {} ms", config.timeout.as_millis())),
                ),
                Err(e) if e.is_connect() => (None, Some(format!("cannot connect: {}", e.without_url()))),
                Err(e) => (None, Some(e.without_url().to_string())),
            }
        }
    };
    let now = now_millis();
    let outcome = if error.is_none() {
        AttemptOutcome::Delivered
    } else {
        let give_up_at = claim.created_at + millis(config.retry_for);
        if now >= give_up_at {
            AttemptOutcome::GaveUp
        } else {
            let delay = config.backoff.delay(claim.attempts, None);
            AttemptOutcome::Retry {
                due_at: (now + millis(delay)).min(give_up_at),
            }
        }
    };
    let result = AttemptResult {
        status,
        error,
        duration_ms: millis(started.elapsed()),
        at: now,
        outcome,
    };
    Finished {
        claim,
        event_type: event.event_type.clone(),
        result,
    }
}

/// Records results in batches: whatever arrived within a few milliseconds, up to
/// `record_batch`, in one transaction.
async fn record(shared: Arc<Shared>, mut rx: mpsc::Receiver<Finished>) {
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
        flush(&shared, std::mem::take(&mut batch)).await;
    }
}

async fn flush(shared: &Shared, batch: Vec<Finished>) {
    let rows: Vec<(ClaimedDelivery, String, AttemptResult)> = batch
        .into_iter()
        .map(|f| (f.claim, f.event_type, f.result))
        .collect();
    // A failed write leaves the rows claimed: they are sent again when the lease runs out (at
    // least once, never lost).
    let mut attempt = 0;
    loop {
        match shared
            .store
            .record_deliveries(&rows, shared.config.keep_deliveries)
            .await
        {
            Ok(()) => break,
            Err(error) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(%error, attempt, "cannot record webhook deliveries; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot record webhook deliveries; the lease will bring them back");
                return;
            }
        }
    }
    for (claim, event_type, result) in &rows {
        let outcome = match result.outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry { .. } => "retrying",
            AttemptOutcome::GaveUp => "failed",
            AttemptOutcome::Release => continue,
        };
        shared.metrics.count_webhook_delivery(outcome);
        if result.outcome == AttemptOutcome::GaveUp {
            tracing::warn!(webhook_id = %claim.webhook_id, event_id = %claim.event_id, %event_type,
                error = result.error.as_deref().unwrap_or(""), "webhook delivery given up");
        }
    }
}

async fn refresh_gauges(shared: &Shared) {
    match shared.store.webhook_queue_stats().await {
        Ok((depth, oldest)) => {
            let age = oldest.map_or(0.0, |at| (now_millis() - at).max(0) as f64 / 1000.0);
            shared.metrics.set_webhook_queue(depth, age);
        }
        Err(error) => tracing::warn!(%error, "cannot count queued webhook deliveries"),
    }
}

/// Runs the certificate sweep if its turn has come (once per interval, whichever server
/// takes it).
async fn sweep(shared: &Shared) {
    let now = now_millis();
    match shared
        .store
        .take_job_turn("certificate-sweep", millis(shared.config.sweep_interval), now)
        .await
    {
        Ok(true) => match shared.store.sweep_certificates(now).await {
            Ok(n) if n > 0 => tracing::info!(warnings = n, "certificate expiry warnings queued"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "certificate sweep failed; it runs again next interval"),
        },
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "cannot take the certificate sweep's turn"),
    }
}
