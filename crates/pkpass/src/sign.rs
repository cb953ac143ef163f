//! Signing material: keys in every format, certificate checks, the CMS detached signature.

/// PEM (or DER) inputs as uploaded.
#[derive(Clone, Copy)]
pub struct SigningMaterial<'a> {
    /// The pass type certificate (PEM).
    pub signer_cert: &'a [u8],
    /// Its private key: PKCS#8 encrypted, legacy `Proc-Type: 4,ENCRYPTED`, PKCS#1/PKCS#8 plain.
    pub signer_key: &'a [u8],
    /// Passphrase for an encrypted key; ignored for a plain one.
    pub passphrase: Option<&'a str>,
    /// Apple's WWDR intermediate (PEM).
    pub wwdr: &'a [u8],
}

/// Which input a [`SigningProblem`] is about; `param()` names the SPEC's form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningField {
    SignerCert,
    SignerKey,
    SignerKeyPassphrase,
    Wwdr,
    PassTypeIdentifier,
    TeamIdentifier,
}

impl SigningField {
    /// The multipart form field this is about (`signerCert`, `signerKeyPassphrase`, …).
    #[must_use]
    pub fn param(self) -> &'static str {
        match self {
            Self::SignerCert => "signerCert",
            Self::SignerKey => "signerKey",
            Self::SignerKeyPassphrase => "signerKeyPassphrase",
            Self::Wwdr => "wwdr",
            Self::PassTypeIdentifier => "passTypeIdentifier",
            Self::TeamIdentifier => "teamIdentifier",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningProblem {
    pub field: SigningField,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The material is unusable; every problem found is listed.
    #[error("signing material is invalid: {0:?}")]
    Invalid(Vec<SigningProblem>),
    /// OpenSSL failed while signing (not the caller's fault).
    #[error("signing failed: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// A loaded, checked signer: certificate, private key and WWDR intermediate.
#[derive(Clone)]
pub struct SigningIdentity {
    _private: (),
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningIdentity { .. }")
    }
}

impl SigningIdentity {
    /// Loads PEM material: decrypts the key, checks it matches the certificate, that the
    /// certificate is issued by `wwdr` and is currently valid.
    pub fn load(material: SigningMaterial<'_>) -> Result<Self, SigningError> {
        let _ = material;
        todo!()
    }

    /// Loads a `.p12` (including Keychain's RC2-40 exports) plus the WWDR PEM.
    pub fn from_p12(p12: &[u8], passphrase: &str, wwdr: &[u8]) -> Result<Self, SigningError> {
        let _ = (p12, passphrase, wwdr);
        todo!()
    }

    /// Restores an identity from what [`Self::to_der_parts`] gave (trusted storage): skips the
    /// validity-period check so an expired certificate still loads for reporting.
    pub fn from_der_parts(cert: &[u8], key_pkcs8: &[u8], wwdr: &[u8]) -> Result<Self, SigningError> {
        let _ = (cert, key_pkcs8, wwdr);
        todo!()
    }

    /// (certificate DER, unencrypted PKCS#8 key DER, WWDR DER), for the caller to store encrypted.
    #[must_use]
    pub fn to_der_parts(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        todo!()
    }

    /// Problems if the certificate's subject `UID` isn't `pass_type_identifier` or its `OU` isn't
    /// `team_identifier`; empty when both match.
    #[must_use]
    pub fn check_identifiers(
        &self,
        pass_type_identifier: &str,
        team_identifier: &str,
    ) -> Vec<SigningProblem> {
        let _ = (pass_type_identifier, team_identifier);
        todo!()
    }

    /// The certificate's `notAfter`, as Unix seconds.
    #[must_use]
    pub fn expires_at(&self) -> i64 {
        todo!()
    }

    /// Certificate (PEM) and unencrypted PKCS#8 key (PEM), e.g. for APNs TLS client auth.
    #[must_use]
    pub fn client_identity_pem(&self) -> (Vec<u8>, Vec<u8>) {
        todo!()
    }

    /// DER CMS SignedData over `content`, detached, with signer + WWDR certificates and a
    /// signingTime attribute.
    pub fn sign_detached(&self, content: &[u8]) -> Result<Vec<u8>, SigningError> {
        let _ = content;
        todo!()
    }
}
