//! `pkpass`: the Apple Wallet pass format as a library, with no server in it.
//!
//! The flow is: read a template ([`Template::from_zip`] / [`Template::from_dir`]), which checks
//! everything Apple would refuse; load signing material ([`SigningIdentity::load`]) and check it
//! against the pass's identifiers; prepare the template once ([`PreparedTemplate::new`]); then
//! render and sign as many passes as needed ([`PreparedTemplate::issue`]), each costing little more
//! than one RSA signature.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
mod cms;
pub mod dev_certs;
pub mod images;
pub mod keys;
pub mod manifest;
pub mod pass_json;
pub mod personalization;
pub mod problem;
pub mod render;
pub mod sign;
pub mod strings;
pub mod template;
pub mod verify;

pub use bundle::PassBytes;
pub use problem::{Findings, Problem};
pub use render::{IssuedPass, PassIdentity, PreparedTemplate, RenderError, RenderInput, SignedFiles};
pub use sign::{SigningError, SigningField, SigningIdentity, SigningMaterial, SigningProblem};
pub use template::{Limits, Template, TemplateError};
