//! What the background workers (push, rollouts, webhooks) share: how each is started and
//! stopped, and the retry delays they back off by.
use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;

mod backoff;

pub use backoff::Backoff;

/// A running worker: its task and the signal that asks it to stop.
pub struct WorkerHandle {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Starts `run` on the current runtime with a stop signal it watches (`true`: stop).
    pub fn spawn<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(stopped));
        Self { name, stop, task }
    }

    /// Asks the worker to stop and waits until it has: what it does on the way out (finish
    /// what is in flight, hand claims back) is the worker's own.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, worker = self.name, "worker ended abnormally");
        }
    }
}
