//! A Google service account's JSON key, and RS256 JWTs signed with it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Error;

/// Google's token endpoint, the `token_uri` of every service account key it issues.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A service account, loaded from the JSON key Google's Cloud console downloads
/// (`PASSMINT_GOOGLE_SERVICE_ACCOUNT_FILE`). Cheap to clone; the private key never leaves it and
/// is never printed.
#[derive(Clone)]
pub struct ServiceAccount {
    inner: Arc<Inner>,
}

struct Inner {
    client_email: String,
    private_key_id: String,
    token_uri: String,
    project_id: Option<String>,
    key: RsaKeyPair,
    rng: SystemRandom,
}

/// The fields of the key file passmint reads (it has others: `client_id`, `auth_uri`, …).
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    project_id: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    client_email: Option<String>,
    token_uri: Option<String>,
}

impl ServiceAccount {
    /// Reads a service account JSON key.
    ///
    /// # Errors
    /// [`Error::ServiceAccount`] if it is not a service account key, [`Error::PrivateKey`] if its
    /// key cannot sign RS256.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let file: KeyFile = serde_json::from_slice(bytes)
            .map_err(|e| Error::ServiceAccount(format!("not a JSON key file: {e}")))?;
        if file.kind.as_deref() != Some("service_account") {
            return Err(Error::ServiceAccount(format!(
                "\"type\" is {:?}, not \"service_account\" (download a key of a service account, not OAuth client credentials)",
                file.kind.unwrap_or_default()
            )));
        }
        let need = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Error::ServiceAccount(format!("\"{name}\" is missing")))
        };
        let client_email = need(file.client_email, "client_email")?;
        let pem = need(file.private_key, "private_key")?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
            Error::PrivateKey(format!(
                "expected a -----BEGIN PRIVATE KEY----- (PKCS#8) block: {e}"
            ))
        })?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| Error::PrivateKey(format!("not an RSA key usable for RS256: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client_email,
                private_key_id: file.private_key_id.unwrap_or_default(),
                token_uri: file
                    .token_uri
                    .filter(|u| !u.trim().is_empty())
                    .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned()),
                project_id: file.project_id,
                key,
                rng: SystemRandom::new(),
            }),
        })
    }

    /// Reads a service account JSON key file.
    ///
    /// # Errors
    /// As [`Self::from_json`], and [`Error::ServiceAccount`] if the file cannot be read.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::ServiceAccount(format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&bytes)
    }

    /// The account's e-mail (`…@….iam.gserviceaccount.com`): the `iss` of every JWT, and the
    /// address to add as a user in the Google Pay & Wallet console.
    #[must_use]
    pub fn client_email(&self) -> &str {
        &self.inner.client_email
    }

    /// The key's id (the JWT header's `kid`).
    #[must_use]
    pub fn private_key_id(&self) -> &str {
        &self.inner.private_key_id
    }

    /// The key's `token_uri`: where tokens come from, and the `aud` of the token assertion.
    #[must_use]
    pub fn token_uri(&self) -> &str {
        &self.inner.token_uri
    }

    /// The key's Cloud project, if it names one.
    #[must_use]
    pub fn project_id(&self) -> Option<&str> {
        self.inner.project_id.as_deref()
    }

    /// A compact RS256 JWT of `claims`, with `kid` set to the key's id.
    ///
    /// # Errors
    /// [`Error::Signing`] if the system's random source fails.
    pub fn sign_jwt(&self, claims: &Value) -> Result<String, Error> {
        let mut header = json!({ "alg": "RS256", "typ": "JWT" });
        if !self.inner.private_key_id.is_empty() {
            header["kid"] = self.inner.private_key_id.clone().into();
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.inner.key.public().modulus_len()];
        self.inner
            .key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.inner.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::Signing("RS256 signing failed".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.inner.client_email)
            .field("private_key_id", &self.inner.private_key_id)
            .field("token_uri", &self.inner.token_uri)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oauth_client_credentials_and_keys_without_a_private_key() {
        let err = ServiceAccount::from_json(br#"{"installed": {"client_id": "x"}}"#).unwrap_err();
        assert!(err.to_string().contains("service_account"), "{err}");
        let err =
            ServiceAccount::from_json(br#"{"type": "service_account", "client_email": "a@b"}"#).unwrap_err();
        assert!(err.to_string().contains("private_key"), "{err}");
        let err = ServiceAccount::from_json(
            br#"{"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#,
        )
        .unwrap_err();
        assert!(matches!(err, Error::PrivateKey(_)), "{err}");
    }
}
