//! Prometheus metrics, hand-rolled: one registry per app (no process-global recorder, so several
//! apps can run in one test process), rendered as Prometheus text by `/metrics`.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 11] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request counts and latencies by (method, route template, status); events by type.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
    events: Mutex<BTreeMap<String, u64>>,
    push: Mutex<PushStats>,
    webhooks: Mutex<WebhookStats>,
    google: Mutex<GoogleStats>,
    /// Passes signed (an RSA signature each); re-downloads of unchanged passes add none.
    signatures: std::sync::atomic::AtomicU64,
    rollouts: RolloutStats,
    /// Timeline notes dropped because the insight writer was behind (see `domain::insight`).
    timeline_dropped: std::sync::atomic::AtomicU64,
}

/// Rollout worker figures (SPEC 7): batches, passes checked and retagged, rollouts finished.
#[derive(Default)]
struct RolloutStats {
    batches: std::sync::atomic::AtomicU64,
    checked: std::sync::atomic::AtomicU64,
    updated: std::sync::atomic::AtomicU64,
    finished: std::sync::atomic::AtomicU64,
}

/// Push worker figures (SPEC 4): sent, failed by APNs reason, queue depth, send latency.
#[derive(Default)]
struct PushStats {
    sent: u64,
    failed: BTreeMap<String, u64>,
    queue_depth: Option<i64>,
    latency: Series,
}

/// Webhook worker figures (SPEC 10): attempts by outcome, queue depth, oldest queued delivery.
#[derive(Default)]
struct WebhookStats {
    deliveries: BTreeMap<&'static str, u64>,
    queue: Option<(i64, f64)>,
}

/// `passmint_template_certificate_expiry_seconds{template}`: when each template's pass type
/// certificate expires, as Unix seconds (alert on `… - time() < 7 * 86400`). The label values
/// are template ids from the database, never anything a request sent.
pub fn render_certificate_expiries(expiries: &[(String, i64)]) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP passmint_template_certificate_expiry_seconds When each template's certificate expires (Unix seconds).\n",
    );
    out.push_str("# TYPE passmint_template_certificate_expiry_seconds gauge\n");
    for (template, expires_at) in expiries {
        let _ = writeln!(
            out,
            "passmint_template_certificate_expiry_seconds{{template=\"{}\"}} {expires_at}",
            escape(template)
        );
    }
    out
}

/// Google Wallet sync figures (SPEC 13): syncs by outcome, queue depth, oldest queued sync.
#[derive(Default)]
struct GoogleStats {
    syncs: BTreeMap<&'static str, u64>,
    /// Depth, age of the oldest (seconds), rows failed for good.
    queue: Option<(i64, f64, i64)>,
}

impl Metrics {
    /// A timeline note was dropped (the insight writer was behind).
    pub fn count_timeline_note_dropped(&self) {
        self.timeline_dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A Google Wallet sync ended: `done`, `retrying`, `failed` (given up) or `paused`.
    pub fn count_google_sync(&self, outcome: &'static str) {
        let mut g = self.google.lock().unwrap_or_else(|e| e.into_inner());
        *g.syncs.entry(outcome).or_default() += 1;
    }

    /// Syncs queued, the age in seconds of the oldest one (0 when none), and syncs failed for good.
    pub fn set_google_queue(&self, depth: i64, oldest_age_seconds: f64, failed: i64) {
        self.google.lock().unwrap_or_else(|e| e.into_inner()).queue =
            Some((depth, oldest_age_seconds, failed));
    }

    fn render_google(&self, out: &mut String) {
        let g = self.google.lock().unwrap_or_else(|e| e.into_inner());
        if g.syncs.is_empty() && g.queue.is_none() {
            // Google Wallet is off: nothing to say.
            return;
        }
        out.push_str(
            "# HELP passmint_google_syncs_total Google Wallet class and object writes, by outcome.\n",
        );
        out.push_str("# TYPE passmint_google_syncs_total counter\n");
        for (outcome, n) in &g.syncs {
            let _ = writeln!(out, "passmint_google_syncs_total{{outcome=\"{outcome}\"}} {n}");
        }
        if let Some((depth, age, failed)) = g.queue {
            out.push_str("# HELP passmint_google_queue_depth Google Wallet syncs waiting in the outbox.\n");
            out.push_str("# TYPE passmint_google_queue_depth gauge\n");
            let _ = writeln!(out, "passmint_google_queue_depth {depth}");
            out.push_str(
                "# HELP passmint_google_oldest_unsynced_seconds Age of the oldest queued Google Wallet sync.\n",
            );
            out.push_str("# TYPE passmint_google_oldest_unsynced_seconds gauge\n");
            let _ = writeln!(out, "passmint_google_oldest_unsynced_seconds {age}");
            out.push_str("# HELP passmint_google_failed Google Wallet syncs Google refused for good (until the next change).\n");
            out.push_str("# TYPE passmint_google_failed gauge\n");
            let _ = writeln!(out, "passmint_google_failed {failed}");
        }
    }

    /// A delivery attempt ended: `delivered`, `retrying` or `failed` (given up).
    pub fn count_webhook_delivery(&self, outcome: &'static str) {
        let mut w = self.webhooks.lock().unwrap_or_else(|e| e.into_inner());
        *w.deliveries.entry(outcome).or_default() += 1;
    }

    /// Deliveries queued, and the age in seconds of the oldest one (0 when none).
    pub fn set_webhook_queue(&self, depth: i64, oldest_age_seconds: f64) {
        self.webhooks.lock().unwrap_or_else(|e| e.into_inner()).queue = Some((depth, oldest_age_seconds));
    }

    fn render_webhooks(&self, out: &mut String) {
        let w = self.webhooks.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP passmint_webhook_deliveries_total Webhook delivery attempts, by outcome.\n");
        out.push_str("# TYPE passmint_webhook_deliveries_total counter\n");
        for (outcome, n) in &w.deliveries {
            let _ = writeln!(
                out,
                "passmint_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        if let Some((depth, age)) = w.queue {
            out.push_str("# HELP passmint_webhook_queue_depth Webhook deliveries waiting in the outbox.\n");
            out.push_str("# TYPE passmint_webhook_queue_depth gauge\n");
            let _ = writeln!(out, "passmint_webhook_queue_depth {depth}");
            out.push_str(
                "# HELP passmint_webhook_oldest_undelivered_seconds Age of the oldest queued webhook delivery.\n",
            );
            out.push_str("# TYPE passmint_webhook_oldest_undelivered_seconds gauge\n");
            let _ = writeln!(out, "passmint_webhook_oldest_undelivered_seconds {age}");
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let series = requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        series.count += 1;
        series.sum_seconds += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                series.buckets[i] += 1;
            }
        }
    }

    pub fn count_event(&self, event_type: &str) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        *events.entry(event_type.to_string()).or_default() += 1;
    }

    pub fn count_signature(&self) {
        self.signatures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// One rollout batch committed by this process.
    pub fn count_rollout_batch(&self, checked: usize, updated: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.rollouts.batches.fetch_add(1, Relaxed);
        self.rollouts.checked.fetch_add(checked as u64, Relaxed);
        self.rollouts.updated.fetch_add(updated as u64, Relaxed);
    }

    /// One rollout finished by this process.
    pub fn count_rollout_finished(&self) {
        self.rollouts
            .finished
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn render_rollouts(&self, out: &mut String) {
        use std::sync::atomic::Ordering::Relaxed;
        for (name, help, value) in [
            (
                "passmint_rollout_batches_total",
                "Rollout batches committed.",
                &self.rollouts.batches,
            ),
            (
                "passmint_rollout_passes_checked_total",
                "Passes checked by rollouts.",
                &self.rollouts.checked,
            ),
            (
                "passmint_rollout_passes_updated_total",
                "Passes retagged by rollouts.",
                &self.rollouts.updated,
            ),
            (
                "passmint_rollouts_finished_total",
                "Rollouts finished (done).",
                &self.rollouts.finished,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        }
    }

    pub fn count_push_sent(&self) {
        self.push.lock().unwrap_or_else(|e| e.into_inner()).sent += 1;
    }

    /// A failed push attempt, by APNs reason (or `ConnectionError`, `Timeout`…).
    pub fn count_push_failure(&self, reason: &str) {
        let mut push = self.push.lock().unwrap_or_else(|e| e.into_inner());
        *push.failed.entry(reason.to_string()).or_default() += 1;
    }

    pub fn observe_push_latency(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut push = self.push.lock().unwrap_or_else(|e| e.into_inner());
        push.latency.count += 1;
        push.latency.sum_seconds += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                push.latency.buckets[i] += 1;
            }
        }
    }

    pub fn set_push_queue_depth(&self, depth: i64) {
        self.push.lock().unwrap_or_else(|e| e.into_inner()).queue_depth = Some(depth);
    }

    fn render_push(&self, out: &mut String) {
        let push = self.push.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP passmint_push_sent_total Pushes APNs accepted.\n");
        out.push_str("# TYPE passmint_push_sent_total counter\n");
        let _ = writeln!(out, "passmint_push_sent_total {}", push.sent);
        out.push_str("# HELP passmint_push_failed_total Push attempts that failed, by reason.\n");
        out.push_str("# TYPE passmint_push_failed_total counter\n");
        for (reason, n) in &push.failed {
            let _ = writeln!(
                out,
                "passmint_push_failed_total{{reason=\"{}\"}} {n}",
                escape(reason)
            );
        }
        if let Some(depth) = push.queue_depth {
            out.push_str("# HELP passmint_push_queue_depth Pushes waiting in the outbox.\n");
            out.push_str("# TYPE passmint_push_queue_depth gauge\n");
            let _ = writeln!(out, "passmint_push_queue_depth {depth}");
        }
        out.push_str("# HELP passmint_push_duration_seconds Time from sending a push to APNs's answer.\n");
        out.push_str("# TYPE passmint_push_duration_seconds histogram\n");
        for (bound, n) in BUCKETS.iter().zip(push.latency.buckets) {
            let _ = writeln!(out, "passmint_push_duration_seconds_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "passmint_push_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            push.latency.count
        );
        let _ = writeln!(
            out,
            "passmint_push_duration_seconds_sum {}",
            push.latency.sum_seconds
        );
        let _ = writeln!(out, "passmint_push_duration_seconds_count {}", push.latency.count);
    }

    /// Prometheus text exposition; `templates` is the current number of templates (if known).
    pub fn render(&self, templates: Option<i64>) -> String {
        let mut out = String::new();
        out.push_str("# HELP passmint_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE passmint_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((method, route, status), s) in requests.iter() {
            let _ = writeln!(
                out,
                "passmint_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(method),
                escape(route),
                s.count
            );
        }
        out.push_str("# HELP passmint_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE passmint_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in requests.iter() {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{status}\"",
                escape(method),
                escape(route)
            );
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "passmint_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "passmint_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "passmint_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "passmint_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        drop(requests);
        out.push_str("# HELP passmint_events_total Events recorded by type since start.\n");
        out.push_str("# TYPE passmint_events_total counter\n");
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, n) in events.iter() {
            let _ = writeln!(out, "passmint_events_total{{type=\"{}\"}} {n}", escape(kind));
        }
        drop(events);
        out.push_str("# HELP passmint_pass_signatures_total Passes signed since start.\n");
        out.push_str("# TYPE passmint_pass_signatures_total counter\n");
        let _ = writeln!(
            out,
            "passmint_pass_signatures_total {}",
            self.signatures.load(std::sync::atomic::Ordering::Relaxed)
        );
        out.push_str(
            "# HELP passmint_timeline_notes_dropped_total Timeline notes dropped because the writer was behind.\n",
        );
        out.push_str("# TYPE passmint_timeline_notes_dropped_total counter\n");
        let _ = writeln!(
            out,
            "passmint_timeline_notes_dropped_total {}",
            self.timeline_dropped.load(std::sync::atomic::Ordering::Relaxed)
        );
        self.render_push(&mut out);
        self.render_rollouts(&mut out);
        self.render_webhooks(&mut out);
        self.render_google(&mut out);
        if let Some(templates) = templates {
            out.push_str("# HELP passmint_templates Templates stored.\n");
            out.push_str("# TYPE passmint_templates gauge\n");
            let _ = writeln!(out, "passmint_templates {templates}");
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_histograms_per_route() {
        let m = Metrics::default();
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(3));
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(30));
        m.count_event("X_START");
        let text = m.render(Some(4));
        assert!(
            text.contains("passmint_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2")
        );
        assert!(text.contains(
            "passmint_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"0.005\"} 1"
        ));
        assert!(text.contains("passmint_events_total{type=\"X_START\"} 1"));
        assert!(text.contains("passmint_templates 4"));
    }
}
