#![allow(dead_code)]
pub mod browser;
pub mod db;
pub mod passes;
pub mod process;
pub mod receiver;
pub mod server;
