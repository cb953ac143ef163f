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

pub(crate) struct TokenSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    key_id: String,
    team_id: String,
    /// The current `authorization` header and when it was signed.
    current: Mutex<Option<(HeaderValue, Instant)>>,
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
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((value, signed)) = current.as_ref()
            && signed.elapsed() < REFRESH_AFTER
        {
            return Ok(value.clone());
        }
        let value = self.sign()?;
        *current = Some((value.clone(), Instant::now()));
        Ok(value)
    }

    /// Forgets the cached token after APNs called it expired, so the next send signs a new one.
    pub(crate) fn invalidate(&self, rejected: &HeaderValue) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_some_and(|(value, _)| value == rejected) {
            *current = None;
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
