#![allow(dead_code)]
pub mod db;
pub mod passes;
pub mod server;
