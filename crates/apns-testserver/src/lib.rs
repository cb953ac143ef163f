//! A local stand-in for Apple's push service, for tests of APNs senders.
//!
//! It speaks what APNs speaks: HTTP/2 over TLS with ALPN `h2` only, `POST /3/device/<token>`,
//! JSON `{"reason": …}` error bodies, `405 MethodNotAllowed`, `404 BadPath`, `400 MissingTopic` and
//! the other request checks. Its server certificate (for `127.0.0.1` and `localhost`) is issued by
//! a throwaway CA generated at start; clients trust it through [`TestServer::ca_pem`]. It can
//! require a client certificate issued by a CA you give (Wallet's pass type certificate), and
//! records the certificate each request came with.
//!
//! Every request is recorded ([`RecordedRequest`]); tests wait for them with
//! [`TestServer::wait_for_requests`] (a deadline, no sleeping). Answers are scripted per device
//! token or in one global queue ([`Reply`]): a status and reason, a dropped connection, a GOAWAY,
//! or no answer at all; without a script every valid request gets `200` and an `apns-id`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), apns_testserver::Error> {
//! use apns_testserver::{Reply, TestCa, TestServer};
//! let pass_ca = TestCa::generate("Test WWDR")?;
//! let pass_cert = pass_ca.issue_client("Pass Type ID: pass.com.example")?;
//! let server = TestServer::builder().require_client_certificate(pass_ca.certificate_pem()).start().await?;
//! server.reply_for(&"ab".repeat(32), Reply::unregistered(1_700_000_000_000));
//! // … point the sender at server.url(), trusting server.ca_pem() …
//! let requests = server.wait_for_requests(1, std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod client_auth;
mod error;
mod node;
mod pki;
mod record;
mod reply;
mod rules;
mod server;

pub use error::Error;
/// HTTP/2 error codes, for [`Builder::reset_every`].
pub use h2::Reason as ResetReason;
pub use node::{NodeRecord, NodeStandIn, NodeStats};
pub use pki::{IssuedCertificate, TestCa};
pub use record::{ClientCertificate, RecordedRequest};
pub use reply::Reply;
pub use server::{Builder, TestServer};
