//! Google Wallet from an Apple pass template: no second template to keep in step (SPEC §13).
//!
//! * **Mapping** ([`GoogleTemplate`]): a template's `pass.json`, `pass.strings` and images become
//!   a Google Wallet class; each pass's rendered `pass.json` becomes an object of it. The type
//!   follows the style ([`PassKind`]): `eventTicket` → event ticket, `boardingPass` → flight (air)
//!   or transit, `storeCard` → loyalty, `coupon` → offer, `generic` → generic. Pure functions, no
//!   I/O; what cannot be mapped is a warning, never an error.
//! * **Save link** ([`save_jwt`], [`save_url`]): the "Save to Google Wallet" URL, an RS256 JWT
//!   signed with the service account's key naming the pass's object.
//! * **Tokens** ([`TokenSource`]): OAuth 2 access tokens by the JWT-bearer grant, cached until
//!   shortly before they expire, one refresh at a time.
//! * **REST client** ([`Client`]): insert, update, patch and get of walletobjects v1 classes and
//!   objects. Every answer and failure is an [`Outcome`]: done, retry (with Google's
//!   `Retry-After`), or give up (with Google's message).
//!
//! ```no_run
//! # async fn demo(key_json: &[u8], template_json: serde_json::Value, pass_json: serde_json::Value) -> Result<(), gwallet::Error> {
//! use gwallet::{Client, GoogleTemplate, Localizations, ObjectRef, ServiceAccount, Settings, TemplateInput};
//! let account = ServiceAccount::from_json(key_json)?;
//! let loc = Localizations::new();
//! let files = vec!["icon.png".to_owned(), "logo@2x.png".to_owned()];
//! let template = GoogleTemplate::new(&TemplateInput {
//!     issuer_id: "3388000000012345678",
//!     template_id: "0190f3a2-7c1d-7e2f-8a9b-0c1d2e3f4a5b",
//!     revision: 1,
//!     pass_json: &template_json,
//!     localizations: &loc,
//!     file_names: &files,
//!     public_url: "https://passes.example.com",
//!     default_language: "en",
//! });
//! let object = template.object("0190f3a2-0000-7000-8000-000000000001", &pass_json);
//! let client = Client::new(account.clone(), &Settings::default())?;
//! let _ = client.insert_class(template.kind(), template.class_json()).await;
//! match client.update_object(template.kind(), &object.json).await {
//!     gwallet::Outcome::Done => {}
//!     gwallet::Outcome::Retry { after, .. } => { /* back off; no sooner than `after` */ }
//!     gwallet::Outcome::GiveUp { message, .. } => { /* record the failure */ }
//! }
//! let jwt = gwallet::save_jwt(&account, &["https://passes.example.com"],
//!     &[ObjectRef { kind: template.kind(), id: &object.id, class_id: template.class_id() }], 1_700_000_000)?;
//! let link = gwallet::save_url(gwallet::DEFAULT_SAVE_URL, &jwt);
//! # Ok(()) }
//! ```
//!
//! # Choices
//!
//! * **Hand-written JSON, not `google-walletobjects1`.** That crate's types are generated from the
//!   same discovery document, but it is 40,000 lines and brings its own HTTP stack (hyper 1 +
//!   hyper-rustls), `yup-oauth2`, `chrono` and `serde_with`, none of which passmint otherwise has.
//!   passmint writes a few dozen fields, so it builds `serde_json::Value`s and checks them against
//!   Google's discovery document in its tests instead (`crates/gwallet-testserver/discovery/`),
//!   which catches the same mistakes (unknown fields, wrong types, unknown enum values) and
//!   deprecated fields too.
//! * **RS256 with `ring`, not `jsonwebtoken`.** `jsonwebtoken` 10+ makes you pick a crypto
//!   back-end: `aws-lc-rs` (a C/CMake build of minutes on this machine) or RustCrypto's `rsa`
//!   (RUSTSEC-2023-0071, the Marvin timing attack, unfixed). `ring` is already in the workspace
//!   (the APNs client signs ES256 with it) and a JWT is three base64url parts.
//! * **`reqwest` with rustls** (the workspace's reqwest, `ring` provider, Mozilla roots) for the
//!   HTTP/1.1 and HTTP/2 calls to Google.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
mod client;
mod error;
mod ids;
mod kind;
mod localize;
mod map;
mod outcome;
mod save;
mod token;

pub use account::{GOOGLE_TOKEN_URI, ServiceAccount};
pub use client::{Client, DEFAULT_API_URL, Fetched, Settings};
pub use error::Error;
pub use ids::{class_id, object_id};
pub use kind::PassKind;
pub use localize::Localizations;
pub use map::{GoogleTemplate, MappedObject, TemplateInput};
pub use outcome::{GiveUpReason, GoogleError, GoogleErrorItem, Outcome, RetryReason};
pub use save::{DEFAULT_SAVE_URL, ObjectRef, save_claims, save_jwt, save_url};
pub use token::{AccessToken, TokenError, TokenSource, WALLET_SCOPE};
