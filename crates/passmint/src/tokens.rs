//! Admin API tokens: 256 random bits, shown once, stored as their SHA-256.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new token (`pm_` + 43 base64url characters) and its hash.
pub fn generate() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    let token = format!("pm_{}", URL_SAFE_NO_PAD.encode(raw));
    let hash = hash(&token);
    (token, hash)
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two tokens in constant time (over their hashes, so lengths don't leak either).
pub fn equal(a: &str, b: &str) -> bool {
    hash(a).ct_eq(&hash(b)).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn makes_distinct_tokens_that_hash_stably() {
        let (a, ha) = super::generate();
        let (b, _) = super::generate();
        assert_ne!(a, b);
        assert_eq!(super::hash(&a), ha);
        assert!(super::equal(&a, &a.clone()));
        assert!(!super::equal(&a, &b));
        assert!(a.len() > 40);
    }
}
