//! Group commit: concurrent requests hand their writes to one task that commits them together,
//! one transaction per batch, and each request is answered only once its batch is committed.
//!
//! Why: SQLite has one writer at a time and every commit appends the touched pages to the WAL;
//! a thousand writes a second as a thousand transactions spend their time handing the write
//! lock around and rewriting the same index pages. On PostgreSQL a batch saves the round trips
//! and the commit flushes. Durability is unchanged: nothing is acknowledged before it is stored.
use std::future::Future;

use tokio::sync::{mpsc, oneshot};

struct Job<J, R> {
    job: J,
    reply: oneshot::Sender<R>,
}

/// Handle to a batching writer task (cheap to clone; the task ends when every handle is gone).
pub struct Batcher<J, R> {
    jobs: mpsc::Sender<Job<J, R>>,
}

impl<J, R> Clone for Batcher<J, R> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<J, R> std::fmt::Debug for Batcher<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher { .. }")
    }
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts the writer on the current tokio runtime. `write` gets up to `max_batch` jobs at
    /// a time, in arrival order, and must answer each one (its result `i` goes to job `i`).
    /// At most `queue` jobs wait; beyond that, submitters wait for room (backpressure).
    pub fn start<W, F>(max_batch: usize, queue: usize, mut write: W) -> Self
    where
        W: FnMut(Vec<J>) -> F + Send + 'static,
        F: Future<Output = Vec<R>> + Send,
    {
        let (jobs, mut rx) = mpsc::channel::<Job<J, R>>(queue);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut batch, max_batch).await > 0 {
                let (work, replies): (Vec<J>, Vec<oneshot::Sender<R>>) =
                    batch.drain(..).map(|j| (j.job, j.reply)).unzip();
                let results = write(work).await;
                debug_assert_eq!(results.len(), replies.len());
                for (reply, result) in replies.into_iter().zip(results) {
                    // The request may have gone away; its write stands.
                    let _ = reply.send(result);
                }
            }
        });
        Self { jobs }
    }

    /// Hands `job` to the writer and waits for its batch to commit. `None` when the writer is
    /// gone (the server is shutting down) or dropped the job.
    pub async fn submit(&self, job: J) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { job, reply }).await.ok()?;
        answer.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_each_job_with_its_own_result_in_batches() {
        let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = batches.clone();
        let batcher = Batcher::start(8, 64, move |jobs: Vec<u32>| {
            seen.lock().unwrap().push(jobs.len());
            async move { jobs.into_iter().map(|j| j * 10).collect() }
        });
        let answers = futures_util::future::join_all((0..40).map(|i| {
            let b = batcher.clone();
            async move { b.submit(i).await }
        }))
        .await;
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer, Some(i as u32 * 10));
        }
        let batches = batches.lock().unwrap();
        assert_eq!(batches.iter().sum::<usize>(), 40);
        assert!(batches.iter().all(|&n| n <= 8));
    }
}
