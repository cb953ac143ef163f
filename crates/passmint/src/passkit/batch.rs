//! Group commit of device registrations: concurrent registrations are queued to one task
//! that writes them (and their `PASSKIT_DEVICE_REGISTER_SUCCESS` events) in one transaction
//! per batch. SQLite has a single writer and every commit appends the touched pages to the
//! WAL, so a thousand registrations a second as a thousand transactions spend their time
//! handing the write lock around and rewriting the same index pages; batched, they share
//! both. Each request still gets its own answer only after its batch has committed, so a 201
//! is never sent for a registration that isn't stored.
use std::sync::Arc;

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::PasskitError;
use crate::metrics::Metrics;
use crate::store::{NewEvent, NewRegistration, RegisterOutcome, Store, now_millis};

/// Most registrations written in one transaction.
const MAX_BATCH: usize = 256;
/// Registrations waiting beyond this make new ones wait for room (backpressure).
const QUEUE: usize = 4096;

struct Job {
    registration: NewRegistration,
    serial_number: String,
    request_id: String,
    reply: oneshot::Sender<Result<RegisterOutcome, PasskitError>>,
}

/// Handle to the registration writer task (cheap to clone; the task ends when every handle
/// is dropped).
#[derive(Debug, Clone)]
pub struct Registrar {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl Registrar {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Store, metrics: Arc<Metrics>, keep_events: i64, cap: i64) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx, store, metrics, keep_events, cap));
        Self { jobs }
    }

    /// Registers (or refreshes) one device; answers once its batch is committed.
    pub async fn register(
        &self,
        registration: NewRegistration,
        serial_number: String,
        request_id: &str,
    ) -> Result<RegisterOutcome, PasskitError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            registration,
            serial_number,
            request_id: request_id.to_string(),
            reply,
        };
        self.jobs.send(job).await.map_err(|_| PasskitError::Unavailable)?;
        answer.await.map_err(|_| PasskitError::Internal)?
    }
}

async fn run(mut rx: mpsc::Receiver<Job>, store: Store, metrics: Arc<Metrics>, keep: i64, cap: i64) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    // Each batch gets a distinct, increasing timestamp: `created_at == now` is how the store
    // tells a row this batch created from one it refreshed.
    let mut last_now = 0;
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let now = now_millis().max(last_now + 1);
        last_now = now;
        let batch: Vec<NewRegistration> = jobs.iter().map(|j| j.registration.clone()).collect();
        let event_for = |i: usize, outcome: RegisterOutcome| {
            let job = jobs.get(i)?;
            let r = &job.registration;
            (outcome != RegisterOutcome::TooMany).then(|| NewEvent {
                id: uuid::Uuid::new_v4().to_string(),
                event_type: "PASSKIT_DEVICE_REGISTER_SUCCESS".into(),
                category: "passkit".into(),
                timestamp: now_millis(),
                request_id: job.request_id.clone(),
                data: json!({
                    "passId": r.pass_id,
                    "passTypeIdentifier": r.pass_type_identifier,
                    "serialNumber": job.serial_number,
                    "created": outcome == RegisterOutcome::Created,
                })
                .to_string(),
            })
        };
        let result = store.register_devices(&batch, cap, event_for, keep, now).await;
        match result {
            Ok(outcomes) => {
                for (job, outcome) in jobs.drain(..).zip(outcomes) {
                    if outcome != RegisterOutcome::TooMany {
                        metrics.count_event("PASSKIT_DEVICE_REGISTER_SUCCESS");
                        tracing::info!(
                            event = "PASSKIT_DEVICE_REGISTER_SUCCESS",
                            request_id = job.request_id,
                            pass_id = job.registration.pass_id,
                            "event"
                        );
                    }
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                let error = PasskitError::from(error);
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
        }
    }
}
