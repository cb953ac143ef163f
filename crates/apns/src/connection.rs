//! Opening one HTTP/2-over-TLS connection to APNs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use h2::client::SendRequest;
use rustls::ClientConfig;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
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

/// A live HTTP/2 connection: a handle to open streams on, and whether its driver task still runs.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) send: SendRequest<Bytes>,
    pub(crate) id: u64,
    alive: Arc<AtomicBool>,
}

impl Connection {
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
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
    pub(crate) async fn connect(&self, id: u64) -> Result<Connection, String> {
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
        let alive = Arc::new(AtomicBool::new(true));
        let flag = alive.clone();
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!(connection = id, error = %e, "APNs connection ended");
            }
            flag.store(false, Ordering::Release);
        });
        tracing::debug!(connection = id, %host, port, "APNs connection opened");
        Ok(Connection { send, id, alive })
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
