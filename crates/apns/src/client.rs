//! Sending one notification, over a connection shared by every clone of the client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderName, HeaderValue, Method, Request};
use tokio::time::{Instant, timeout, timeout_at};

use crate::connection::{Connection, Connector, refused_certificate_alert};
use crate::credential::Auth;
use crate::jwt::TokenSigner;
use crate::{Credential, DeviceToken, Endpoint, Error, Notification, Outcome, Reason, RetryReason};

/// Error bodies are a few dozen bytes; keep at most this much of anything bigger.
const MAX_BODY: usize = 16 * 1024;

/// An APNs client for one credential: one HTTP/2 connection, opened on first use, reopened when
/// it ends, shared by every clone. See the crate documentation for the concurrency model.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    credential: Credential,
    connector: Connector,
    token: Option<Arc<TokenSigner>>,
    current: Mutex<Option<Connection>>,
    /// Held while connecting, so a burst of sends on a cold client opens one connection.
    connecting: tokio::sync::Mutex<()>,
    /// Connection attempts finished so far, and why the last one failed (if it did).
    attempts: Mutex<(u64, Option<String>)>,
    connections_opened: AtomicU64,
}

/// An exchange that failed, whether APNs can be sure not to have processed it, and whether the
/// connection is done for.
struct Failure {
    error: h2::Error,
    unprocessed: bool,
    connection_failed: bool,
}

impl Failure {
    /// Before the request left: always safe to send again.
    fn unsent(error: h2::Error) -> Self {
        Self {
            error,
            unprocessed: true,
            connection_failed: true,
        }
    }

    /// After the request left: safe to send again only if the server said it did not process it
    /// (`REFUSED_STREAM`, or a stream above a graceful GOAWAY's last-stream-id).
    fn sent(error: h2::Error) -> Self {
        let unprocessed = error.reason() == Some(h2::Reason::REFUSED_STREAM)
            || (error.is_go_away() && error.is_remote() && error.reason() == Some(h2::Reason::NO_ERROR));
        // A reset of this stream alone (REFUSED_STREAM included) leaves the connection usable.
        let connection_failed = error.is_io() || error.is_go_away();
        Self {
            error,
            unprocessed,
            connection_failed,
        }
    }
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
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                attempts: Mutex::new((0, None)),
                connections_opened: AtomicU64::new(0),
            }),
        })
    }

    /// Sends one notification to one device and says what to do next. Never fails: transport
    /// problems and timeouts are [`Outcome::Retry`]. A request the server provably did not
    /// process (connection already closed, GOAWAY, `REFUSED_STREAM`) is re-sent once on a new
    /// connection before giving up. The whole call is bounded by the endpoint's request timeout.
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
        for attempt in 0..2 {
            let connection = match timeout_at(deadline, self.connection()).await {
                Ok(Ok(connection)) => connection,
                Ok(Err(problem)) => return connection_failed(problem),
                Err(_) => return timed_out(),
            };
            let request = match build_request(&uri, notification, authorization.as_ref()) {
                Ok(request) => request,
                Err(e) => return Outcome::connection(format!("could not build the request: {e}")),
            };
            let exchange = exchange(connection.send.clone(), request, notification.payload.clone());
            match timeout_at(deadline, exchange).await {
                Ok(Ok(answer)) => return self.judge(answer, &connection, authorization.as_ref()),
                Ok(Err(failure)) => {
                    if failure.connection_failed {
                        self.forget(&connection);
                    }
                    if failure.unprocessed && attempt == 0 {
                        tracing::debug!(error = %failure.error, "APNs did not process the push; sending it again");
                        continue;
                    }
                    return connection_failed(failure.error.to_string());
                }
                Err(_) => {
                    // A connection that lets a request time out may be silently dead (a NAT
                    // forgot it): the next send opens a fresh one. Streams still in flight on it
                    // finish there.
                    self.forget(&connection);
                    return timed_out();
                }
            }
        }
        Outcome::connection("the connection closed twice before the push was sent")
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
                Reason::IdleTimeout | Reason::Shutdown => self.forget(connection),
                _ => {}
            }
        }
        outcome
    }

    fn current(&self) -> MutexGuard<'_, Option<Connection>> {
        self.inner.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live_connection(&self) -> Option<Connection> {
        self.current().as_ref().filter(|c| c.is_alive()).cloned()
    }

    /// The current connection, opening one if there is none or it ended.
    async fn connection(&self) -> Result<Connection, String> {
        if let Some(connection) = self.live_connection() {
            return Ok(connection);
        }
        let attempts_before = self.attempts().0;
        let _connecting = self.inner.connecting.lock().await;
        if let Some(connection) = self.live_connection() {
            return Ok(connection);
        }
        // An attempt made while we waited failed: share its failure rather than have every
        // waiting push hammer a server that is down, one connect timeout after another.
        if let (attempts, Some(problem)) = &*self.attempts()
            && *attempts != attempts_before
        {
            return Err(problem.clone());
        }
        let id = self.inner.connections_opened.load(Ordering::Relaxed) + 1;
        let result = timeout(
            self.inner.endpoint.connect_timeout,
            self.inner.connector.connect(id),
        )
        .await
        .unwrap_or_else(|_| Err(format!("connecting to {} timed out", self.inner.endpoint.url)));
        let mut attempts = self.attempts();
        attempts.0 += 1;
        attempts.1 = result.as_ref().err().cloned();
        drop(attempts);
        let connection = result?;
        self.inner.connections_opened.fetch_add(1, Ordering::Relaxed);
        *self.current() = Some(connection.clone());
        Ok(connection)
    }

    fn attempts(&self) -> MutexGuard<'_, (u64, Option<String>)> {
        self.inner.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops handing out `connection` (if it is still the current one).
    fn forget(&self, connection: &Connection) {
        let mut current = self.current();
        if current.as_ref().is_some_and(|c| c.id == connection.id) {
            *current = None;
        }
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
/// else is worth retrying.
fn connection_failed(problem: String) -> Outcome {
    match refused_certificate_alert(&problem) {
        Some(alert) => {
            tracing::warn!(%problem, ?alert, "APNs refused the client certificate");
            Outcome::CredentialRejected {
                reason: Reason::BadCertificate,
            }
        }
        None => Outcome::connection(problem),
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

async fn exchange(send: SendRequest<Bytes>, request: Request<()>, body: Bytes) -> Result<Answer, Failure> {
    let mut send = send.ready().await.map_err(Failure::unsent)?;
    let (response, mut stream) = send
        .send_request(request, body.is_empty())
        .map_err(Failure::unsent)?;
    if !body.is_empty() {
        stream.send_data(body, true).map_err(Failure::sent)?;
    }
    let response = response.await.map_err(Failure::sent)?;
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
        let chunk = chunk.map_err(Failure::sent)?;
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
