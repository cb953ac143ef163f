//! `manifest.json`: the lowercase hex SHA-1 of every file in the pass, by `/`-separated path.
use std::collections::BTreeMap;

use sha1::{Digest, Sha1};

/// Lowercase hex SHA-1 of `bytes`.
#[must_use]
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// The manifest's JSON bytes (keys sorted, so equal contents give equal bytes).
#[must_use]
pub fn to_json(hashes: &BTreeMap<String, String>) -> Vec<u8> {
    // A map of strings always serialises.
    serde_json::to_vec_pretty(hashes).expect("a map of strings serialises")
}
