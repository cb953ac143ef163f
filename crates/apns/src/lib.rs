//! An HTTP/2 client for the Apple Push Notification service (APNs), shaped for Apple Wallet.
//!
//! Wallet tells a device that a pass changed with an empty background push:
//! `POST {base}/3/device/{token}` with `apns-topic: <passTypeIdentifier>`,
//! `apns-push-type: background`, `apns-priority: 5` and the body `{}`. That is what
//! [`Notification::wallet`] builds; every field can be changed.
//!
//! ```no_run
//! # async fn demo(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), apns::Error> {
//! let pool = apns::Pool::new(apns::Endpoint::production());
//! let client = pool.get_or_insert_with("template-1:ab12…", || {
//!     apns::Credential::from_pem(cert_pem, key_pem)
//! })?;
//! let token = apns::DeviceToken::parse("a3b1…")?;
//! let notification = apns::Notification::wallet("pass.com.example.ticket")?;
//! match client.send(&token, &notification).await {
//!     apns::Outcome::Delivered { .. } => {}
//!     apns::Outcome::Retry { retry_after, .. } => { /* back off, try again later */ }
//!     apns::Outcome::Unregistered { timestamp, .. } => { /* delete the registration unless newer */ }
//!     apns::Outcome::BadToken { .. } => { /* delete the registration */ }
//!     apns::Outcome::CredentialRejected { .. } => { /* stop using this certificate */ }
//!     apns::Outcome::Rejected { .. } => { /* give up on this push */ }
//! }
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! * **Transport: `h2` directly over `tokio-rustls`.** hyper's HTTP/2 client is itself a layer
//!   over `h2` that adds a dispatch task and channel per connection and hides *why* a request
//!   failed. Talking to `h2` directly gives the two things a push sender needs: the exact stream
//!   error (a `REFUSED_STREAM` or a stream above a GOAWAY's last-stream-id was never processed and
//!   is re-sent at once on a new connection; anything else becomes [`Outcome::Retry`]) and fewer
//!   hops per push. TLS is rustls with the `ring` provider, ALPN `h2` only.
//! * **One connection per credential.** A [`Client`] owns one HTTP/2 connection for one
//!   [`Credential`] and multiplexes every concurrent [`Client::send`] over it. It is cheap to
//!   clone (an `Arc`) and safe to share between tasks. The connection is opened on first use and
//!   re-opened transparently after it dies, is dropped by the server or receives a GOAWAY. Only
//!   one task connects at a time, so a burst on a cold client still opens one connection.
//! * **Streams limit.** `h2` never opens more streams than the server's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS` (APNs typically allows 1,000 per connection); extra
//!   requests wait in `h2`'s queue, and that wait counts towards the per-request timeout. Bounding
//!   how many pushes are in flight is the caller's job (a semaphore or a fixed set of workers);
//!   a few hundred in flight per connection is plenty.
//! * **[`Pool`]**: clients keyed by a credential id the caller chooses (for example template id
//!   plus certificate fingerprint, see [`Credential::fingerprint`]); remove an entry when its
//!   certificate changes.
//! * **Outcomes, not errors.** [`Client::send`] never fails: every answer, timeout and connection
//!   failure is mapped to an [`Outcome`] that says what to do next. [`Error`] is only for bad
//!   input (certificates, keys, URLs, device tokens, header values).
//! * **Idempotence.** A Wallet push only tells the device to ask the server what changed, so the
//!   rare duplicate caused by re-sending after a GOAWAY is harmless.
//! * **Roots.** The Mozilla roots from `webpki-roots` (no dependency on the host's CA bundle, so the
//!   real `api.push.apple.com` works in a bare container) plus any extra roots given with
//!   [`Endpoint::with_extra_roots_pem`] (`PASSMINT_APNS_CA_FILE`).
#![forbid(unsafe_code)]

mod client;
mod connection;
mod credential;
mod device_token;
mod endpoint;
mod error;
mod jwt;
mod notification;
mod outcome;
mod pool;
mod reason;

pub use client::Client;
pub use credential::Credential;
pub use device_token::DeviceToken;
pub use endpoint::{Endpoint, PRODUCTION_URL, SANDBOX_URL};
pub use error::Error;
pub use notification::Notification;
pub use outcome::{Outcome, RetryReason};
pub use pool::Pool;
pub use reason::Reason;
