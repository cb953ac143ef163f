//! A local stand-in for the Google Wallet API, for tests of Google Wallet senders.
//!
//! * **OAuth token endpoint** (`POST /token`): the JWT-bearer grant. The assertion's RS256
//!   signature is checked with the public key of an accepted service account
//!   ([`TestServer::new_service_account`] makes one), and so are its `iss`, `aud`, `iat`/`exp`
//!   (at most an hour, not expired) and scope; the answer is Google's
//!   `{"access_token", "expires_in", "token_type"}` or its OAuth error body.
//! * **walletobjects v1** (`/walletobjects/v1/<type>Class|Object[/<id>]`) for the six types
//!   passmint writes: insert (`POST`; `409` if it exists, `404` if an object's class doesn't),
//!   get, update (`PUT`; `404` if missing) and patch (`PATCH`, members replaced). Bearer tokens
//!   must be ones it issued and unexpired, else `401`. Bodies are checked against Google's
//!   discovery document ([`discovery`]): an unknown field, a wrong type or a missing required field
//!   is a `400`, as Google answers. Errors carry Google's body
//!   (`{"error": {"code", "message", "errors": [{"reason"}], "status"}}`).
//! * **Scripted faults** ([`Fault`]): the next N matching requests get a status (400, 401, 403,
//!   404, 409, 429, 500, 503, with `Retry-After` if wanted), a delay, or no answer.
//! * **A record** of every request ([`RecordedRequest`]) and the stored resources; tests wait with
//!   [`TestServer::wait_for_requests`] (a deadline, no sleeping).
//!
//! It is built on `actix-web`, whose HTTP/1.1 implementation (`actix-http`) is its own, so the
//! `gwallet` client (reqwest, on hyper) is tested against an HTTP stack other than its own.
//! (`tiny_http` was tried first: its thread pool parks new connections behind idle keep-alive
//! ones, so a burst of concurrent clients stalls.) Plain HTTP only: SPEC §13 allows `http://`
//! API and token URLs for tests.
//!
//! ```no_run
//! # fn demo() -> Result<(), gwallet_testserver::Error> {
//! use gwallet_testserver::{Fault, TestServer};
//! let server = TestServer::start()?;
//! let account = server.new_service_account("passmint@test-project.iam.gserviceaccount.com")?;
//! server.inject(Fault::status(503).times(2).on_api());
//! // … write account.key_json to a file, point the client at server.url() …
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
pub mod discovery;
mod error;
mod fault;
mod record;
mod server;

pub use account::{TestServiceAccount, VerifiedJwt, verify_rs256};
pub use error::Error;
pub use fault::{Action, Fault, Target};
pub use record::RecordedRequest;
pub use server::{API_PREFIX, Builder, TOKEN_PATH, TestServer, WALLET_SCOPE};
