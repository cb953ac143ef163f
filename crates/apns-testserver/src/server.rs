//! The listener, the HTTP/2 connections, and the shared record of what happened.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::RecvStream;
use h2::server::SendResponse;
use http::{Request, Response, StatusCode};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::client_auth::AnyClientCertificate;
use crate::pki::subject_of;
use crate::{ClientCertificate, Error, RecordedRequest, Reply, TestCa, rules};

/// Read at most this much of a body (APNs's limit is 4 KiB; one more byte shows "too large").
const MAX_BODY: usize = 64 * 1024;

/// Configures a [`TestServer`].
#[derive(Debug, Default)]
pub struct Builder {
    client_auth: ClientAuth,
    max_concurrent_streams: Option<u32>,
    behaviour: Behaviour,
}

/// The ways real APNs pushes back, switched on per server.
#[derive(Clone, Copy, Debug, Default)]
struct Behaviour {
    /// More than this many pushes to one token within the window: `429 TooManyRequests`.
    per_token: Option<(usize, Duration)>,
    /// A connection without a stream for this long gets a GOAWAY and is closed.
    idle_timeout: Option<Duration>,
    /// Every n-th stream is reset unanswered (and unrecorded) with this code.
    reset_every: Option<(u64, h2::Reason)>,
    /// A stream arriving while this many are open on its connection is reset with
    /// `ENHANCE_YOUR_CALM`, unanswered (a session memory limit, as Node's `maxSessionMemory`).
    calm_above: Option<usize>,
}

#[derive(Debug, Default)]
enum ClientAuth {
    #[default]
    None,
    RequireFrom(Vec<u8>),
    AcceptAny,
}

impl Builder {
    /// Requires every client to present a certificate issued by this CA (PEM); the TLS handshake
    /// fails otherwise, as with APNs certificate authentication. The certificate must chain to
    /// the CA through what the client sends, and its extended key usage (if any) must include
    /// `clientAuth` (webpki's rules).
    #[must_use]
    pub fn require_client_certificate(mut self, ca_pem: impl AsRef<[u8]>) -> Self {
        self.client_auth = ClientAuth::RequireFrom(ca_pem.as_ref().to_vec());
        self
    }

    /// Asks every client for a certificate and accepts whichever it presents (the client must
    /// still prove it holds the key), recording it per request; clients without one may connect
    /// and need a bearer token. For tests that check *which* certificate a sender used.
    #[must_use]
    pub fn accept_any_client_certificate(mut self) -> Self {
        self.client_auth = ClientAuth::AcceptAny;
        self
    }

    /// The `SETTINGS_MAX_CONCURRENT_STREAMS` announced to clients (default 1000, like APNs).
    #[must_use]
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = Some(streams);
        self
    }

    /// Answers `429 TooManyRequests` to a push when `max` pushes to the same device token were
    /// already accepted within `window`, as APNs does per token.
    #[must_use]
    pub fn too_many_requests_per_token(mut self, max: usize, window: Duration) -> Self {
        self.behaviour.per_token = Some((max, window));
        self
    }

    /// Closes connections that had no stream for `idle` (GOAWAY, then close), as APNs does.
    #[must_use]
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.behaviour.idle_timeout = Some(idle);
        self
    }

    /// Resets every `n`-th stream (counted over the server) without answering or recording it,
    /// as an overloaded server sheds work.
    #[must_use]
    pub fn reset_every(mut self, n: u64, reason: h2::Reason) -> Self {
        self.behaviour.reset_every = Some((n.max(1), reason));
        self
    }

    /// Resets a stream with `ENHANCE_YOUR_CALM` (unanswered, unrecorded) when `open` streams are
    /// already open on its connection: a session memory limit below the announced stream limit.
    #[must_use]
    pub fn calm_above_open_streams(mut self, open: usize) -> Self {
        self.behaviour.calm_above = Some(open);
        self
    }

    /// Generates the CA and server certificate, binds `127.0.0.1:0` and starts serving on the
    /// current Tokio runtime. The server stops when the [`TestServer`] is dropped.
    ///
    /// # Errors
    /// [`Error`] if certificates, TLS or the socket fail.
    pub async fn start(self) -> Result<TestServer, Error> {
        let ca = TestCa::generate("apns-testserver CA")?;
        let server_cert = ca.issue_server(&["127.0.0.1", "localhost"])?;
        let acceptor = TlsAcceptor::from(Arc::new(tls_config(&server_cert, &self.client_auth)?));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = watch::channel(());
        let settings = Settings {
            max_concurrent_streams: self.max_concurrent_streams.unwrap_or(1000),
            behaviour: self.behaviour,
        };
        let accept = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), stopped, settings));
        Ok(TestServer {
            addr,
            ca_pem: ca.certificate_pem().to_owned(),
            shared,
            _stop: stop,
            accept,
        })
    }
}

/// A running APNs look-alike on `127.0.0.1`. See the crate documentation.
pub struct TestServer {
    addr: SocketAddr,
    ca_pem: String,
    shared: Arc<Shared>,
    /// Dropping it tells every connection task to stop.
    _stop: watch::Sender<()>,
    accept: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[derive(Clone, Copy)]
struct Settings {
    max_concurrent_streams: u32,
    behaviour: Behaviour,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Woken whenever a request is recorded or a connection accepted.
    changed: Notify,
}

#[derive(Default)]
struct State {
    requests: Vec<RecordedRequest>,
    connections: u64,
    closed_connections: u64,
    handshake_failures: u64,
    queue: VecDeque<Reply>,
    per_token: HashMap<String, VecDeque<Reply>>,
    apns_ids: u64,
    /// Streams received (answered or not), to pick every n-th for a reset.
    streams: u64,
    /// Streams reset without an answer (never recorded as requests).
    resets: u64,
    /// The most streams open at once on one connection.
    peak_open_streams: usize,
    idle_closes: u64,
    /// Acceptance times of recent pushes per token, for the 429 limit.
    accepted: HashMap<String, VecDeque<Instant>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TestServer {
    /// A server without client-certificate authentication (token authentication only).
    ///
    /// # Errors
    /// As [`Builder::start`].
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// Options for a server.
    #[must_use]
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The base URL, `https://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the CA that issued the server's certificate: trust it in the client.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Queues `reply` for the next request (of any token without a script of its own).
    pub fn reply(&self, reply: Reply) {
        self.shared.state().queue.push_back(reply);
    }

    /// Queues `reply` for the next request to `device_token` (case-insensitive).
    pub fn reply_for(&self, device_token: &str, reply: Reply) {
        self.shared
            .state()
            .per_token
            .entry(device_token.to_ascii_lowercase())
            .or_default()
            .push_back(reply);
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// How many requests have arrived.
    #[must_use]
    pub fn request_count(&self) -> usize {
        self.shared.state().requests.len()
    }

    /// How many TCP connections have been accepted.
    #[must_use]
    pub fn connection_count(&self) -> u64 {
        self.shared.state().connections
    }

    /// How many connections have ended (closed by either side, or failed their handshake).
    #[must_use]
    pub fn closed_connection_count(&self) -> u64 {
        self.shared.state().closed_connections
    }

    /// How many streams were reset unanswered (see [`Builder::reset_every`] and
    /// [`Builder::calm_above_open_streams`]).
    #[must_use]
    pub fn reset_count(&self) -> u64 {
        self.shared.state().resets
    }

    /// The most streams that were open at once on one connection.
    #[must_use]
    pub fn peak_open_streams(&self) -> usize {
        self.shared.state().peak_open_streams
    }

    /// How many connections the server closed for idleness.
    #[must_use]
    pub fn idle_close_count(&self) -> u64 {
        self.shared.state().idle_closes
    }

    /// How many TLS handshakes failed (untrusted or missing client certificate, no ALPN `h2`…).
    #[must_use]
    pub fn handshake_failures(&self) -> u64 {
        self.shared.state().handshake_failures
    }

    /// Waits until at least `n` requests have arrived, then returns all of them.
    ///
    /// # Errors
    /// [`Error::Timeout`] if they have not arrived within `timeout`.
    pub async fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>, Error> {
        self.wait(timeout, "requests", n, |state| state.requests.len())
            .await
            .map(|()| self.requests())
    }

    /// Waits until at least `n` TCP connections have been accepted.
    ///
    /// # Errors
    /// [`Error::Timeout`] if they have not been within `timeout`.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) -> Result<(), Error> {
        self.wait(timeout, "connections", n, |state| {
            usize::try_from(state.connections).unwrap_or(usize::MAX)
        })
        .await
    }

    /// Waits until at least `n` connections have ended (after a [`Reply::GoAway`] or
    /// [`Reply::DropConnection`], say).
    ///
    /// # Errors
    /// [`Error::Timeout`] if they have not within `timeout`.
    pub async fn wait_for_closed_connections(&self, n: usize, timeout: Duration) -> Result<(), Error> {
        self.wait(timeout, "closed connections", n, |state| {
            usize::try_from(state.closed_connections).unwrap_or(usize::MAX)
        })
        .await
    }

    async fn wait(
        &self,
        timeout: Duration,
        what: &'static str,
        wanted: usize,
        count: impl Fn(&State) -> usize,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            // Register before looking, so a change between the look and the wait is not lost.
            changed.as_mut().enable();
            let seen = count(&self.shared.state());
            if seen >= wanted {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let seen = count(&self.shared.state());
                return Err(Error::Timeout {
                    what,
                    wanted,
                    seen,
                    waited: timeout,
                });
            }
        }
    }
}

fn tls_config(
    server_cert: &crate::IssuedCertificate,
    client_auth: &ClientAuth,
) -> Result<rustls::ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = match client_auth {
        ClientAuth::RequireFrom(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut &pem[..]) {
                let cert = cert.map_err(|e| Error::Tls(format!("client CA PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| Error::Tls(format!("client CA: {e}")))?;
            }
            if roots.is_empty() {
                return Err(Error::Tls("the client CA PEM holds no certificate".into()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        ClientAuth::AcceptAny => {
            builder.with_client_cert_verifier(Arc::new(AnyClientCertificate::new(&provider)))
        }
        ClientAuth::None => builder.with_no_client_auth(),
    };
    let chain = rustls_pemfile::certs(&mut server_cert.certificate_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut server_cert.private_key_pem.as_bytes())
        .map_err(|e| Error::Tls(e.to_string()))?
        .ok_or_else(|| Error::Tls("server key missing".into()))?;
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    stopped: watch::Receiver<()>,
    settings: Settings,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let id = {
            let mut state = shared.state();
            state.connections += 1;
            state.connections
        };
        shared.changed.notify_waiters();
        let connection = serve_connection(tcp, acceptor.clone(), shared.clone(), id, settings);
        let mut stopped = stopped.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = connection => {}
                _ = stopped.changed() => return,
            }
            shared.state().closed_connections += 1;
            shared.changed.notify_waiters();
        });
    }
}

/// What a request handler asks of its connection.
enum Control {
    Drop,
    GoAway,
}

struct Connection {
    id: u64,
    client_certificate: Option<ClientCertificate>,
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    behaviour: Behaviour,
    open: std::sync::atomic::AtomicUsize,
    /// Woken when a stream ends, for the idle timer.
    idle: Notify,
}

/// Counts a stream as open on its connection while it lives.
struct OpenStream(Arc<Connection>);

impl OpenStream {
    fn new(connection: Arc<Connection>) -> Self {
        let open = connection.open.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
        let mut state = connection.shared.state();
        state.peak_open_streams = state.peak_open_streams.max(open);
        drop(state);
        Self(connection)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        self.0.idle.notify_waiters();
    }
}

async fn serve_connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    id: u64,
    settings: Settings,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match acceptor.accept(tcp).await {
        Ok(tls) if tls.get_ref().1.alpn_protocol() == Some(b"h2") => tls,
        _ => {
            shared.state().handshake_failures += 1;
            shared.changed.notify_waiters();
            return;
        }
    };
    let client_certificate = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|der| ClientCertificate {
            der: der.to_vec(),
            subject: subject_of(der).unwrap_or_default(),
        });
    let Ok(mut h2) = h2::server::Builder::new()
        .max_concurrent_streams(settings.max_concurrent_streams)
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .handshake::<_, Bytes>(tls)
        .await
    else {
        return;
    };
    let (control, mut controls) = mpsc::unbounded_channel();
    let connection = Arc::new(Connection {
        id,
        client_certificate,
        shared,
        control,
        behaviour: settings.behaviour,
        open: std::sync::atomic::AtomicUsize::new(0),
        idle: Notify::new(),
    });
    let idle_timeout = settings.behaviour.idle_timeout.unwrap_or(Duration::MAX);
    let far = || Instant::now() + Duration::from_secs(86_400 * 365);
    let mut idle_at = Instant::now().checked_add(idle_timeout).unwrap_or_else(far);
    let mut closing = false;
    loop {
        let ended = connection.idle.notified();
        tokio::select! {
            accepted = h2.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    let open = OpenStream::new(connection.clone());
                    tokio::spawn(handle(request, respond, open));
                }
                _ => break,
            },
            Some(control) = controls.recv() => match control {
                // Dropping the h2 connection drops the TLS stream and so closes the socket.
                Control::Drop => return,
                Control::GoAway => h2.graceful_shutdown(),
            },
            () = ended => {}
            () = tokio::time::sleep_until(idle_at), if !closing => {
                if connection.open.load(std::sync::atomic::Ordering::Acquire) == 0 {
                    closing = true;
                    connection.shared.state().idle_closes += 1;
                    h2.graceful_shutdown();
                }
            }
        }
        if connection.open.load(std::sync::atomic::Ordering::Acquire) > 0 {
            idle_at = Instant::now().checked_add(idle_timeout).unwrap_or_else(far);
        }
    }
}

/// Whether APNs would turn this stream away unanswered: every n-th stream, or one over the
/// connection's memory limit.
fn shed(connection: &Connection) -> Option<h2::Reason> {
    let mut state = connection.shared.state();
    state.streams += 1;
    let open = connection.open.load(std::sync::atomic::Ordering::Acquire);
    let reason = match connection.behaviour {
        Behaviour {
            calm_above: Some(limit),
            ..
        } if open > limit => Some(h2::Reason::ENHANCE_YOUR_CALM),
        Behaviour {
            reset_every: Some((n, reason)),
            ..
        } if state.streams.is_multiple_of(n) => Some(reason),
        _ => None,
    };
    if reason.is_some() {
        state.resets += 1;
    }
    reason
}

/// `429 TooManyRequests` when the token already had its share of pushes in the window.
fn too_many(state: &mut State, behaviour: &Behaviour, token: &str) -> Option<Reply> {
    let (max, window) = behaviour.per_token?;
    let now = Instant::now();
    let recent = state.accepted.entry(token.to_owned()).or_default();
    while recent.front().is_some_and(|t| now.duration_since(*t) > window) {
        recent.pop_front();
    }
    if recent.len() >= max {
        return Some(Reply::status(429, "TooManyRequests"));
    }
    recent.push_back(now);
    None
}

async fn handle(request: Request<RecvStream>, mut respond: SendResponse<Bytes>, open: OpenStream) {
    let connection = &open.0;
    if let Some(reason) = shed(connection) {
        respond.send_reset(reason);
        connection.shared.changed.notify_waiters();
        return;
    }
    let (parts, mut received) = request.into_parts();
    let mut body = BytesMut::new();
    while let Some(chunk) = received.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = received.flow_control().release_capacity(chunk.len());
        if body.len() <= MAX_BODY {
            body.extend_from_slice(&chunk);
        }
    }
    let body = body.freeze();
    let path = parts.uri.path().to_owned();
    let device_token = rules::device_token(&path).map(str::to_owned);
    let checked = rules::check(
        &parts.method,
        &path,
        &parts.headers,
        &body,
        connection.client_certificate.is_some(),
    );
    let (reply, apns_id) = {
        let mut state = connection.shared.state();
        let reply = checked.unwrap_or_else(|| {
            let token = device_token.as_deref().unwrap_or_default().to_ascii_lowercase();
            state
                .per_token
                .get_mut(&token)
                .and_then(VecDeque::pop_front)
                .or_else(|| state.queue.pop_front())
                .or_else(|| too_many(&mut state, &connection.behaviour, &token))
                .unwrap_or(Reply::Success)
        });
        state.apns_ids += 1;
        let apns_id = parts
            .headers
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .map_or_else(
                || format!("00000000-0000-4000-8000-{:012x}", state.apns_ids),
                str::to_owned,
            );
        state.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path,
            device_token,
            headers: parts.headers,
            body,
            client_certificate: connection.client_certificate.clone(),
            connection: connection.id,
            reply: reply.clone(),
        });
        (reply, apns_id)
    };
    connection.shared.changed.notify_waiters();
    let answer = |status: StatusCode| {
        Response::builder()
            .status(status)
            .header("apns-id", apns_id.as_str())
    };
    match reply {
        Reply::Success => {
            if let Ok(response) = answer(StatusCode::OK).body(()) {
                let _ = respond.send_response(response, true);
            }
        }
        Reply::GoAway => {
            if let Ok(response) = answer(StatusCode::OK).body(()) {
                let _ = respond.send_response(response, true);
            }
            let _ = connection.control.send(Control::GoAway);
        }
        Reply::Status {
            status,
            reason,
            timestamp,
            retry_after,
        } => {
            let mut json = serde_json::json!({ "reason": reason });
            if let Some(timestamp) = timestamp {
                json["timestamp"] = timestamp.into();
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut builder = answer(status).header("content-type", "application/json");
            if let Some(seconds) = retry_after {
                builder = builder.header("retry-after", seconds);
            }
            if let Ok(response) = builder.body(())
                && let Ok(mut stream) = respond.send_response(response, false)
            {
                let _ = stream.send_data(Bytes::from(json.to_string()), true);
            }
        }
        Reply::DropConnection => {
            let _ = connection.control.send(Control::Drop);
        }
        Reply::NoAnswer => {
            // Hold the stream open until the client resets it or the connection ends.
            let _ = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
        }
    }
}
