//! The independent stand-in: `node/standin.mjs` on Node's own HTTP/2 stack (nghttp2), started
//! as a child process and driven through its plain-HTTP control API on loopback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::{Error, TestCa};

/// One push the Node stand-in processed.
#[derive(Clone, Debug, Deserialize)]
pub struct NodeRecord {
    /// The device token (lower case).
    pub token: String,
    /// The `apns-id` it answered with.
    #[serde(rename = "apnsId")]
    pub apns_id: String,
    /// The status it answered.
    pub status: u16,
    /// Which connection (1, 2, …).
    pub session: u64,
    /// The HTTP/2 stream id.
    pub stream: u32,
    /// When, in milliseconds since the Unix epoch.
    pub at: i64,
    /// Whether the connection presented a client certificate.
    #[serde(rename = "clientCert")]
    pub client_certificate: bool,
}

/// The stand-in's counters (see `node/standin.mjs` for each).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)] // named as in the script
pub struct NodeStats {
    pub sessions: u64,
    pub sessions_closed: u64,
    pub session_errors: u64,
    pub goaways: u64,
    pub idle_closes: u64,
    pub resets: u64,
    pub calm_resets: u64,
    pub limit_drops: u64,
    pub violations: u64,
    pub peak_open: u64,
    pub pings: u64,
    /// Pushes processed (any status).
    pub received: u64,
    /// Pushes answered 200.
    pub accepted: u64,
    /// Distinct tokens answered 200.
    pub distinct_accepted: u64,
    /// `accepted - distinct_accepted`: 200s beyond the first per token.
    pub duplicates: u64,
    /// The last 200, in milliseconds since the Unix epoch (0 if none).
    pub last_accepted_at: i64,
}

/// A running Node stand-in. Killed when dropped.
pub struct NodeStandIn {
    child: Child,
    addr: SocketAddr,
    control: SocketAddr,
    ca_pem: String,
}

impl NodeStandIn {
    /// The script's path (inside this crate).
    #[must_use]
    pub fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node/standin.mjs")
    }

    /// Starts `node` (or `$APNS_STANDIN_NODE`) with `options` (JSON, see the script), requiring
    /// client certificates issued by `client_ca_pem` when given, and otherwise asking for one
    /// and recording whether it came (without checking it).
    ///
    /// # Errors
    /// [`Error::Io`] if Node cannot be started or does not report its ports.
    pub async fn start(options: &serde_json::Value, client_ca_pem: Option<&str>) -> Result<Self, Error> {
        let ca = TestCa::generate("apns stand-in CA")?;
        let server = ca.issue_server(&["127.0.0.1", "localhost"])?;
        let node = std::env::var("APNS_STANDIN_NODE").unwrap_or_else(|_| "node".into());
        let mut command = Command::new(&node);
        command
            .arg(Self::script())
            .env("STANDIN_CERT", &server.certificate_pem)
            .env("STANDIN_KEY", &server.private_key_pem)
            .env("STANDIN_OPTIONS", options.to_string())
            .env("STANDIN_EXIT_WITH_STDIN", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        match client_ca_pem {
            Some(pem) => command.env("STANDIN_CLIENT_CA", pem),
            None => command.env("STANDIN_CLIENT_CERT", "any"),
        };
        let mut child = command.spawn().map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot start {node} (install nodejs): {e}"))
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .map_err(|_| std::io::Error::other("the Node stand-in did not start within 20 s"))??;
        #[derive(Deserialize)]
        struct Ports {
            port: u16,
            control: u16,
        }
        let ports: Ports = serde_json::from_str(&line)
            .map_err(|e| std::io::Error::other(format!("stand-in said {line:?}: {e}")))?;
        Ok(Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], ports.port)),
            control: SocketAddr::from(([127, 0, 0, 1], ports.control)),
            ca_pem: ca.certificate_pem().to_owned(),
        })
    }

    /// The base URL, `https://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The PEM of the CA that issued the stand-in's server certificate.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The counters.
    ///
    /// # Errors
    /// [`Error::Io`] if the control API does not answer.
    pub async fn stats(&self) -> Result<NodeStats, Error> {
        let body = self.call("GET", "/stats", "").await?;
        serde_json::from_str(&body).map_err(|e| std::io::Error::other(e.to_string()).into())
    }

    /// Every processed push, in order.
    ///
    /// # Errors
    /// [`Error::Io`] if the control API does not answer.
    pub async fn records(&self) -> Result<Vec<NodeRecord>, Error> {
        let body = self.call("GET", "/records", "").await?;
        serde_json::from_str(&body).map_err(|e| std::io::Error::other(e.to_string()).into())
    }

    /// Merges `options` into the running stand-in's.
    ///
    /// # Errors
    /// [`Error::Io`] if the control API does not answer.
    pub async fn set_options(&self, options: &serde_json::Value) -> Result<(), Error> {
        self.call("POST", "/options", &options.to_string())
            .await
            .map(drop)
    }

    /// Forgets the records and counters.
    ///
    /// # Errors
    /// [`Error::Io`] if the control API does not answer.
    pub async fn clear(&self) -> Result<(), Error> {
        self.call("POST", "/clear", "").await.map(drop)
    }

    /// Polls the counters until `done` holds, or fails after `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] with the last counters' `accepted` as `seen`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &'static str,
        done: impl Fn(&NodeStats) -> bool,
    ) -> Result<NodeStats, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats().await?;
            if done(&stats) {
                return Ok(stats);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what,
                    wanted: 0,
                    seen: usize::try_from(stats.accepted).unwrap_or(usize::MAX),
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    async fn call(&self, method: &str, path: &str, body: &str) -> Result<String, Error> {
        let mut tcp = TcpStream::connect(self.control).await?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        tcp.read_to_string(&mut response).await?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("no HTTP response from the stand-in"))?;
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            return Err(std::io::Error::other(format!("stand-in answered {head}")).into());
        }
        Ok(body.to_owned())
    }
}
