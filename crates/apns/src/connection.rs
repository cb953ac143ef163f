//! Opening one HTTP/2-over-TLS connection to APNs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use rustls::ClientConfig;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::credential::{Auth, Credential, provider};
use crate::{Endpoint, Error};

/// Flow-control windows: generous, so answers never wait for a WINDOW_UPDATE.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 1 << 24;

/// Streams opened before the server announces its limit (APNs usually allows 1,000).
const INITIAL_STREAMS: usize = 100;

/// Opens connections for one credential to one endpoint.
pub(crate) struct Connector {
    tls: TlsConnector,
    endpoint: Endpoint,
}

/// A live HTTP/2 connection: a handle to open streams on, and what the client knows about it.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) send: SendRequest<Bytes>,
    pub(crate) id: u64,
    pub(crate) state: Arc<ConnectionState>,
}

/// What every user of one connection shares: whether it still runs, whether it is winding
/// down, how many of our streams are open on it, and our own stream cap after the server asked
/// us to calm down.
pub(crate) struct ConnectionState {
    alive: AtomicBool,
    draining: AtomicBool,
    /// The server sent a GOAWAY (seen through one of our streams).
    goaway: AtomicBool,
    in_flight: AtomicUsize,
    /// Lowered on `ENHANCE_YOUR_CALM`, raised back one stream per answer.
    calm_limit: AtomicUsize,
    /// Configured streams-per-connection cap (the ceiling `calm_limit` grows back to).
    ceiling: usize,
    last_used: Mutex<Instant>,
}

impl ConnectionState {
    fn new(ceiling: usize) -> Self {
        Self {
            alive: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            goaway: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            calm_limit: AtomicUsize::new(ceiling),
            ceiling,
            last_used: Mutex::new(Instant::now()),
        }
    }

    /// Whether the driver still runs and nothing said to stop using it.
    pub(crate) fn usable(&self) -> bool {
        self.alive.load(Ordering::Acquire) && !self.draining.load(Ordering::Acquire)
    }

    /// No new streams on it (GOAWAY seen, idle, a request timed out); open ones finish.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// A GOAWAY arrived: no new streams; the streams at or below its last-stream-id are the
    /// server's to answer.
    pub(crate) fn went_away(&self) {
        self.goaway.store(true, Ordering::Release);
        self.drain();
    }

    pub(crate) fn has_gone_away(&self) -> bool {
        self.goaway.load(Ordering::Acquire)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Takes one stream slot if fewer than `limit` are in use.
    pub(crate) fn try_take(&self, limit: usize) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        *self.last_used.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// Our cap for this connection: the configured one, lowered while the server is overloaded.
    pub(crate) fn own_limit(&self) -> usize {
        self.calm_limit.load(Ordering::Acquire)
    }

    /// The server said `ENHANCE_YOUR_CALM` (or shed a stream): halve what we keep in flight.
    pub(crate) fn calm_down(&self) {
        let _ = self
            .calm_limit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some((n / 2).max(1)));
    }

    /// An answer came back: grow the cap again, one stream at a time (additive increase).
    pub(crate) fn answered(&self) {
        let ceiling = self.ceiling;
        let _ = self
            .calm_limit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < ceiling).then_some(n + 1)
            });
    }

    fn idle_for(&self) -> Duration {
        if self.in_flight() > 0 {
            return Duration::ZERO;
        }
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }
}

/// How a connection keeps itself healthy: PING every `interval` (a dead peer is noticed within
/// `timeout`), and retire it after `idle` without a stream, before the server's idle close.
#[derive(Clone)]
pub(crate) struct Keepalive {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) idle: Duration,
    /// Called with the connection id when it should no longer be handed out.
    pub(crate) retire: Arc<dyn Fn(u64) + Send + Sync>,
}

/// Presents the same certificate whatever the server asks for: APNs trusts Apple's own CA and
/// its `CertificateRequest` hints would not match a test CA anyway.
#[derive(Debug)]
struct AlwaysPresent(Arc<CertifiedKey>);

impl ResolvesClientCert for AlwaysPresent {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl Connector {
    pub(crate) fn new(endpoint: &Endpoint, credential: &Credential) -> Result<Self, Error> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(endpoint.roots.clone());
        let mut config = match &credential.auth {
            Auth::Certificate(key) => builder.with_client_cert_resolver(Arc::new(AlwaysPresent(key.clone()))),
            Auth::Token(_) => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            endpoint: endpoint.clone(),
        })
    }

    /// TCP connect, TLS handshake (ALPN `h2`), HTTP/2 handshake; spawns the connection driver.
    /// The caller bounds the time this takes.
    pub(crate) async fn connect(
        &self,
        id: u64,
        streams_per_connection: usize,
        keepalive: Keepalive,
    ) -> Result<Connection, String> {
        let (host, port) = (&*self.endpoint.host, self.endpoint.port);
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("TCP connect to {host}:{port}: {e}"))?;
        // Pushes are tiny: send them now rather than batching for 40 ms.
        let _ = tcp.set_nodelay(true);
        let tls = self
            .tls
            .connect(self.endpoint.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port}: {e}"))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(format!("{host}:{port} did not agree to HTTP/2 (ALPN h2)"));
        }
        let (send, driver) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            // Until the server's SETTINGS arrive, open at most this many streams, so a burst on a
            // cold connection is not refused wholesale by a server with a lower limit.
            .initial_max_send_streams(INITIAL_STREAMS)
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(|e| format!("HTTP/2 handshake with {host}:{port}: {e}"))?;
        let mut driver = driver;
        let ping_pong = driver.ping_pong();
        let state = Arc::new(ConnectionState::new(streams_per_connection.max(1)));
        let flag = state.clone();
        let retire = keepalive.retire.clone();
        let (ended_tx, ended) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let result = driver.await;
            if let Err(e) = &result {
                tracing::debug!(connection = id, error = %e, "APNs connection ended");
            }
            flag.alive.store(false, Ordering::Release);
            retire(id);
            let _ = ended_tx.send(result.err().map(|e| e.to_string()));
        });
        let Some(mut ping_pong) = ping_pong else {
            return Err("h2 gave no PING handle".into());
        };
        // The server's SETTINGS are its first frame: once our PING is answered, h2 knows its
        // SETTINGS_MAX_CONCURRENT_STREAMS, so no push is queued against a guessed limit.
        if let Err(e) = ping_pong.ping(h2::Ping::opaque()).await {
            // The connection ended: its driver knows why (a TLS alert refusing our client
            // certificate arrives here with TLS 1.3).
            let why = match tokio::time::timeout(Duration::from_secs(1), ended).await {
                Ok(Ok(Some(problem))) => problem,
                _ => e.to_string(),
            };
            return Err(format!("HTTP/2 connection to {host}:{port}: {why}"));
        }
        tokio::spawn(keep_alive(id, ping_pong, state.clone(), keepalive));
        tracing::debug!(connection = id, %host, port, "APNs connection opened");
        Ok(Connection { send, id, state })
    }
}

/// PINGs the server while the connection is in use and retires it once it has been idle for
/// `keepalive.idle`: a connection the server is about to close for idleness is replaced by a
/// fresh one on the next push instead of racing the server's GOAWAY.
async fn keep_alive(id: u64, mut ping_pong: h2::PingPong, state: Arc<ConnectionState>, keepalive: Keepalive) {
    let mut next_ping = Instant::now() + keepalive.interval;
    loop {
        let idle_left = keepalive.idle.saturating_sub(state.idle_for());
        let wake = next_ping.min(Instant::now() + idle_left);
        tokio::time::sleep_until(wake).await;
        if !state.usable() {
            return;
        }
        if state.idle_for() >= keepalive.idle {
            tracing::debug!(
                connection = id,
                "APNs connection idle; retiring it before the server closes it"
            );
            state.drain();
            (keepalive.retire)(id);
            return;
        }
        if Instant::now() < next_ping {
            continue;
        }
        match tokio::time::timeout(keepalive.timeout, ping_pong.ping(h2::Ping::opaque())).await {
            Ok(Ok(_pong)) => next_ping = Instant::now() + keepalive.interval,
            Ok(Err(e)) => {
                tracing::debug!(connection = id, error = %e, "APNs PING failed");
                state.drain();
                (keepalive.retire)(id);
                return;
            }
            Err(_) => {
                tracing::warn!(
                    connection = id,
                    "APNs did not answer a PING in time; using a new connection"
                );
                state.drain();
                (keepalive.retire)(id);
                return;
            }
        }
    }
}

/// TLS alerts by which a server says it refuses our client certificate.
const CERTIFICATE_ALERTS: &[rustls::AlertDescription] = &[
    rustls::AlertDescription::BadCertificate,
    rustls::AlertDescription::UnsupportedCertificate,
    rustls::AlertDescription::CertificateRevoked,
    rustls::AlertDescription::CertificateExpired,
    rustls::AlertDescription::CertificateUnknown,
    rustls::AlertDescription::UnknownCA,
    rustls::AlertDescription::AccessDenied,
    rustls::AlertDescription::CertificateRequired,
];

/// Whether a connection failure is the server refusing the client certificate (expired,
/// revoked, from an unknown CA…), as opposed to a network problem worth retrying.
///
/// `h2` keeps only the text of I/O errors raised while reading a stream, so this matches rustls's
/// message (`received fatal alert: <Alert>`) rather than the error type; a unit test pins the
/// format.
pub(crate) fn refused_certificate_alert(problem: &str) -> Option<rustls::AlertDescription> {
    CERTIFICATE_ALERTS
        .iter()
        .copied()
        .find(|alert| problem.contains(&rustls::Error::AlertReceived(*alert).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_refused_client_certificate_in_an_io_error_message() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA),
        );
        let text = format!("TLS handshake with x:443: {io}");
        assert_eq!(
            refused_certificate_alert(&text),
            Some(rustls::AlertDescription::UnknownCA)
        );
        let other = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure).to_string();
        assert_eq!(refused_certificate_alert(&other), None);
        assert_eq!(refused_certificate_alert("connection reset by peer"), None);
    }
}
