//! The device side (Apple's PassKit web service, seen from the domain): finding a pass by what
//! a device names, registering and unregistering devices, listing a device's changed passes,
//! and keeping the logs devices send.
//!
//! Registrations are group-committed ([`Batcher`]): concurrent registrations are written with
//! their `PASSKIT_DEVICE_REGISTER_SUCCESS` events in one transaction per batch, and each
//! request gets its answer only after its batch has committed, so a 201 is never sent for a
//! registration that isn't stored.
use serde_json::{Value, json};

use super::error::DomainError;
use super::events::new_event;
use super::{Batcher, Domain};
use crate::store::{NewRegistration, PassHead, RegisterOutcome, Store, now_millis};

/// Most registrations written in one transaction.
const MAX_BATCH: usize = 256;
/// Registrations waiting beyond this make new ones wait for room (backpressure).
const QUEUE: usize = 4096;
/// Events of the device side are filed under this category.
const CATEGORY: &str = "passkit";

/// One device's registration for one pass, as a device asks for it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub device: String,
    pub pass_type_identifier: String,
    pub serial_number: String,
    pub push_token: String,
}

pub(crate) struct RegisterJob {
    registration: NewRegistration,
    serial_number: String,
    request_id: String,
}

pub(crate) type RegisterResult = Result<RegisterOutcome, DomainError>;

/// The registration writer: one transaction per batch, with the batch's events.
pub(crate) fn start_registrar(
    store: Store,
    cap: i64,
    keep_events: i64,
) -> Batcher<RegisterJob, RegisterResult> {
    // Each batch gets a distinct, increasing timestamp: `created_at == now` is how the store
    // tells a row this batch created from one it refreshed.
    let mut last_now = 0;
    Batcher::start(MAX_BATCH, QUEUE, move |jobs: Vec<RegisterJob>| {
        let store = store.clone();
        let now = now_millis().max(last_now + 1);
        last_now = now;
        async move {
            let batch: Vec<NewRegistration> = jobs.iter().map(|j| j.registration.clone()).collect();
            let event_for = |i: usize, outcome: RegisterOutcome| {
                let job = jobs.get(i)?;
                let r = &job.registration;
                matches!(outcome, RegisterOutcome::Created | RegisterOutcome::Refreshed).then(|| {
                    new_event(
                        "PASSKIT_DEVICE_REGISTER_SUCCESS",
                        CATEGORY,
                        &job.request_id,
                        json!({
                            "passId": r.pass_id,
                            "passTypeIdentifier": r.pass_type_identifier,
                            "serialNumber": job.serial_number,
                            "created": outcome == RegisterOutcome::Created,
                        }),
                    )
                })
            };
            match store
                .register_devices(&batch, cap, event_for, keep_events, now)
                .await
            {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(error) => vec![Err(DomainError::from(error)); jobs.len()],
            }
        }
    })
}

impl Domain {
    /// The pass a device names by (pass type, serial number), for the token check and the 304
    /// decision: no payload is read.
    pub async fn pass_head(&self, pass_type: &str, serial: &str) -> Result<Option<PassHead>, DomainError> {
        Ok(self.store.get_pass_head(pass_type, serial).await?)
    }

    /// Registers (or refreshes) a device for the pass `head`; answers once stored.
    pub async fn register_device(
        &self,
        head: &PassHead,
        registration: Registration,
        request_id: &str,
    ) -> Result<RegisterOutcome, DomainError> {
        let job = RegisterJob {
            registration: NewRegistration {
                device: registration.device,
                pass_id: head.id.clone(),
                pass_type_identifier: registration.pass_type_identifier,
                push_token: registration.push_token,
            },
            serial_number: registration.serial_number,
            request_id: request_id.to_string(),
        };
        let pass_id = job.registration.pass_id.clone();
        let outcome = self
            .registrar
            .submit(job)
            .await
            .ok_or_else(|| DomainError::Unavailable("the server is shutting down".into()))??;
        if matches!(outcome, RegisterOutcome::Created | RegisterOutcome::Refreshed) {
            self.metrics.count_event("PASSKIT_DEVICE_REGISTER_SUCCESS");
            tracing::info!(
                event = "PASSKIT_DEVICE_REGISTER_SUCCESS",
                request_id,
                pass_id,
                "event"
            );
        }
        Ok(outcome)
    }

    /// Unregisters a device from the pass `head`; `true` if it was registered.
    pub async fn unregister_device(
        &self,
        head: &PassHead,
        device: &str,
        pass_type: &str,
        serial: &str,
        request_id: &str,
    ) -> Result<bool, DomainError> {
        let removed = self.store.unregister_device(device, &head.id).await?;
        self.events
            .record(
                "PASSKIT_DEVICE_UNREGISTER_SUCCESS",
                CATEGORY,
                request_id,
                json!({
                    "passId": head.id,
                    "passTypeIdentifier": pass_type,
                    "serialNumber": serial,
                    "wasRegistered": removed,
                }),
            )
            .await;
        Ok(removed)
    }

    /// Records a failed registration (its status and reason, never the request's content).
    pub async fn registration_failed(&self, request_id: &str, data: Value) {
        self.events
            .record("PASSKIT_DEVICE_REGISTER_FAIL", CATEGORY, request_id, data)
            .await;
    }

    /// Records a refused device authentication on a route other than registration (which
    /// records its own failures): which route, never what the device sent, so repeats
    /// aggregate into one device record.
    pub async fn device_auth_failed(&self, request_id: &str, route: &'static str) {
        self.events
            .record(
                "PASSKIT_DEVICE_AUTH_FAIL",
                CATEGORY,
                request_id,
                json!({ "route": route, "status": 401 }),
            )
            .await;
    }

    /// The serial numbers of `device`'s passes of `pass_type` updated after `since`, with
    /// their tags, oldest first, at most `limit`.
    pub async fn serials_updated_since(
        &self,
        device: &str,
        pass_type: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, DomainError> {
        Ok(self
            .store
            .serials_updated_since(device, pass_type, since, limit)
            .await?)
    }

    /// Keeps the messages a device sent as `PASSKIT_DEVICE_LOG` device records (one per
    /// message, repeats aggregated, capped with the other device records), each logged once
    /// through the event writer with its control characters escaped.
    pub async fn device_logs(&self, request_id: &str, messages: &[String], dropped: usize) {
        let mut events: Vec<_> = messages
            .iter()
            .map(|m| {
                new_event(
                    "PASSKIT_DEVICE_LOG",
                    CATEGORY,
                    request_id,
                    json!({ "message": m }),
                )
            })
            .collect();
        if dropped > 0 {
            events.push(new_event(
                "PASSKIT_DEVICE_LOG",
                CATEGORY,
                request_id,
                json!({ "dropped": dropped }),
            ));
        }
        self.note_device_logs(messages);
        self.events.write(events).await;
    }
}
