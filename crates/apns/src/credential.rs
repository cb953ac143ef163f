//! How a client proves who it is: the pass type certificate as TLS client authentication, or an
//! APNs auth key (`.p8`) signing bearer tokens.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::Error;
use crate::jwt::TokenSigner;

/// One APNs credential. Cheap to clone; its `Debug` output never shows key material.
#[derive(Clone)]
pub struct Credential {
    pub(crate) auth: Auth,
    fingerprint: Arc<str>,
}

#[derive(Clone)]
pub(crate) enum Auth {
    /// TLS client certificate (Wallet's pass type certificate) and its key.
    Certificate(Arc<CertifiedKey>),
    /// `authorization: bearer <ES256 JWT>`.
    Token(Arc<TokenSigner>),
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Credential {
    /// Certificate authentication from PEM: the certificate (optionally followed by its chain)
    /// and an unencrypted RSA or EC private key (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`
    /// or SEC1 `EC PRIVATE KEY`). Decrypt encrypted keys before calling this.
    ///
    /// # Errors
    /// [`Error::Certificate`] or [`Error::PrivateKey`] naming the problem, including a key that
    /// does not belong to the certificate.
    pub fn from_pem(certificate_pem: &[u8], private_key_pem: &[u8]) -> Result<Self, Error> {
        let chain = rustls_pemfile::certs(&mut &certificate_pem[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Certificate(format!("unreadable PEM: {e}")))?;
        if chain.is_empty() {
            return Err(Error::Certificate(
                "no -----BEGIN CERTIFICATE----- block found".into(),
            ));
        }
        let key = read_private_key_pem(private_key_pem)?;
        Self::from_parts(chain, key)
    }

    /// Certificate authentication from DER: the certificate chain (leaf first) and a PKCS#8 key.
    ///
    /// # Errors
    /// As [`Credential::from_pem`].
    pub fn from_der(certificate_chain: Vec<Vec<u8>>, pkcs8_key: Vec<u8>) -> Result<Self, Error> {
        if certificate_chain.is_empty() {
            return Err(Error::Certificate("the certificate chain is empty".into()));
        }
        let chain = certificate_chain.into_iter().map(CertificateDer::from).collect();
        Self::from_parts(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8_key)))
    }

    fn from_parts(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Self, Error> {
        let fingerprint = sha256_hex(&chain[0]);
        let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                Error::PrivateKey("the private key does not belong to the certificate".into())
            }
            rustls::Error::InvalidCertificate(e) => Error::Certificate(format!("{e:?}")),
            other => Error::PrivateKey(format!("unusable key: {other}")),
        })?;
        Ok(Self {
            auth: Auth::Certificate(Arc::new(certified)),
            fingerprint: fingerprint.into(),
        })
    }

    /// Token authentication: an APNs auth key (`AuthKey_XXXXXXXXXX.p8`, a PKCS#8 P-256 key in
    /// PEM), its 10-character key id and the 10-character team id. The client sends
    /// `authorization: bearer <ES256 JWT>`, signing a new token every 50 minutes (Apple accepts
    /// a token for an hour and refuses refreshes more often than every 20 minutes).
    ///
    /// # Errors
    /// [`Error::TokenKey`] naming the problem.
    pub fn token(p8_pem: &[u8], key_id: &str, team_id: &str) -> Result<Self, Error> {
        let signer = TokenSigner::new(p8_pem, key_id, team_id)?;
        Ok(Self {
            fingerprint: format!("token:{team_id}:{key_id}").into(),
            auth: Auth::Token(Arc::new(signer)),
        })
    }

    /// The SHA-256 (hex) of the first certificate in a PEM, without needing the key: the same
    /// value [`Credential::fingerprint`] gives, to build a [`crate::Pool`] id before decrypting
    /// anything.
    ///
    /// # Errors
    /// [`Error::Certificate`] if the PEM holds no certificate.
    pub fn certificate_fingerprint(certificate_pem: &[u8]) -> Result<String, Error> {
        match rustls_pemfile::certs(&mut &certificate_pem[..]).next() {
            Some(Ok(cert)) => Ok(sha256_hex(&cert)),
            Some(Err(e)) => Err(Error::Certificate(format!("unreadable PEM: {e}"))),
            None => Err(Error::Certificate(
                "no -----BEGIN CERTIFICATE----- block found".into(),
            )),
        }
    }

    /// A stable identifier of the credential: the SHA-256 of the leaf certificate in hex, or
    /// `token:<team id>:<key id>`. Handy in a [`crate::Pool`] key.
    #[must_use]
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.auth {
            Auth::Certificate(_) => "certificate",
            Auth::Token(_) => "token",
        };
        f.debug_struct("Credential")
            .field("kind", &kind)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn read_private_key_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::PrivateKey(
            "the key is encrypted; decrypt it with its passphrase first".into(),
        ));
    }
    match rustls_pemfile::private_key(&mut &pem[..]) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(Error::PrivateKey(
            "no -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) block found".into(),
        )),
        Err(e) => Err(Error::PrivateKey(format!("unreadable PEM: {e}"))),
    }
}

fn sha256_hex(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
