//! Rollouts (SPEC 7): the worker that brings a replaced template's passes up to date.
//!
//! A template PUT stores the new revision and a `rollouts` row in one transaction (see
//! [`crate::store::Store::replace_template_with_rollout`]) and answers at once. This worker, in
//! the push worker's shape, claims a running rollout with a lease (on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, so several `serve` processes never hold one rollout at once),
//! does it batch by batch through [`crate::domain::Domain::rollout_step`] (each batch renews
//! the lease and moves the cursor in the batch's own transaction, so after a crash the next
//! claimer resumes after the last committed batch), backs off on errors, and stops at a
//! newer PUT, which supersedes the rollout and covers every pass itself.
mod worker;

pub use worker::{RolloutWorker, RolloutWorkerConfig};
