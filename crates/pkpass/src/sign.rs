//! Signing material: keys in every format, certificate checks, the CMS detached signature.
use std::cell::Cell;

use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::{X509, X509VerifyResult};

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
    /// The pass type certificate.
    SignerCert,
    /// Its private key.
    SignerKey,
    /// The key's (or .p12's) passphrase.
    SignerKeyPassphrase,
    /// The WWDR intermediate certificate.
    Wwdr,
    /// The pass type identifier claimed for the template.
    PassTypeIdentifier,
    /// The team identifier claimed for the template.
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

/// One thing wrong with the signing material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningProblem {
    /// The input at fault.
    pub field: SigningField,
    /// What is wrong with it.
    pub message: String,
}

impl SigningProblem {
    fn new(field: SigningField, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SigningProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field.param(), self.message)
    }
}

/// Why signing material can't be used, or signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The material is unusable; every problem found is listed.
    #[error("signing material is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SigningProblem>),
    /// OpenSSL failed while signing (not the caller's fault).
    #[error("signing failed: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// A loaded, checked signer: certificate, private key and WWDR intermediate.
#[derive(Clone)]
pub struct SigningIdentity {
    cert: X509,
    key: PKey<Private>,
    wwdr: X509,
    /// The signature's constant parts, encoded once (RSA keys).
    cms: Option<crate::cms::Template>,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningIdentity { .. }")
    }
}

/// Whether the certificate's validity period is checked (not for restored, trusted material).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Validity {
    Check,
    Skip,
}

impl SigningIdentity {
    /// Loads PEM material: decrypts the key, checks it matches the certificate, that the
    /// certificate is issued by `wwdr` and is currently valid.
    pub fn load(material: SigningMaterial<'_>) -> Result<Self, SigningError> {
        let mut problems = Vec::new();
        let cert = parse_cert(
            material.signer_cert,
            SigningField::SignerCert,
            "signerCert",
            &mut problems,
        );
        let wwdr = parse_cert(material.wwdr, SigningField::Wwdr, "wwdr", &mut problems);
        let key = parse_key(material.signer_key, material.passphrase, &mut problems);
        Self::checked(cert, key, wwdr, problems, Validity::Check)
    }

    /// Loads a `.p12` (including Keychain's RC2-40 exports) plus the WWDR PEM.
    pub fn from_p12(p12: &[u8], passphrase: &str, wwdr: &[u8]) -> Result<Self, SigningError> {
        let mut problems = Vec::new();
        let wwdr = parse_cert(wwdr, SigningField::Wwdr, "wwdr", &mut problems);
        let (cert, key) = match Pkcs12::from_der(p12) {
            // A C string can't hold it (see `parse_key`).
            Ok(_) if passphrase.contains('\0') => {
                problems.push(SigningProblem::new(
                    SigningField::SignerKeyPassphrase,
                    "must not contain NUL characters",
                ));
                (None, None)
            }
            Err(_) => {
                problems.push(SigningProblem::new(
                    SigningField::SignerKey,
                    "is not a PKCS#12 (.p12) file",
                ));
                (None, None)
            }
            Ok(pkcs12) => match parse_p12(&pkcs12, passphrase) {
                Ok(parsed) => {
                    if parsed.cert.is_none() {
                        problems.push(SigningProblem::new(
                            SigningField::SignerCert,
                            "the .p12 file holds no certificate",
                        ));
                    }
                    if parsed.pkey.is_none() {
                        problems.push(SigningProblem::new(
                            SigningField::SignerKey,
                            "the .p12 file holds no private key",
                        ));
                    }
                    (parsed.cert, parsed.pkey)
                }
                Err(_) => {
                    problems.push(SigningProblem::new(
                        SigningField::SignerKeyPassphrase,
                        "does not open the .p12 file (wrong passphrase?)",
                    ));
                    (None, None)
                }
            },
        };
        Self::checked(cert, key, wwdr, problems, Validity::Check)
    }

    /// Restores an identity from what [`Self::to_der_parts`] gave (trusted storage): skips the
    /// validity-period check so an expired certificate still loads for reporting.
    pub fn from_der_parts(cert: &[u8], key_pkcs8: &[u8], wwdr: &[u8]) -> Result<Self, SigningError> {
        let mut problems = Vec::new();
        let cert = X509::from_der(cert).ok();
        if cert.is_none() {
            problems.push(SigningProblem::new(
                SigningField::SignerCert,
                "is not a DER certificate",
            ));
        }
        let key = PKey::private_key_from_pkcs8(key_pkcs8).ok();
        if key.is_none() {
            problems.push(SigningProblem::new(
                SigningField::SignerKey,
                "is not a DER PKCS#8 key",
            ));
        }
        let wwdr = X509::from_der(wwdr).ok();
        if wwdr.is_none() {
            problems.push(SigningProblem::new(
                SigningField::Wwdr,
                "is not a DER certificate",
            ));
        }
        Self::checked(cert, key, wwdr, problems, Validity::Skip)
    }

    /// The checks every loader shares; all problems are reported together.
    fn checked(
        cert: Option<X509>,
        key: Option<PKey<Private>>,
        wwdr: Option<X509>,
        mut problems: Vec<SigningProblem>,
        validity: Validity,
    ) -> Result<Self, SigningError> {
        if let (Some(cert), Some(key)) = (&cert, &key) {
            let matches = cert.public_key().is_ok_and(|public| public.public_eq(key));
            if !matches {
                problems.push(SigningProblem::new(
                    SigningField::SignerKey,
                    "is not the private key of signerCert",
                ));
            }
        }
        if let (Some(cert), Some(wwdr)) = (&cert, &wwdr) {
            let name_ok = wwdr.issued(cert) == X509VerifyResult::OK;
            let sig_ok = wwdr.public_key().and_then(|k| cert.verify(&k)).unwrap_or(false);
            if !(name_ok && sig_ok) {
                problems.push(SigningProblem::new(
                    SigningField::SignerCert,
                    format!(
                        "is not issued by the given WWDR certificate (issuer: {})",
                        name_to_string(cert.issuer_name())
                    ),
                ));
            }
        }
        if validity == Validity::Check
            && let Some(cert) = &cert
        {
            let now = Asn1Time::days_from_now(0)?;
            if cert.not_after() < now {
                problems.push(SigningProblem::new(
                    SigningField::SignerCert,
                    format!("expired on {}", cert.not_after()),
                ));
            }
            if cert.not_before() > now {
                problems.push(SigningProblem::new(
                    SigningField::SignerCert,
                    format!("is not valid before {}", cert.not_before()),
                ));
            }
        }
        match (cert, key, wwdr) {
            (Some(cert), Some(key), Some(wwdr)) if problems.is_empty() => {
                let cms = crate::cms::Template::new(&cert, &key, &wwdr)?;
                Ok(Self { cert, key, wwdr, cms })
            }
            _ => Err(SigningError::Invalid(problems)),
        }
    }

    /// (certificate DER, unencrypted PKCS#8 key DER, WWDR DER), for the caller to store encrypted.
    #[must_use]
    pub fn to_der_parts(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        // Serialising already-parsed, valid objects only fails on allocation failure.
        (
            self.cert.to_der().expect("encode certificate"),
            self.key.private_key_to_pkcs8().expect("encode key"),
            self.wwdr.to_der().expect("encode WWDR certificate"),
        )
    }

    /// Problems if the certificate's subject `UID` isn't `pass_type_identifier` or its `OU` isn't
    /// `team_identifier`; empty when both match.
    #[must_use]
    pub fn check_identifiers(
        &self,
        pass_type_identifier: &str,
        team_identifier: &str,
    ) -> Vec<SigningProblem> {
        identifier_problems(&self.cert, pass_type_identifier, team_identifier)
    }

    /// The pass type identifier in the certificate's subject (`UID`), if any.
    #[must_use]
    pub fn pass_type_identifier(&self) -> Option<String> {
        subject_entry(&self.cert, Nid::USERID)
    }

    /// The team identifier in the certificate's subject (`OU`), if any.
    #[must_use]
    pub fn team_identifier(&self) -> Option<String> {
        subject_entry(&self.cert, Nid::ORGANIZATIONALUNITNAME)
    }

    /// The certificate's `notAfter`, as Unix seconds; `None` when its text is not a valid
    /// time (a certificate parses even so, and it comes from whoever uploads a template).
    #[must_use]
    pub fn expires_at(&self) -> Option<i64> {
        let epoch = Asn1Time::from_unix(0).ok()?;
        let diff = epoch.diff(self.cert.not_after()).ok()?;
        i64::from(diff.days)
            .checked_mul(86_400)?
            .checked_add(i64::from(diff.secs))
    }

    /// Certificate (PEM) and unencrypted PKCS#8 key (PEM), e.g. for APNs TLS client auth.
    #[must_use]
    pub fn client_identity_pem(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.cert.to_pem().expect("encode certificate"),
            self.key.private_key_to_pem_pkcs8().expect("encode key"),
        )
    }

    /// DER CMS SignedData over `content`, detached, with signer + WWDR certificates and a
    /// signingTime attribute.
    pub fn sign_detached(&self, content: &[u8]) -> Result<Vec<u8>, SigningError> {
        if let Some(cms) = &self.cms {
            return Ok(cms.sign(&self.key, content, time::OffsetDateTime::now_utc())?);
        }
        // Keys other than RSA (not what Apple issues): let OpenSSL build the structure.
        let mut extra = Stack::new()?;
        extra.push(self.wwdr.clone())?;
        let pkcs7 = Pkcs7::sign(
            &self.cert,
            &self.key,
            &extra,
            content,
            // No S/MIME capabilities attribute: Wallet doesn't read it.
            Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY | Pkcs7Flags::NOSMIMECAP,
        )?;
        Ok(pkcs7.to_der()?)
    }
}

/// Checks the certificate's subject `UID`/`OU` against the identifiers without needing its key, so
/// an upload whose key can't be opened still hears about a certificate for the wrong pass type.
/// A PEM that isn't a certificate gives no problems here: loading it reports that.
#[must_use]
pub fn check_certificate_identifiers(
    signer_cert_pem: &[u8],
    pass_type_identifier: &str,
    team_identifier: &str,
) -> Vec<SigningProblem> {
    X509::from_pem(signer_cert_pem)
        .map(|cert| identifier_problems(&cert, pass_type_identifier, team_identifier))
        .unwrap_or_default()
}

fn identifier_problems(
    cert: &X509,
    pass_type_identifier: &str,
    team_identifier: &str,
) -> Vec<SigningProblem> {
    let mut problems = Vec::new();
    let uid = subject_entry(cert, Nid::USERID);
    if uid.as_deref() != Some(pass_type_identifier) {
        problems.push(SigningProblem::new(
            SigningField::PassTypeIdentifier,
            format!(
                "\"{pass_type_identifier}\" is not the signer certificate's UID ({})",
                uid.as_deref().unwrap_or("none")
            ),
        ));
    }
    let ou = subject_entry(cert, Nid::ORGANIZATIONALUNITNAME);
    if ou.as_deref() != Some(team_identifier) {
        problems.push(SigningProblem::new(
            SigningField::TeamIdentifier,
            format!(
                "\"{team_identifier}\" is not the signer certificate's OU ({})",
                ou.as_deref().unwrap_or("none")
            ),
        ));
    }
    problems
}

fn subject_entry(cert: &X509, nid: Nid) -> Option<String> {
    cert.subject_name()
        .entries_by_nid(nid)
        .next()
        .and_then(|e| e.data().to_string().ok())
}

fn name_to_string(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let value = e.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when `bytes` look like PEM (possibly with text before the first armour line).
fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fn parse_cert(
    bytes: &[u8],
    field: SigningField,
    name: &str,
    problems: &mut Vec<SigningProblem>,
) -> Option<X509> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        problems.push(SigningProblem::new(field, format!("{name} is empty")));
        return None;
    }
    let parsed = if is_pem(bytes) {
        X509::from_pem(bytes)
    } else {
        X509::from_der(bytes)
    };
    match parsed {
        Ok(cert) => Some(cert),
        Err(_) => {
            problems.push(SigningProblem::new(
                field,
                format!("{name} is not a PEM (or DER) X.509 certificate"),
            ));
            None
        }
    }
}

/// Decrypts a private key in any format OpenSSL reads; tells a wrong passphrase from garbage by
/// whether OpenSSL asked for one.
fn parse_key(
    bytes: &[u8],
    passphrase: Option<&str>,
    problems: &mut Vec<SigningProblem>,
) -> Option<PKey<Private>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        problems.push(SigningProblem::new(SigningField::SignerKey, "signerKey is empty"));
        return None;
    }
    // OpenSSL takes passphrases as C strings: one with a NUL can't be passed (the openssl crate
    // would panic), and no key file can have been encrypted with it.
    if passphrase.is_some_and(|p| p.contains('\0')) {
        problems.push(SigningProblem::new(
            SigningField::SignerKeyPassphrase,
            "must not contain NUL characters",
        ));
        return None;
    }
    let asked = Cell::new(false);
    let result = if is_pem(bytes) {
        PKey::private_key_from_pem_callback(bytes, |buf| {
            asked.set(true);
            let pass = passphrase.unwrap_or("").as_bytes();
            if pass.len() > buf.len() {
                return Ok(0);
            }
            buf[..pass.len()].copy_from_slice(pass);
            Ok(pass.len())
        })
    } else {
        PKey::private_key_from_der(bytes).or_else(|_| {
            asked.set(true);
            PKey::private_key_from_pkcs8_passphrase(bytes, passphrase.unwrap_or("").as_bytes())
        })
    };
    match result {
        Ok(key) => Some(key),
        Err(_) if asked.get() && passphrase.is_none_or(str::is_empty) => {
            problems.push(SigningProblem::new(
                SigningField::SignerKeyPassphrase,
                "signerKey is encrypted: a passphrase is required",
            ));
            None
        }
        Err(_) if asked.get() => {
            problems.push(SigningProblem::new(
                SigningField::SignerKeyPassphrase,
                "does not decrypt signerKey (wrong passphrase)",
            ));
            None
        }
        Err(_) => {
            problems.push(SigningProblem::new(
                SigningField::SignerKey,
                "signerKey is not a private key OpenSSL can read (PEM PKCS#8, PKCS#1 or encrypted)",
            ));
            None
        }
    }
}

/// Parses a .p12; Keychain's exports use RC2-40, which OpenSSL 3 only has in its `legacy`
/// provider, loaded for the duration of this call.
fn parse_p12(
    pkcs12: &Pkcs12,
    passphrase: &str,
) -> Result<openssl::pkcs12::ParsedPkcs12_2, openssl::error::ErrorStack> {
    match pkcs12.parse2(passphrase) {
        Ok(parsed) => Ok(parsed),
        Err(first) => {
            let Ok(_legacy) = openssl::provider::Provider::try_load(None, "legacy", true) else {
                return Err(first);
            };
            pkcs12.parse2(passphrase)
        }
    }
}
