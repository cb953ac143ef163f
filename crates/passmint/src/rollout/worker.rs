//! The rollout worker: claim (lease) → step until done, lost or stopped → look for the next.
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::{Domain, StepDone};
use crate::worker::{Backoff, WorkerHandle};

/// Tuning. The defaults suit production; tests shorten the lease.
#[derive(Debug, Clone)]
pub struct RolloutWorkerConfig {
    /// Passes per batch (and per transaction).
    pub batch_size: i64,
    /// How long a claim holds without a committed batch; a crashed worker's rollout is taken
    /// over by another process (or the restarted one) after it.
    pub lease: Duration,
    /// How often to look for rollouts started by other processes.
    pub poll_interval: Duration,
    /// Delays after failed steps (database down, template can't be restored).
    pub backoff: Backoff,
}

impl Default for RolloutWorkerConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            backoff: Backoff {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(60),
            },
        }
    }
}

/// The rollout worker of one process. [`RolloutWorker::spawn`] starts it.
pub struct RolloutWorker {
    domain: Domain,
    config: RolloutWorkerConfig,
    /// This worker's lease owner id: new for every start, so a restarted process waits for the
    /// lease its predecessor held to run out like any other process would.
    owner: String,
}

impl RolloutWorker {
    pub fn new(domain: Domain, config: RolloutWorkerConfig) -> Self {
        Self {
            domain,
            config,
            owner: format!("rollout-{}", uuid::Uuid::new_v4()),
        }
    }

    /// Starts the worker on the current runtime.
    /// On shutdown it stops after the step in progress and hands the rollout back, so another
    /// process (or the next start) takes it over at once.
    pub fn spawn(self) -> WorkerHandle {
        WorkerHandle::spawn("rollouts", |stopped| self.run(stopped))
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let wakeup = self.domain.rollout_wakeup();
        let mut failures: i64 = 0;
        loop {
            if *stop.borrow() {
                break;
            }
            let claim = match self.domain.claim_rollout(&self.owner, self.config.lease).await {
                Ok(claim) => claim,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim a rollout; trying again shortly");
                    if pause(self.config.poll_interval, &mut stop).await {
                        break;
                    }
                    continue;
                }
            };
            let Some(mut claim) = claim else {
                tokio::select! {
                    () = wakeup.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                    () = stop_requested(&mut stop) => break,
                }
                continue;
            };
            tracing::info!(rollout_id = %claim.id, template_id = %claim.template_id, cursor = claim.cursor_seq, "rollout claimed");
            loop {
                if *stop.borrow() {
                    if let Err(error) = self.domain.release_rollout(&claim, &self.owner).await {
                        tracing::warn!(%error, rollout_id = %claim.id, "rollout not released; its lease will run out");
                    }
                    return;
                }
                let step = self
                    .domain
                    .rollout_step(&mut claim, &self.owner, self.config.lease, self.config.batch_size)
                    .await;
                match step {
                    Ok(StepDone::Progress { .. }) => failures = 0,
                    Ok(StepDone::Finished(record)) => {
                        failures = 0;
                        tracing::info!(
                            rollout_id = %record.id,
                            checked = record.passes_checked,
                            updated = record.passes_updated,
                            failed = record.passes_failed,
                            "rollout done"
                        );
                        break;
                    }
                    Ok(StepDone::Lost) => {
                        tracing::info!(rollout_id = %claim.id, "rollout no longer ours (superseded, taken over or gone)");
                        break;
                    }
                    Err(error) => {
                        let delay = self.config.backoff.delay(failures, None);
                        failures += 1;
                        tracing::warn!(%error, rollout_id = %claim.id, ?delay, "rollout step failed; retrying");
                        // Still holding the lease (a claim by the same owner takes it back) if
                        // the delay is shorter than it; otherwise another process may go on.
                        if pause(delay, &mut stop).await {
                            let _ = self.domain.release_rollout(&claim, &self.owner).await;
                            return;
                        }
                        break;
                    }
                }
            }
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

/// Sleeps for `delay`; `true` if a stop was asked for meanwhile.
async fn pause(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = stop_requested(stop) => true,
    }
}
