//! passmint: a self-hosted Apple Wallet pass server. The binary (`main.rs`) only parses the
//! command line and calls in here.
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
pub mod store;
