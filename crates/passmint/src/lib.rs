//! passmint: a self-hosted Apple Wallet pass server. The binary (`main.rs`) only parses the
//! command line and calls in here ([`cli`]); tests start the server with [`app::launch`].
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod assets;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod google;
pub mod listener;
pub mod logtext;
pub mod metrics;
pub mod ops;
pub mod passkit;
pub mod preview;
pub mod private_files;
pub mod push;
pub mod ratelimit;
pub mod rollout;
pub mod share;
pub mod store;
pub mod tokens;
pub mod webhooks;
pub mod wire;
pub mod worker;

pub use app::{AppState, LaunchError, launch, serve};
pub use config::Settings;
