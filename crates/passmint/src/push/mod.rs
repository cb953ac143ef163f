//! Push (SPEC 4): the worker that drains the outbox into APNs.
//!
//! Updates enqueue rows in `push_outbox` inside their own transaction (see
//! [`crate::store::outbox`]); the worker claims due rows in batches through the due-time index
//! (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several servers share the work), sends them
//! through one HTTP/2 connection per template certificate with a bounded number in flight, and
//! records the outcomes in batches: delivered rows are deleted (unless an update arrived while
//! in flight), retryable failures come back after an exponential backoff with jitter (at least
//! the server's `retry-after`), dead tokens lose their registrations, and a certificate APNs
//! refuses pauses its template until the template gets new signing material.
mod worker;

pub use crate::worker::{Backoff, WorkerHandle};
pub use worker::{PushError, PushWorker, WorkerConfig, endpoint_from_settings};
