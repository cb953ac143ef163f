//! Throwaway service accounts, and checking RS256 JWTs the way Google does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use serde_json::{Value, json};

use crate::Error;

/// A service account made up for a test: an RSA-2048 key and the JSON key file Google would
/// download for it.
#[derive(Clone)]
pub struct TestServiceAccount {
    /// `…@….iam.gserviceaccount.com`.
    pub client_email: String,
    /// The key id (`kid`).
    pub private_key_id: String,
    /// The JSON key file's text (`type`, `project_id`, `private_key_id`, `private_key`,
    /// `client_email`, `token_uri`, …).
    pub key_json: String,
    /// The public key, PEM (`-----BEGIN PUBLIC KEY-----`), to give the test server.
    pub public_key_pem: String,
}

impl std::fmt::Debug for TestServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

impl TestServiceAccount {
    /// Generates a key for `client_email` whose key file names `token_uri` (give the test
    /// server's [`crate::TestServer::token_url`], or Google's, as the test needs).
    ///
    /// # Errors
    /// [`Error::Crypto`] if OpenSSL fails.
    pub fn generate(client_email: &str, token_uri: &str) -> Result<Self, Error> {
        let rsa = Rsa::generate(2048)?;
        let key = PKey::from_rsa(rsa)?;
        let private_pem =
            String::from_utf8(key.private_key_to_pem_pkcs8()?).map_err(|e| Error::Crypto(e.to_string()))?;
        let public_key_pem =
            String::from_utf8(key.public_key_to_pem()?).map_err(|e| Error::Crypto(e.to_string()))?;
        let mut id = [0u8; 20];
        openssl::rand::rand_bytes(&mut id)?;
        let private_key_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let project = client_email
            .split_once('@')
            .and_then(|(_, domain)| domain.split('.').next())
            .unwrap_or("test-project");
        let key_json = serde_json::to_string_pretty(&json!({
            "type": "service_account",
            "project_id": project,
            "private_key_id": private_key_id,
            "private_key": private_pem,
            "client_email": client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }))
        .map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(Self {
            client_email: client_email.to_owned(),
            private_key_id,
            key_json,
            public_key_pem,
        })
    }
}

/// A JWT whose RS256 signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJwt {
    /// The header (`alg`, `typ`, `kid`).
    pub header: Value,
    /// The claims.
    pub claims: Value,
}

/// Verifies a compact JWT's RS256 signature with an RSA public key (PEM) and decodes it.
/// Independent of the client's signer: OpenSSL here, `ring` there.
///
/// # Errors
/// A description of what is wrong: the shape, the algorithm, the signature or the JSON.
pub fn verify_rs256(jwt: &str, public_key_pem: &str) -> Result<VerifiedJwt, String> {
    let key = PKey::public_key_from_pem(public_key_pem.as_bytes())
        .map_err(|e| format!("unreadable public key: {e}"))?;
    verify_with(jwt, &key)
}

pub(crate) fn verify_with(jwt: &str, key: &PKey<Public>) -> Result<VerifiedJwt, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("a JWT has three dot-separated parts".into());
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| format!("the {what} is not base64url: {e}"))
    };
    let header_json: Value = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| format!("the header is not JSON: {e}"))?;
    if header_json.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(format!(
            "the algorithm is {}, not RS256",
            header_json.get("alg").unwrap_or(&Value::Null)
        ));
    }
    let signature = decode(signature, "signature")?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), key).map_err(|e| e.to_string())?;
    verifier
        .update(format!("{header}.{claims}").as_bytes())
        .map_err(|e| e.to_string())?;
    if !verifier.verify(&signature).unwrap_or(false) {
        return Err("the signature does not verify with the service account's public key".into());
    }
    let claims_json: Value = serde_json::from_slice(&decode(claims, "claims")?)
        .map_err(|e| format!("the claims are not JSON: {e}"))?;
    Ok(VerifiedJwt {
        header: header_json,
        claims: claims_json,
    })
}
