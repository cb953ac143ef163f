//! Webhooks (SPEC 10): the receivers, their delivery outbox and deliveries log, and the queueing
//! of webhook events inside the transactions that make them happen.
//!
//! Queueing: [`WebhookQueue`] is implemented for both backends' connections, so it is called
//! on an open transaction (`&mut **tx`) wherever a change is written:
//! - the event writer (`append_events!`, used by every writer of events) derives webhook events
//!   from the events it appends ([`WebhookQueue::queue_for_events`]): device registrations,
//!   unregistrations, push failures, rollouts, share-link downloads;
//! - the pass writers queue `pass.created`/`updated`/`voided`/`deleted` with the row change;
//! - the push recorder queues `pass.uninstalled` when APNs's 410 removed a pass's last device.
//!
//! One multi-row `INSERT … SELECT` joins the events with the subscriptions, so an event no
//! webhook wants costs no row, and the event's body is kept (in `webhook_events`) only while a
//! delivery of it is queued.
use std::collections::{HashMap, HashSet};
use std::future::Future;

use serde_json::{Map, Value, json};

use super::{Backend, NewEvent, Store, StoreError, in_transaction, on_pool};

/// The event types a webhook can subscribe to (SPEC 10).
pub const EVENT_TYPES: &[&str] = &[
    "pass.created",
    "pass.updated",
    "pass.voided",
    "pass.deleted",
    "pass.downloaded",
    "pass.installed",
    "pass.uninstalled",
    "pass.personalized",
    "device.registered",
    "device.unregistered",
    "push.failed",
    "template.rollout.completed",
    "template.certificate.expiring",
    "template.certificate.expired",
];

/// A webhook event to queue for every webhook that wants it.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    pub id: String,
    pub event_type: &'static str,
    /// What the webhooks' `templateId` filter compares with.
    pub template_id: Option<String>,
    pub created_at: i64,
    /// JSON object text: ids, serial numbers, counts; never a token, key or payload value.
    pub data: String,
}

impl WebhookEvent {
    pub fn new(event_type: &'static str, template_id: Option<&str>, created_at: i64, data: Value) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            event_type,
            template_id: template_id.map(str::to_string),
            created_at,
            data: data.to_string(),
        }
    }
}

/// What a webhook event says about a pass.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PassRef {
    pub id: String,
    pub template_id: String,
    pub pass_type_identifier: String,
    pub serial_number: String,
}

impl PassRef {
    /// The event's data: the pass's ids and serial number, plus `extra`.
    pub fn event(&self, event_type: &'static str, now: i64, extra: Value) -> WebhookEvent {
        let mut data = json!({
            "passId": self.id,
            "templateId": self.template_id,
            "passTypeIdentifier": self.pass_type_identifier,
            "serialNumber": self.serial_number,
        });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        WebhookEvent::new(event_type, Some(&self.template_id), now, data)
    }
}

/// Statements per multi-row chunk: 3 binds a row, far below both databases' bind limits.
const CHUNK: usize = 300;

/// A connection (an open transaction's, `&mut **tx`) webhook events can be queued on.
/// Implemented for both backends' connections; not meant to be implemented elsewhere.
pub trait WebhookQueue: Send {
    /// Queues `events` for every webhook subscribed to their type (and template). Returns how
    /// many deliveries were queued.
    fn queue_webhook_events<'a>(
        &'a mut self,
        events: &'a [WebhookEvent],
        now: i64,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;

    /// Derives webhook events from events being appended in this transaction, and queues them.
    fn queue_for_events<'a>(
        &'a mut self,
        events: &'a [NewEvent],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// The passes among `pass_ids` that have no registration left and were installed: each
    /// gets `pass.uninstalled` (with `reason`), once.
    fn uninstall_if_unregistered<'a>(
        &'a mut self,
        pass_ids: &'a [String],
        reason: &'static str,
        now: i64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// The passes with these ids (for event data), in no particular order.
    fn pass_refs<'a>(
        &'a mut self,
        pass_ids: &'a [String],
    ) -> impl Future<Output = Result<Vec<PassRef>, sqlx::Error>> + Send + 'a;
}

/// How an internal event (SPEC 2.3 names) turns into webhook events.
enum Derived {
    /// `device.registered`, and `pass.installed` if it is the pass's first registration.
    Registered(String),
    /// `device.unregistered`, and `pass.uninstalled` if it was the last.
    Unregistered(String),
    /// `pass.downloaded` through the share link.
    Downloaded(String),
    /// Anything else: ready to queue.
    Ready(WebhookEvent),
}

fn text_of(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The webhook event an internal event stands for, if any. Only ids, counts and codes are
/// carried over, never anything a request sent.
fn derive(event: &NewEvent) -> Option<Derived> {
    let t = event.event_type.as_str();
    let interesting = matches!(
        t,
        "PASSKIT_DEVICE_REGISTER_SUCCESS" | "PASSKIT_DEVICE_UNREGISTER_SUCCESS" | "APNS_PUSH_FAIL"
    ) || t.ends_with("ROLLOUT_SUCCESS")
        || t.ends_with("SHARE_DOWNLOAD");
    if !interesting {
        return None;
    }
    let data: Value = serde_json::from_str(&event.data).ok()?;
    match t {
        "PASSKIT_DEVICE_REGISTER_SUCCESS" => {
            // A refresh of an existing registration is no news.
            (data.get("created") == Some(&Value::Bool(true)))
                .then(|| text_of(&data, "passId").map(Derived::Registered))
                .flatten()
        }
        "PASSKIT_DEVICE_UNREGISTER_SUCCESS" => (data.get("wasRegistered") == Some(&Value::Bool(true)))
            .then(|| text_of(&data, "passId").map(Derived::Unregistered))
            .flatten(),
        "APNS_PUSH_FAIL" => {
            if data.get("retrying") != Some(&Value::Bool(false)) {
                return None;
            }
            let reason = text_of(&data, "reason").unwrap_or_default();
            // A dead token is the device going away (pass.uninstalled), not a failed push.
            let dead_token = data.get("status").and_then(Value::as_i64) == Some(410)
                || matches!(reason.as_str(), "BadDeviceToken" | "DeviceTokenNotForTopic");
            if dead_token {
                return None;
            }
            let template_id = text_of(&data, "templateId");
            let out = json!({
                "templateId": template_id,
                "passTypeIdentifier": data.get("passTypeIdentifier"),
                "reason": reason,
                "status": data.get("status"),
                "attempt": data.get("attempt"),
            });
            Some(Derived::Ready(WebhookEvent::new(
                "push.failed",
                template_id.as_deref(),
                event.timestamp,
                out,
            )))
        }
        _ if t.ends_with("ROLLOUT_SUCCESS") => {
            // Ids and counts only.
            let mut out = Map::new();
            for (key, value) in data.as_object()? {
                let keep = value.is_number() || (key.ends_with("Id") && value.is_string());
                if keep {
                    out.insert(key.clone(), value.clone());
                }
            }
            let template_id = text_of(&data, "templateId");
            Some(Derived::Ready(WebhookEvent::new(
                "template.rollout.completed",
                template_id.as_deref(),
                event.timestamp,
                Value::Object(out),
            )))
        }
        _ => text_of(&data, "passId").map(Derived::Downloaded),
    }
}

/// Implements [`WebhookQueue`] for one backend's connection type (the bodies compile once per
/// backend, the SQL is the same).
macro_rules! webhook_queue_for {
    ($conn:ty) => {
        impl WebhookQueue for $conn {
            async fn queue_webhook_events<'a>(
                &'a mut self,
                events: &'a [WebhookEvent],
                now: i64,
            ) -> Result<u64, sqlx::Error> {
                let mut queued: HashSet<String> = HashSet::new();
                let mut count = 0_u64;
                for chunk in events.chunks(CHUNK) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO webhook_outbox (event_id, webhook_id, attempts, due_at, created_at) \
                         SELECT v.column1, s.webhook_id, 0, ",
                    );
                    insert.push_bind(now);
                    insert.push(", ");
                    insert.push_bind(now);
                    insert.push(" FROM (");
                    insert.push_values(chunk, |mut row, e: &WebhookEvent| {
                        row.push_bind(&e.id)
                            .push_bind(e.event_type)
                            .push_bind(&e.template_id);
                    });
                    insert.push(
                        ") AS v JOIN webhook_subscriptions s \
                         ON s.event_type = v.column2 OR s.event_type = '*' \
                         JOIN webhooks w ON w.id = s.webhook_id \
                         WHERE w.template_id IS NULL OR w.template_id = v.column3 \
                         ON CONFLICT (event_id, webhook_id) DO NOTHING RETURNING event_id",
                    );
                    let ids: Vec<String> = insert
                        .build_query_scalar()
                        .persistent(false)
                        .fetch_all(&mut *self)
                        .await?;
                    count += ids.len() as u64;
                    queued.extend(ids);
                }
                let bodies: Vec<&WebhookEvent> = events.iter().filter(|e| queued.contains(&e.id)).collect();
                for chunk in bodies.chunks(CHUNK) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO webhook_events (id, type, template_id, created_at, data) ",
                    );
                    insert.push_values(chunk, |mut row, e: &&WebhookEvent| {
                        row.push_bind(&e.id)
                            .push_bind(e.event_type)
                            .push_bind(&e.template_id)
                            .push_bind(e.created_at)
                            .push_bind(&e.data);
                    });
                    insert.push(" ON CONFLICT (id) DO NOTHING");
                    insert.build().persistent(false).execute(&mut *self).await?;
                }
                Ok(count)
            }

            async fn queue_for_events<'a>(&'a mut self, events: &'a [NewEvent]) -> Result<(), sqlx::Error> {
                let derived: Vec<(i64, Derived)> = events
                    .iter()
                    .filter_map(|e| derive(e).map(|d| (e.timestamp, d)))
                    .collect();
                if derived.is_empty() {
                    return Ok(());
                }
                let now = super::now_millis();
                let mut ready = Vec::new();
                let mut pass_ids: Vec<String> = Vec::new();
                let mut registered: Vec<String> = Vec::new();
                let mut unregistered: Vec<String> = Vec::new();
                for (_, d) in &derived {
                    match d {
                        Derived::Registered(id) => {
                            pass_ids.push(id.clone());
                            registered.push(id.clone());
                        }
                        Derived::Unregistered(id) => {
                            pass_ids.push(id.clone());
                            unregistered.push(id.clone());
                        }
                        Derived::Downloaded(id) => pass_ids.push(id.clone()),
                        Derived::Ready(_) => {}
                    }
                }
                // pass.installed: the passes whose install marker this transaction creates.
                let mut installed: HashSet<String> = HashSet::new();
                registered.sort();
                registered.dedup();
                for chunk in registered.chunks(CHUNK) {
                    let mut insert =
                        sqlx::QueryBuilder::new("INSERT INTO pass_installs (pass_id, installed_at) ");
                    insert.push_values(chunk, |mut row, id: &String| {
                        row.push_bind(id).push_bind(now);
                    });
                    insert.push(" ON CONFLICT (pass_id) DO NOTHING RETURNING pass_id");
                    let ids: Vec<String> = insert
                        .build_query_scalar()
                        .persistent(false)
                        .fetch_all(&mut *self)
                        .await?;
                    installed.extend(ids);
                }
                let subscribed: Option<String> =
                    sqlx::query_scalar("SELECT webhook_id FROM webhook_subscriptions LIMIT 1")
                        .fetch_optional(&mut *self)
                        .await?;
                unregistered.sort();
                unregistered.dedup();
                if !unregistered.is_empty() {
                    self.uninstall_if_unregistered(&unregistered, "device", now).await?;
                }
                if subscribed.is_none() {
                    return Ok(());
                }
                pass_ids.sort();
                pass_ids.dedup();
                let passes: HashMap<String, PassRef> = self
                    .pass_refs(&pass_ids)
                    .await?
                    .into_iter()
                    .map(|p| (p.id.clone(), p))
                    .collect();
                for (at, d) in derived {
                    match d {
                        Derived::Ready(event) => ready.push(event),
                        Derived::Registered(id) => {
                            if let Some(pass) = passes.get(&id) {
                                ready.push(pass.event("device.registered", at, json!({})));
                                if installed.remove(&id) {
                                    ready.push(pass.event("pass.installed", at, json!({})));
                                }
                            }
                        }
                        Derived::Unregistered(id) => {
                            if let Some(pass) = passes.get(&id) {
                                ready.push(pass.event("device.unregistered", at, json!({})));
                            }
                        }
                        Derived::Downloaded(id) => {
                            if let Some(pass) = passes.get(&id) {
                                ready.push(pass.event("pass.downloaded", at, json!({})));
                            }
                        }
                    }
                }
                self.queue_webhook_events(&ready, now).await?;
                Ok(())
            }

            async fn uninstall_if_unregistered<'a>(
                &'a mut self,
                pass_ids: &'a [String],
                reason: &'static str,
                now: i64,
            ) -> Result<(), sqlx::Error> {
                // In one order everywhere, so two transactions never wait on each other's markers.
                let mut sorted: Vec<&String> = pass_ids.iter().collect();
                sorted.sort_unstable();
                sorted.dedup();
                let mut gone: Vec<String> = Vec::new();
                for chunk in sorted.chunks(CHUNK) {
                    let mut delete = sqlx::QueryBuilder::new("DELETE FROM pass_installs WHERE pass_id IN (");
                    let mut ids = delete.separated(", ");
                    for id in chunk {
                        ids.push_bind(id);
                    }
                    delete.push(
                        ") AND NOT EXISTS (SELECT 1 FROM registrations r \
                         WHERE r.pass_id = pass_installs.pass_id) RETURNING pass_id",
                    );
                    let ids: Vec<String> = delete
                        .build_query_scalar()
                        .persistent(false)
                        .fetch_all(&mut *self)
                        .await?;
                    gone.extend(ids);
                }
                if gone.is_empty() {
                    return Ok(());
                }
                let events: Vec<WebhookEvent> = self
                    .pass_refs(&gone)
                    .await?
                    .iter()
                    .map(|p| p.event("pass.uninstalled", now, json!({ "reason": reason })))
                    .collect();
                self.queue_webhook_events(&events, now).await?;
                Ok(())
            }

            async fn pass_refs<'a>(&'a mut self, pass_ids: &'a [String]) -> Result<Vec<PassRef>, sqlx::Error> {
                let mut out = Vec::with_capacity(pass_ids.len());
                for chunk in pass_ids.chunks(CHUNK) {
                    let mut select = sqlx::QueryBuilder::new(
                        "SELECT id, template_id, pass_type_identifier, serial_number FROM passes WHERE id IN (",
                    );
                    let mut ids = select.separated(", ");
                    for id in chunk {
                        ids.push_bind(id);
                    }
                    select.push(")");
                    let rows: Vec<PassRef> = select
                        .build_query_as()
                        .persistent(false)
                        .fetch_all(&mut *self)
                        .await?;
                    out.extend(rows);
                }
                Ok(out)
            }
        }
    };
}

webhook_queue_for!(sqlx::SqliteConnection);
webhook_queue_for!(sqlx::PgConnection);

/// A webhook as stored.
#[derive(Clone, sqlx::FromRow)]
pub struct WebhookRecord {
    pub seq: i64,
    pub id: String,
    pub url: String,
    /// JSON array text.
    pub events: String,
    pub template_id: Option<String>,
    pub description: Option<String>,
    pub secret_sealed: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// One attempt of a delivery, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub seq: i64,
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub attempt: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: i64,
    pub next_attempt_at: Option<i64>,
}

/// A delivery a worker claimed: it owns it while the row's `claimed_until` is still this one.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub seq: i64,
    pub event_id: String,
    pub webhook_id: String,
    pub attempts: i64,
    pub created_at: i64,
    pub claimed_until: i64,
}

/// A queued event's body, for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventBody {
    pub id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub created_at: i64,
    pub data: String,
}

/// How one attempt ended, to be recorded by [`Store::record_deliveries`].
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: i64,
    pub outcome: AttemptOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered (2xx): remove from the outbox.
    Delivered,
    /// Failed; try again at this time.
    Retry { due_at: i64 },
    /// Failed for the last time (3 days are over): remove from the outbox.
    GaveUp,
    /// Not tried (shutdown): due again at once, attempt count unchanged, nothing logged.
    Release,
}

const CLAIM_SQLITE: &str = "UPDATE webhook_outbox SET claimed_until = $1 + $2, due_at = $1 + $2 \
     WHERE seq IN (SELECT seq FROM webhook_outbox WHERE webhook_id = $3 AND due_at <= $1 \
       ORDER BY due_at LIMIT $4) \
     RETURNING seq, event_id, webhook_id, attempts, created_at, claimed_until";

/// PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several servers claim disjoint rows without
/// waiting for each other.
const CLAIM_POSTGRES: &str = "UPDATE webhook_outbox SET claimed_until = $1 + $2, due_at = $1 + $2 \
     WHERE seq IN (SELECT seq FROM webhook_outbox WHERE webhook_id = $3 AND due_at <= $1 \
       ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
     RETURNING seq, event_id, webhook_id, attempts, created_at, claimed_until";

impl Store {
    /// Stores a new webhook with its subscriptions (`*` for every type).
    pub async fn insert_webhook(
        &self,
        webhook: &WebhookRecord,
        types: &[String],
    ) -> Result<WebhookRecord, StoreError> {
        let _turn = self.write_turn().await;
        let seq = in_transaction!(self, tx => async {
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO webhooks (id, url, events, template_id, description, secret_sealed, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
            )
            .bind(&webhook.id)
            .bind(&webhook.url)
            .bind(&webhook.events)
            .bind(&webhook.template_id)
            .bind(&webhook.description)
            .bind(&webhook.secret_sealed)
            .bind(webhook.created_at)
            .fetch_one(&mut **tx)
            .await?;
            for t in types {
                sqlx::query(
                    "INSERT INTO webhook_subscriptions (event_type, webhook_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(t)
                .bind(&webhook.id)
                .execute(&mut **tx)
                .await?;
            }
            Ok::<i64, StoreError>(seq)
        });
        Ok(WebhookRecord {
            seq,
            ..webhook.clone()
        })
    }

    pub async fn get_webhook(&self, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        let row = on_pool!(self, pool => {
            sqlx::query_as::<_, WebhookRecord>(
                "SELECT seq, id, url, events, template_id, description, secret_sealed, created_at \
                 FROM webhooks WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row)
    }

    /// Up to `limit` webhooks after position `after`, in creation order.
    pub async fn list_webhooks(
        &self,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookRecord>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, WebhookRecord>(
                "SELECT seq, id, url, events, template_id, description, secret_sealed, created_at \
                 FROM webhooks WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(after.unwrap_or(0))
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Deletes a webhook, its queued deliveries and its log (cascade); `false` if none.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let deleted = in_transaction!(self, tx => async {
            let n = sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            sqlx::query(
                "DELETE FROM webhook_events WHERE NOT EXISTS \
                 (SELECT 1 FROM webhook_outbox o WHERE o.event_id = webhook_events.id)",
            )
            .execute(&mut **tx)
            .await?;
            Ok::<bool, StoreError>(n > 0)
        });
        Ok(deleted)
    }

    /// Up to `limit` attempts of webhook `webhook_id` older than position `before`, newest first.
    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, DeliveryRecord>(
                "SELECT seq, id, webhook_id, event_id, type, attempt, status, error, duration_ms, at, \
                 next_attempt_at FROM webhook_deliveries WHERE webhook_id = $1 AND seq < $2 \
                 ORDER BY seq DESC LIMIT $3",
            )
            .bind(webhook_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Queues webhook events in a transaction of their own (for changes that are not rows of
    /// their own, such as the certificate sweep's findings).
    pub async fn queue_webhook_events(&self, events: &[WebhookEvent]) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await;
        let now = super::now_millis();
        let n = in_transaction!(self, tx => async {
            Ok::<u64, StoreError>((**tx).queue_webhook_events(events, now).await?)
        });
        Ok(n)
    }

    /// Claims up to `limit` due deliveries of webhook `webhook_id` for `lease_ms` (a crashed
    /// worker's claims come due again when the lease runs out). One webhook at a time, through
    /// the (webhook, due time) index: a receiver with a long backlog can't crowd the others out.
    pub async fn claim_deliveries(
        &self,
        webhook_id: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let _turn = self.write_turn().await;
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as::<_, ClaimedDelivery>(CLAIM_SQLITE)
                    .bind(now)
                    .bind(lease_ms)
                    .bind(webhook_id)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_as::<_, ClaimedDelivery>(CLAIM_POSTGRES)
                    .bind(now)
                    .bind(lease_ms)
                    .bind(webhook_id)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(rows)
    }

    /// Every webhook's id, url and sealed secret (the worker's view).
    pub async fn webhook_targets(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_as("SELECT id, url, secret_sealed FROM webhooks ORDER BY seq")
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// The bodies of these queued events.
    pub async fn webhook_event_bodies(&self, ids: &[String]) -> Result<Vec<EventBody>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows = on_pool!(self, pool => {
                let mut select = sqlx::QueryBuilder::new(
                    "SELECT id, type, created_at, data FROM webhook_events WHERE id IN (",
                );
                let mut list = select.separated(", ");
                for id in chunk {
                    list.push_bind(id);
                }
                select.push(")");
                select.build_query_as::<EventBody>().persistent(false).fetch_all(pool).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Records attempts in one transaction: the log rows, then the outbox rows (each write only
    /// while the row is still under this claim, so a claim that lost its lease changes
    /// nothing), then event bodies nobody waits for any more; the log is pruned to `keep`.
    /// Multi-row statements: one round trip per 200 deliveries on the happy path.
    pub async fn record_deliveries(
        &self,
        results: &[(ClaimedDelivery, String, AttemptResult)],
        keep: i64,
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        in_transaction!(self, tx => async {
            // A webhook deleted while its delivery was in flight took its rows with it: log
            // nothing for it, and let the rest of the batch record.
            let mut webhooks: Vec<&str> = results.iter().map(|(c, _, _)| c.webhook_id.as_str()).collect();
            webhooks.sort_unstable();
            webhooks.dedup();
            let mut live: HashSet<String> = HashSet::new();
            for chunk in webhooks.chunks(CHUNK) {
                let mut select = sqlx::QueryBuilder::new("SELECT id FROM webhooks WHERE id IN (");
                let mut list = select.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                select.push(")");
                let ids: Vec<String> = select
                    .build_query_scalar()
                    .persistent(false)
                    .fetch_all(&mut **tx)
                    .await?;
                live.extend(ids);
            }
            let logged: Vec<&(ClaimedDelivery, String, AttemptResult)> = results
                .iter()
                .filter(|(c, _, r)| r.outcome != AttemptOutcome::Release && live.contains(&c.webhook_id))
                .collect();
            let mut last_seq = 0_i64;
            for chunk in logged.chunks(200) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO webhook_deliveries (id, webhook_id, event_id, type, attempt, status, \
                     error, duration_ms, at, next_attempt_at) ",
                );
                insert.push_values(chunk, |mut row, (claim, event_type, r)| {
                    let next = match r.outcome {
                        AttemptOutcome::Retry { due_at } => Some(due_at),
                        _ => None,
                    };
                    row.push_bind(uuid::Uuid::new_v4().to_string())
                        .push_bind(&claim.webhook_id)
                        .push_bind(&claim.event_id)
                        .push_bind(event_type)
                        .push_bind(claim.attempts + 1)
                        .push_bind(r.status)
                        .push_bind(&r.error)
                        .push_bind(r.duration_ms)
                        .push_bind(r.at)
                        .push_bind(next);
                });
                insert.push(" RETURNING seq");
                let seqs: Vec<i64> = insert
                    .build_query_scalar()
                    .persistent(false)
                    .fetch_all(&mut **tx)
                    .await?;
                last_seq = last_seq.max(seqs.into_iter().max().unwrap_or(0));
            }
            // Finished rows, 300 a statement; `seq IN (…)` finds them by primary key, the
            // row-value list keeps only those still under this claim.
            let done: Vec<&ClaimedDelivery> = results
                .iter()
                .filter(|(_, _, r)| matches!(r.outcome, AttemptOutcome::Delivered | AttemptOutcome::GaveUp))
                .map(|(c, _, _)| c)
                .collect();
            for chunk in done.chunks(CHUNK) {
                let mut delete = sqlx::QueryBuilder::new("DELETE FROM webhook_outbox WHERE seq IN (");
                let mut seqs = delete.separated(", ");
                for c in chunk {
                    seqs.push_bind(c.seq);
                }
                delete.push(") AND (seq, claimed_until) IN (");
                delete.push_values(chunk, |mut row, c| {
                    row.push_bind(c.seq).push_bind(c.claimed_until);
                });
                delete.push(")");
                delete.build().persistent(false).execute(&mut **tx).await?;
            }
            for (claim, _, r) in results {
                let due_at = match r.outcome {
                    AttemptOutcome::Retry { due_at } => due_at,
                    AttemptOutcome::Release => r.at,
                    _ => continue,
                };
                let retried = i64::from(matches!(r.outcome, AttemptOutcome::Retry { .. }));
                sqlx::query(
                    "UPDATE webhook_outbox SET attempts = attempts + $3, due_at = $4, \
                     claimed_until = NULL WHERE seq = $1 AND claimed_until = $2",
                )
                .bind(claim.seq)
                .bind(claim.claimed_until)
                .bind(retried)
                .bind(due_at)
                .execute(&mut **tx)
                .await?;
            }
            let mut events: Vec<&str> = done.iter().map(|c| c.event_id.as_str()).collect();
            events.sort_unstable();
            events.dedup();
            for chunk in events.chunks(CHUNK) {
                let mut delete = sqlx::QueryBuilder::new("DELETE FROM webhook_events WHERE id IN (");
                let mut list = delete.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                delete.push(
                    ") AND NOT EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.event_id = webhook_events.id)",
                );
                delete.build().persistent(false).execute(&mut **tx).await?;
            }
            if last_seq > 0 {
                sqlx::query("DELETE FROM webhook_deliveries WHERE seq <= $1")
                    .bind(last_seq - keep.max(1))
                    .execute(&mut **tx)
                    .await?;
            }
            Ok::<(), StoreError>(())
        });
        Ok(())
    }

    /// Deliveries queued (due, claimed or backing off), and when the oldest was queued.
    pub async fn webhook_queue_stats(&self) -> Result<(i64, Option<i64>), StoreError> {
        let row: (i64, Option<i64>) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM webhook_outbox")
                .fetch_one(pool)
                .await
        })?;
        Ok(row)
    }

    /// Takes periodic job `name`'s turn if it last ran `interval_ms` or more ago (or never):
    /// `true` for exactly one caller per interval, across restarts and servers.
    pub async fn take_job_turn(&self, name: &str, interval_ms: i64, now: i64) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let taken: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO job_runs (name, last_run_at) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at \
                 WHERE job_runs.last_run_at <= $3 RETURNING name",
            )
            .bind(name)
            .bind(now)
            .bind(now - interval_ms)
            .fetch_optional(pool)
            .await
        })?;
        Ok(taken.is_some())
    }

    /// The certificate sweep (SPEC 10): for every template whose certificate expires within
    /// 30 days (or has expired), records the tightest warning due (`30`, `7`, `1` days ahead,
    /// or `expired`) unless it was recorded for that certificate before, and queues its
    /// webhook event in the same transaction. Returns how many warnings were new.
    pub async fn sweep_certificates(&self, now_ms: i64) -> Result<usize, StoreError> {
        const DAY: i64 = 86_400;
        let now = now_ms / 1000;
        let _turn = self.write_turn().await;
        let count = in_transaction!(self, tx => async {
            let expiring: Vec<(String, i64, String)> = sqlx::query_as(
                "SELECT id, certificate_expires_at, pass_type_identifier FROM templates \
                 WHERE certificate_expires_at <= $1",
            )
            .bind(now + 30 * DAY)
            .fetch_all(&mut **tx)
            .await?;
            let mut events = Vec::new();
            for (template_id, expires_at, pass_type) in expiring {
                let left = expires_at - now;
                let warning = match left {
                    ..=0 => "expired",
                    1..=DAY => "1",
                    _ if left <= 7 * DAY => "7",
                    _ => "30",
                };
                let new: Option<String> = sqlx::query_scalar(
                    "INSERT INTO certificate_warnings (template_id, expires_at, warning, sent_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING warning",
                )
                .bind(&template_id)
                .bind(expires_at)
                .bind(warning)
                .bind(now_ms)
                .fetch_optional(&mut **tx)
                .await?;
                if new.is_none() {
                    continue;
                }
                let expires = time::OffsetDateTime::from_unix_timestamp(expires_at)
                    .ok()
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
                let mut data = json!({
                    "templateId": template_id,
                    "passTypeIdentifier": pass_type,
                    "certificateExpiresAt": expires,
                });
                let event_type = if warning == "expired" {
                    "template.certificate.expired"
                } else {
                    data["daysBefore"] = json!(warning.parse::<i64>().unwrap_or(0));
                    "template.certificate.expiring"
                };
                events.push(WebhookEvent::new(event_type, Some(&template_id), now_ms, data));
            }
            (**tx).queue_webhook_events(&events, now_ms).await?;
            Ok::<usize, StoreError>(events.len())
        });
        Ok(count)
    }
}
