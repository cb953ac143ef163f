//! A device push token, validated before it reaches the network.

use std::fmt;

use crate::Error;

/// Shortest token accepted: APNs device tokens are 32 bytes (64 hex digits) today.
const MIN_HEX_LEN: usize = 64;
/// Longest token accepted: Apple reserves the right to grow tokens, up to 100 bytes.
const MAX_HEX_LEN: usize = 200;

/// A device push token as Wallet sends it at registration: an even number of hex digits, 64 to
/// 200 long. Stored lower-case, as APNs is case-insensitive about it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeviceToken(String);

impl DeviceToken {
    /// Checks and normalises a token.
    ///
    /// # Errors
    /// [`Error::InvalidDeviceToken`] naming the problem (empty, bad length, not hex).
    pub fn parse(token: &str) -> Result<Self, Error> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::InvalidDeviceToken("the token is empty".into()));
        }
        if let Some(bad) = token.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(Error::InvalidDeviceToken(format!(
                "the token contains {bad:?}; only hex digits are allowed"
            )));
        }
        if token.len() < MIN_HEX_LEN || token.len() > MAX_HEX_LEN || !token.len().is_multiple_of(2) {
            return Err(Error::InvalidDeviceToken(format!(
                "the token has {} hex digits; expected an even number from {MIN_HEX_LEN} to {MAX_HEX_LEN}",
                token.len()
            )));
        }
        Ok(Self(token.to_ascii_lowercase()))
    }

    /// The token as lower-case hex.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceToken({})", self.0)
    }
}

impl std::str::FromStr for DeviceToken {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_64_digit_token_and_lowercases_it() {
        let token = DeviceToken::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(token.as_str(), "ab".repeat(32));
    }

    #[test]
    fn rejects_non_hex_short_odd_and_empty_tokens() {
        for bad in [
            "",
            "xyz",
            &"a".repeat(63),
            &"a".repeat(65),
            &"a".repeat(202),
            &format!("{}/..", "a".repeat(64)),
        ] {
            assert!(
                matches!(DeviceToken::parse(bad), Err(Error::InvalidDeviceToken(_))),
                "{bad:?}"
            );
        }
    }
}
