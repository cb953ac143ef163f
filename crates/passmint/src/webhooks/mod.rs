//! Webhook delivery (SPEC 10): the worker that drains `webhook_outbox` into the receivers, in
//! the push worker's shape.
//!
//! Deliveries are queued by the store in the transaction of the change they report (see
//! [`crate::store::webhooks`]). The worker claims due rows webhook by webhook, with a lease (on
//! PostgreSQL `FOR UPDATE SKIP LOCKED`, so several servers never claim the same row), at most
//! `per_webhook` in flight for any one receiver (a slow receiver uses its own slots only, never
//! another's), sends each on its own task with a timeout, and records the outcomes in batches:
//! a 2xx removes the row, anything else comes back after an exponential backoff with jitter
//! until `retry_for` is over, then it is given up. Every attempt is in the deliveries log.
//!
//! The same worker runs the certificate expiry sweep once per interval across all servers and
//! restarts (`job_runs`), and refreshes the queue gauges.
mod signature;
mod worker;

pub use signature::sign;
pub use worker::{ClientError, WebhookConfig, WebhookWorker};
