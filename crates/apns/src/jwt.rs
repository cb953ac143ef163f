//! ES256 provider tokens for APNs token authentication, signed with `ring` and cached.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::Error;

/// Apple accepts a token for 60 minutes; renew well before.
const REFRESH_AFTER: Duration = Duration::from_secs(50 * 60);
/// Apple asks for at most one new token per 20 minutes (more is `TooManyProviderTokenUpdates`),
/// even when it calls the current one expired: then the clock is off, and a new token every
/// push would only earn a second refusal.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(20 * 60);

pub(crate) struct TokenSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    key_id: String,
    team_id: String,
    /// The current `authorization` header.
    current: Mutex<Option<Token>>,
}

struct Token {
    value: HeaderValue,
    signed: Instant,
    /// APNs answered `ExpiredProviderToken` to it.
    expired: bool,
}

impl TokenSigner {
    pub(crate) fn new(p8_pem: &[u8], key_id: &str, team_id: &str) -> Result<Self, Error> {
        for (what, value) in [("key id", key_id), ("team id", team_id)] {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(Error::TokenKey(format!(
                    "the {what} {value:?} must be letters and digits (10 characters from Apple's developer account)"
                )));
            }
        }
        let der = match rustls_pemfile::private_key(&mut &p8_pem[..]) {
            Ok(Some(rustls::pki_types::PrivateKeyDer::Pkcs8(der))) => der,
            Ok(Some(_)) => {
                return Err(Error::TokenKey(
                    "the .p8 key must be PKCS#8 (-----BEGIN PRIVATE KEY-----)".into(),
                ));
            }
            Ok(None) => {
                return Err(Error::TokenKey(
                    "no -----BEGIN PRIVATE KEY----- block found in the .p8 key".into(),
                ));
            }
            Err(e) => return Err(Error::TokenKey(format!("unreadable PEM: {e}"))),
        };
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_pkcs8_der(), &rng)
            .map_err(|e| Error::TokenKey(format!("not a P-256 EC key usable for ES256: {e}")))?;
        Ok(Self {
            key,
            rng,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            current: Mutex::new(None),
        })
    }

    /// The `authorization` header value, signing a new token when the cached one is old.
    pub(crate) fn authorization(&self) -> Result<HeaderValue, String> {
        self.authorization_at(Instant::now())
    }

    fn authorization_at(&self, now: Instant) -> Result<HeaderValue, String> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(token) = current.as_ref()
            && now.saturating_duration_since(token.signed) < REFRESH_AFTER
            && !(token.expired && now.saturating_duration_since(token.signed) >= MIN_REFRESH_INTERVAL)
        {
            return Ok(token.value.clone());
        }
        let value = self.sign()?;
        *current = Some(Token {
            value: value.clone(),
            signed: now,
            expired: false,
        });
        Ok(value)
    }

    /// APNs called `rejected` expired: a new token is signed on the next send, but never sooner
    /// than 20 minutes after the current one was (Apple's limit on token updates).
    pub(crate) fn invalidate(&self, rejected: &HeaderValue) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(token) = current.as_mut()
            && token.value == rejected
        {
            token.expired = true;
        }
    }

    fn sign(&self) -> Result<HeaderValue, String> {
        let issued_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970".to_owned())?
            .as_secs();
        let header = serde_json::json!({ "alg": "ES256", "kid": self.key_id });
        let claims = serde_json::json!({ "iss": self.team_id, "iat": issued_at });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| "ES256 signing failed".to_owned())?;
        let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
        HeaderValue::from_str(&format!("bearer {jwt}")).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh P-256 key as a `.p8` PEM.
    fn p8() -> Vec<u8> {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n").into_bytes()
    }

    #[test]
    fn an_expired_token_is_renewed_at_most_once_per_20_minutes() {
        let signer = TokenSigner::new(&p8(), "KEY1234567", "TEAM123456").unwrap();
        let start = Instant::now();
        let first = signer.authorization_at(start).unwrap();
        // APNs calls it expired a minute later: no new token yet (Apple's 20-minute limit).
        signer.invalidate(&first);
        let soon = signer.authorization_at(start + Duration::from_secs(60)).unwrap();
        assert_eq!(soon, first, "re-signed within 20 minutes of the last token");
        signer.invalidate(&soon);
        let later = signer
            .authorization_at(start + Duration::from_secs(19 * 60))
            .unwrap();
        assert_eq!(later, first);
        // 20 minutes after it was signed, the expired token is replaced.
        let renewed = signer.authorization_at(start + MIN_REFRESH_INTERVAL).unwrap();
        assert_ne!(renewed, first);
        // And the new one is kept (not expired) until its own age calls for a refresh.
        let kept = signer
            .authorization_at(start + MIN_REFRESH_INTERVAL + Duration::from_secs(60))
            .unwrap();
        assert_eq!(kept, renewed);
    }

    #[test]
    fn an_unexpired_token_is_renewed_after_50_minutes() {
        let signer = TokenSigner::new(&p8(), "KEY1234567", "TEAM123456").unwrap();
        let start = Instant::now();
        let first = signer.authorization_at(start).unwrap();
        assert_eq!(
            signer
                .authorization_at(start + Duration::from_secs(49 * 60))
                .unwrap(),
            first
        );
        assert_ne!(signer.authorization_at(start + REFRESH_AFTER).unwrap(), first);
    }
}
