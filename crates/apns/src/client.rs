//! Sending one notification over the connections shared by every clone of the client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderName, HeaderValue, Method, Request};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout, timeout_at};

use crate::connection::{Connection, Connector, Keepalive, refused_certificate_alert};
use crate::credential::Auth;
use crate::jwt::TokenSigner;
use crate::{Credential, DeviceToken, Endpoint, Error, Notification, Outcome, Reason, RetryReason};

/// Error bodies are a few dozen bytes; keep at most this much of anything bigger.
const MAX_BODY: usize = 16 * 1024;

/// Sends of one push the server refused without processing (resets, GOAWAY) before giving up
/// (the request timeout usually ends it first). After `PACE_AFTER` of them, each resend waits a
/// little longer, so a server refusing everything is not hammered.
const MAX_SENDS: u32 = 64;
const PACE_AFTER: u32 = 8;
const PACE_CAP: Duration = Duration::from_millis(500);

/// How often a push waiting for a free stream looks again even without a wake-up: the server
/// may raise its limit in a SETTINGS frame, which frees no slot of ours.
const RECHECK: Duration = Duration::from_millis(20);

/// Reconnect backoff (per client, shared by every push): first delay and cap.
const RECONNECT_BASE: Duration = Duration::from_millis(100);
const RECONNECT_CAP: Duration = Duration::from_secs(10);

/// An APNs client for one credential: up to [`Endpoint::with_max_connections`] HTTP/2
/// connections, opened when needed, shared by every clone. See the crate documentation.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    credential: Credential,
    connector: Connector,
    token: Option<Arc<TokenSigner>>,
    connections: Mutex<Vec<Connection>>,
    /// Woken when a stream slot frees up, a connection opens or a connect attempt fails.
    changed: Notify,
    /// Held while connecting, so a burst on a cold client opens one connection at a time.
    connecting: tokio::sync::Mutex<()>,
    reconnect: Mutex<Reconnect>,
    connections_opened: AtomicU64,
    next_id: AtomicU64,
    /// Pushes sent again because the server had not processed them.
    resent: AtomicU64,
}

/// The connection-level backoff: after a failed connect, nobody tries again before
/// `not_before`; every push meanwhile gets the same failure and the same retry time.
#[derive(Default)]
struct Reconnect {
    failures: u32,
    not_before: Option<Instant>,
    problem: String,
}

/// Why a push could not get a stream: the last connect failure and when the next attempt is.
struct NoConnection {
    problem: String,
    retry_after: Option<Duration>,
}

/// A stream slot on one connection, given back when dropped.
struct Slot {
    connection: Connection,
    inner: Arc<Inner>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connection.state.release();
        self.inner.changed.notify_one();
    }
}

/// How an exchange failed, and so whether the push may be sent again.
enum Failure {
    /// The server provably did not process it (never sent, reset by the server before any
    /// answer, above a GOAWAY's last-stream-id): send it again at once.
    Unprocessed {
        error: h2::Error,
        /// The server asked us to slow down (`ENHANCE_YOUR_CALM`).
        calm: bool,
        /// The connection takes no new streams.
        gone: bool,
    },
    /// At or below a GOAWAY's last-stream-id, and the connection closed before the answer:
    /// the server took it; sending it again would be a duplicate.
    TakenBeforeGoaway(h2::Error),
    /// The connection broke under it, or the server reset it with a code that does not say it
    /// was left unprocessed: the server may or may not have seen it.
    Lost(h2::Error),
}

struct Answer {
    status: u16,
    apns_id: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Client {
    /// A client for `credential` talking to `endpoint`. Does not connect yet.
    ///
    /// # Errors
    /// [`Error::Tls`] if rustls refuses the configuration.
    pub fn new(endpoint: &Endpoint, credential: &Credential) -> Result<Self, Error> {
        let token = match &credential.auth {
            Auth::Token(signer) => Some(signer.clone()),
            Auth::Certificate(_) => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint: endpoint.clone(),
                credential: credential.clone(),
                connector: Connector::new(endpoint, credential)?,
                token,
                connections: Mutex::default(),
                changed: Notify::new(),
                connecting: tokio::sync::Mutex::new(()),
                reconnect: Mutex::default(),
                connections_opened: AtomicU64::new(0),
                next_id: AtomicU64::new(0),
                resent: AtomicU64::new(0),
            }),
        })
    }

    /// Sends one notification to one device and says what to do next. Never fails: transport
    /// problems and timeouts are [`Outcome::Retry`].
    ///
    /// The push waits for a free stream (never more in flight on a connection than the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`, nor than [`Endpoint::with_streams_per_connection`]),
    /// opening another connection (up to [`Endpoint::with_max_connections`]) when all are full.
    /// A push the server did not process (a reset before any answer, a stream above a GOAWAY's
    /// last-stream-id, a connection that closed before it left) is sent again at once, on
    /// another connection if that one is going away, and is not a failure. A push at or below a
    /// GOAWAY's last-stream-id whose answer was cut off counts as delivered. A push whose
    /// connection broke under it is sent once more. Nothing the server answered is sent again.
    /// The whole call is bounded by the endpoint's request timeout.
    pub async fn send(&self, device: &DeviceToken, notification: &Notification) -> Outcome {
        let deadline = Instant::now() + self.inner.endpoint.request_timeout;
        let uri = format!("{}/3/device/{}", self.inner.endpoint.prefix, device);
        let authorization = match &self.inner.token {
            Some(signer) => match signer.authorization() {
                Ok(value) => Some(value),
                Err(e) => return Outcome::connection(format!("could not sign the provider token: {e}")),
            },
            None => None,
        };
        let mut lost_once = false;
        for sends in 0..MAX_SENDS {
            if sends > PACE_AFTER {
                let pause = Duration::from_millis(5 << (sends - PACE_AFTER).min(7)).min(PACE_CAP);
                if timeout_at(deadline, tokio::time::sleep(pause)).await.is_err() {
                    return timed_out();
                }
            }
            let slot = match timeout_at(deadline, self.slot()).await {
                Ok(Ok(slot)) => slot,
                Ok(Err(none)) => return connection_failed(none.problem, none.retry_after),
                Err(_) => return timed_out(),
            };
            let request = match build_request(&uri, notification, authorization.as_ref()) {
                Ok(request) => request,
                Err(e) => return Outcome::connection(format!("could not build the request: {e}")),
            };
            let state = slot.connection.state.clone();
            let exchange = exchange(&slot.connection, request, notification.payload.clone());
            match timeout_at(deadline, exchange).await {
                Ok(Ok(answer)) => {
                    state.answered();
                    return self.judge(answer, &slot.connection, authorization.as_ref());
                }
                Ok(Err(Failure::Unprocessed { error, calm, gone })) => {
                    if calm {
                        state.calm_down();
                    }
                    if gone {
                        self.retire(slot.connection.id);
                    }
                    self.inner.resent.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, connection = slot.connection.id, "APNs did not process the push; sending it again");
                }
                Ok(Err(Failure::TakenBeforeGoaway(error))) => {
                    tracing::debug!(%error, connection = slot.connection.id,
                        "connection closed after a GOAWAY that covered the push; counting it as delivered");
                    return Outcome::Delivered { apns_id: None };
                }
                Ok(Err(Failure::Lost(error))) => {
                    if !error.is_reset() {
                        state.drain();
                        self.retire(slot.connection.id);
                    }
                    if lost_once {
                        return connection_failed(error.to_string(), None);
                    }
                    lost_once = true;
                    self.inner.resent.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, "APNs connection broke under the push; sending it once more");
                }
                Err(_) => {
                    // A connection that lets a request time out may be silently dead (a NAT
                    // forgot it): new pushes go to a fresh one; streams on it finish there.
                    state.drain();
                    self.retire(slot.connection.id);
                    return timed_out();
                }
            }
        }
        Outcome::connection("APNs refused the push without processing it on every attempt")
    }

    /// The credential this client authenticates with.
    #[must_use]
    pub fn credential(&self) -> &Credential {
        &self.inner.credential
    }

    /// The endpoint this client talks to.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// How many connections this client (all clones together) has opened so far (successful
    /// handshakes only).
    #[must_use]
    pub fn connections_opened(&self) -> u64 {
        self.inner.connections_opened.load(Ordering::Relaxed)
    }

    /// How many times a push was sent again at once because the server had not processed it
    /// (reset unanswered, above a GOAWAY's last-stream-id) or the connection broke under it.
    #[must_use]
    pub fn resends(&self) -> u64 {
        self.inner.resent.load(Ordering::Relaxed)
    }

    /// How many connections are open and taking new streams now.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.connections().iter().filter(|c| c.state.usable()).count()
    }

    fn judge(&self, answer: Answer, connection: &Connection, authorization: Option<&HeaderValue>) -> Outcome {
        let outcome = Outcome::from_response(
            answer.status,
            answer.apns_id,
            answer.retry_after.as_deref(),
            &answer.body,
        );
        if let Outcome::Retry {
            reason: RetryReason::Apns { reason, .. },
            ..
        } = &outcome
        {
            match reason {
                Reason::ExpiredProviderToken => {
                    if let (Some(signer), Some(value)) = (&self.inner.token, authorization) {
                        signer.invalidate(value);
                    }
                }
                // The server is closing this connection: use a new one next time.
                Reason::IdleTimeout | Reason::Shutdown => {
                    connection.state.drain();
                    self.retire(connection.id);
                }
                _ => {}
            }
        }
        outcome
    }

    fn connections(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn reconnect(&self) -> MutexGuard<'_, Reconnect> {
        self.inner
            .reconnect
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A free stream on one of the connections, opening one if all are full and the cap
    /// allows. Waits (the caller bounds how long) while every connection is at its limit.
    async fn slot(&self) -> Result<Slot, NoConnection> {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            // Register before looking, so a slot freed between the look and the wait wakes us.
            changed.as_mut().enable();
            let (room_for_another, usable) = {
                let mut connections = self.connections();
                connections.retain(|c| c.state.usable());
                // The least busy first, so a fan-out spreads over the open connections.
                connections.sort_by_key(|c| c.state.in_flight());
                for connection in connections.iter() {
                    let limit = connection
                        .send
                        .current_max_send_streams()
                        .min(connection.state.own_limit());
                    if connection.state.try_take(limit) {
                        return Ok(Slot {
                            connection: connection.clone(),
                            inner: self.inner.clone(),
                        });
                    }
                }
                (
                    connections.len() < self.inner.endpoint.max_connections,
                    connections.len(),
                )
            };
            if room_for_another {
                let waiting = {
                    let reconnect = self.reconnect();
                    reconnect
                        .not_before
                        .filter(|t| *t > Instant::now())
                        .map(|t| (t - Instant::now(), reconnect.problem.clone()))
                };
                match waiting {
                    // Backing off, and nothing open to wait for: share the last failure.
                    Some((left, problem)) if usable == 0 => {
                        return Err(NoConnection {
                            problem,
                            retry_after: Some(left),
                        });
                    }
                    Some(_) => {}
                    None => {
                        if let Ok(_connecting) = self.inner.connecting.try_lock() {
                            match self.open().await {
                                Ok(()) => continue,
                                Err(none) if usable == 0 => return Err(none),
                                Err(_) => {}
                            }
                        }
                    }
                }
            }
            let _ = timeout(RECHECK, changed).await;
        }
    }

    /// Opens one more connection, or records why not (and when to try again).
    async fn open(&self) -> Result<(), NoConnection> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let endpoint = &self.inner.endpoint;
        let keepalive = Keepalive {
            interval: endpoint.ping_interval,
            timeout: endpoint.ping_timeout,
            idle: endpoint.idle_timeout,
            retire: Arc::new(move |id| {
                if let Some(inner) = weak.upgrade() {
                    Client { inner }.retire(id);
                }
            }),
        };
        let result = timeout(
            endpoint.connect_timeout,
            self.inner
                .connector
                .connect(id, endpoint.streams_per_connection, keepalive),
        )
        .await
        .unwrap_or_else(|_| Err(format!("connecting to {} timed out", endpoint.url)));
        let outcome = match result {
            Ok(connection) => {
                *self.reconnect() = Reconnect::default();
                self.inner.connections_opened.fetch_add(1, Ordering::Relaxed);
                self.connections().push(connection);
                Ok(())
            }
            Err(problem) => {
                let mut reconnect = self.reconnect();
                let delay = RECONNECT_BASE
                    .checked_mul(1 << reconnect.failures.min(16))
                    .unwrap_or(RECONNECT_CAP)
                    .min(RECONNECT_CAP);
                reconnect.failures += 1;
                reconnect.not_before = Some(Instant::now() + delay);
                reconnect.problem.clone_from(&problem);
                tracing::debug!(%problem, ?delay, "cannot connect to APNs; backing off");
                Err(NoConnection {
                    problem,
                    retry_after: Some(delay),
                })
            }
        };
        self.inner.changed.notify_waiters();
        outcome
    }

    /// Stops handing out connection `id`; its open streams finish, then it closes.
    fn retire(&self, id: u64) {
        let mut connections = self.connections();
        if let Some(at) = connections.iter().position(|c| c.id == id) {
            connections[at].state.drain();
            connections.swap_remove(at);
        }
        drop(connections);
        self.inner.changed.notify_waiters();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.url)
            .field("credential", &self.inner.credential)
            .finish_non_exhaustive()
    }
}

/// A failed connection or exchange: a refused client certificate stops the credential, anything
/// else is worth retrying (not before `retry_after`, the connection's backoff, when known).
fn connection_failed(problem: String, retry_after: Option<Duration>) -> Outcome {
    match refused_certificate_alert(&problem) {
        Some(alert) => {
            tracing::warn!(%problem, ?alert, "APNs refused the client certificate");
            Outcome::CredentialRejected {
                reason: Reason::BadCertificate,
            }
        }
        None => Outcome::Retry {
            reason: RetryReason::Connection(problem),
            retry_after,
        },
    }
}

fn timed_out() -> Outcome {
    Outcome::Retry {
        reason: RetryReason::Timeout,
        retry_after: None,
    }
}

fn build_request(
    uri: &str,
    notification: &Notification,
    authorization: Option<&HeaderValue>,
) -> Result<Request<()>, http::Error> {
    let mut request = Request::builder().method(Method::POST).uri(uri).body(())?;
    let headers = request.headers_mut();
    headers.insert(HeaderName::from_static("apns-topic"), notification.topic.clone());
    headers.insert(
        HeaderName::from_static("apns-push-type"),
        notification.push_type.clone(),
    );
    headers.insert(
        HeaderName::from_static("apns-priority"),
        notification.priority.clone(),
    );
    if let Some(expiration) = &notification.expiration {
        headers.insert(HeaderName::from_static("apns-expiration"), expiration.clone());
    }
    if let Some(collapse_id) = &notification.collapse_id {
        headers.insert(HeaderName::from_static("apns-collapse-id"), collapse_id.clone());
    }
    if let Some(authorization) = authorization {
        headers.insert(http::header::AUTHORIZATION, authorization.clone());
    }
    headers.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(notification.payload.len()),
    );
    Ok(request)
}

/// One request and its answer on `connection`, with the failure classified.
async fn exchange(connection: &Connection, request: Request<()>, body: Bytes) -> Result<Answer, Failure> {
    let unsent = |error: h2::Error| {
        // Nothing left: safe to send again; a connection error here means it is going away.
        if error.is_go_away() && error.is_remote() {
            connection.state.went_away();
        }
        Failure::Unprocessed {
            error,
            calm: false,
            gone: true,
        }
    };
    let mut send = connection.send.clone().ready().await.map_err(unsent)?;
    let (response, mut stream) = send.send_request(request, body.is_empty()).map_err(unsent)?;
    if !body.is_empty() {
        stream
            .send_data(body, true)
            .map_err(|e| after_sending(e, connection))?;
    }
    let response = response.await.map_err(|e| after_sending(e, connection))?;
    let (parts, mut received) = response.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut body = Vec::new();
    while let Some(chunk) = received.data().await {
        // The status is in: the server answered. A body cut short is judged by what arrived.
        let Ok(chunk) = chunk else { break };
        let _ = received.flow_control().release_capacity(chunk.len());
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(Answer {
        status: parts.status.as_u16(),
        apns_id: header("apns-id"),
        retry_after: header("retry-after"),
        body,
    })
}

/// Classifies a failure of a stream that was sent, before its answer arrived.
fn after_sending(error: h2::Error, connection: &Connection) -> Failure {
    if error.is_remote() && error.is_go_away() {
        // h2 fails exactly the streams above the GOAWAY's last-stream-id this way.
        connection.state.went_away();
        return Failure::Unprocessed {
            error,
            calm: false,
            gone: true,
        };
    }
    if error.is_remote() && error.is_reset() {
        match error.reason() {
            // RFC 9113 8.7: REFUSED_STREAM guarantees the request was not processed.
            // ENHANCE_YOUR_CALM is how nghttp2-based servers turn away new streams over their
            // session memory limit, before any handler runs: slow down and send again.
            Some(h2::Reason::REFUSED_STREAM) => {
                return Failure::Unprocessed {
                    error,
                    calm: false,
                    gone: false,
                };
            }
            Some(h2::Reason::ENHANCE_YOUR_CALM) => {
                return Failure::Unprocessed {
                    error,
                    calm: true,
                    gone: false,
                };
            }
            // Any other reset (CANCEL, INTERNAL_ERROR…) may come after the server processed it.
            _ => return Failure::Lost(error),
        }
    }
    if connection.state.has_gone_away() || gone_away(&connection.send) {
        return Failure::TakenBeforeGoaway(error);
    }
    Failure::Lost(error)
}

/// Whether the connection has received a GOAWAY (h2 keeps it as the connection's error).
fn gone_away(send: &SendRequest<Bytes>) -> bool {
    let mut probe = send.clone();
    let mut gone = false;
    // A fresh handle has no pending stream: `poll_ready` answers at once.
    poll_once(|cx| {
        if let Poll::Ready(Err(e)) = probe.poll_ready(cx) {
            gone = e.is_go_away() && e.is_remote();
        }
    });
    gone
}

/// Runs `f` once with a no-op waker context.
fn poll_once(f: impl FnOnce(&mut std::task::Context<'_>)) {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    f(&mut cx);
}
