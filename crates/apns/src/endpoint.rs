//! Where APNs is and how far to trust it: base URL, root certificates, timeouts.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::ServerName;

use crate::Error;

/// Apple's production APNs (`PASSMINT_APNS_URL`'s default). Wallet passes always use it.
pub const PRODUCTION_URL: &str = "https://api.push.apple.com";
/// Apple's development APNs.
pub const SANDBOX_URL: &str = "https://api.sandbox.push.apple.com";

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A large fan-out spreads over a few connections; APNs itself suggests several.
const DEFAULT_MAX_CONNECTIONS: usize = 4;
/// APNs announces 500-1,500; never keep more than this in flight on one connection anyway.
const DEFAULT_STREAMS_PER_CONNECTION: usize = 1000;
const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Retire a connection unused this long, before APNs closes it for idleness.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// An APNs server and the settings shared by every client talking to it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub(crate) url: Arc<str>,
    pub(crate) host: Arc<str>,
    pub(crate) port: u16,
    pub(crate) server_name: ServerName<'static>,
    /// `https://host:port` plus any path prefix, without a trailing slash.
    pub(crate) prefix: Arc<str>,
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) streams_per_connection: usize,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) idle_timeout: Duration,
}

impl Endpoint {
    /// Apple's production server, trusting the Mozilla roots.
    #[must_use]
    pub fn production() -> Self {
        Self::new(PRODUCTION_URL).unwrap_or_else(|_| unreachable!("the production URL is valid"))
    }

    /// A server by base URL (`https://host[:port][/prefix]`), trusting the Mozilla roots.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for anything but an `https` URL with a host and no query.
    pub fn new(base_url: &str) -> Result<Self, Error> {
        let invalid = |problem: &str| Error::InvalidUrl {
            url: base_url.to_owned(),
            problem: problem.to_owned(),
        };
        let uri: http::Uri = base_url.trim().parse().map_err(|e| invalid(&format!("{e}")))?;
        if uri.scheme_str() != Some("https") {
            return Err(invalid("APNs needs an https:// URL"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("user information is not allowed"));
        }
        if uri.query().is_some() {
            return Err(invalid("a query string is not allowed"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let server_name = ServerName::try_from(host.clone())
            .map_err(|e| invalid(&format!("host is not a DNS name or IP address: {e}")))?;
        let path = uri.path().trim_end_matches('/');
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Ok(Self {
            url: base_url.trim().into(),
            port: authority.port_u16().unwrap_or(443),
            prefix: format!("https://{authority}{path}").into(),
            host: host.into(),
            server_name,
            roots: Arc::new(roots),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            streams_per_connection: DEFAULT_STREAMS_PER_CONNECTION,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        })
    }

    /// Also trusts the root certificate(s) in this PEM (`PASSMINT_APNS_CA_FILE`), on top of the
    /// Mozilla roots.
    ///
    /// # Errors
    /// [`Error::ExtraRoots`] if the PEM holds no certificate or one rustls cannot use.
    pub fn with_extra_roots_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certs = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::ExtraRoots(format!("unreadable PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::ExtraRoots(
                "no -----BEGIN CERTIFICATE----- block found".into(),
            ));
        }
        let roots = Arc::make_mut(&mut self.roots);
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| Error::ExtraRoots(format!("unusable root certificate: {e}")))?;
        }
        Ok(self)
    }

    /// The longest one send may take, from waiting for a connection to the last byte of the
    /// answer (default 30 s). A send that takes longer is an [`crate::Outcome::Retry`].
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The longest a TCP connect plus TLS and HTTP/2 handshake may take (default 10 s).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// At most this many HTTP/2 connections per credential (default 4, at least 1). A second one
    /// opens only when every open one is at its stream limit.
    #[must_use]
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// At most this many streams in flight on one connection (default 1,000, at least 1), on top
    /// of the server's `SETTINGS_MAX_CONCURRENT_STREAMS`, whichever is lower.
    #[must_use]
    pub fn with_streams_per_connection(mut self, streams: usize) -> Self {
        self.streams_per_connection = streams.max(1);
        self
    }

    /// HTTP/2 PING every `interval` (default 60 s); a connection whose PING is not answered
    /// within `timeout` (default 10 s) is replaced.
    #[must_use]
    pub fn with_ping(mut self, interval: Duration, timeout: Duration) -> Self {
        self.ping_interval = interval;
        self.ping_timeout = timeout;
        self
    }

    /// A connection without a stream for this long (default 5 minutes) is closed by the client,
    /// so the next push opens a fresh one instead of meeting the server's idle close.
    #[must_use]
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// The base URL as given.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_urls_with_port_and_prefix() {
        let e = Endpoint::new("https://127.0.0.1:8443/apns/").unwrap();
        assert_eq!(&*e.prefix, "https://127.0.0.1:8443/apns");
        assert_eq!(e.port, 8443);
        let p = Endpoint::production();
        assert_eq!(&*p.prefix, "https://api.push.apple.com");
        assert_eq!(p.port, 443);
    }

    #[test]
    fn rejects_plain_http_missing_hosts_and_queries() {
        for bad in [
            "http://api.push.apple.com",
            "api.push.apple.com",
            "https://x/?a=b",
            "",
        ] {
            assert!(
                matches!(Endpoint::new(bad), Err(Error::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn extra_roots_must_contain_a_certificate() {
        let err = Endpoint::production()
            .with_extra_roots_pem(b"garbage")
            .unwrap_err();
        assert!(
            err.to_string().contains("no -----BEGIN CERTIFICATE-----"),
            "{err}"
        );
    }
}
