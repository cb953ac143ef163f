//! Throwaway certificate chains (root -> "WWDR" -> pass type certificate) for trying things out
//! and for tests. NOT FOR PRODUCTION: Wallet only accepts passes signed under Apple's real WWDR.
use std::path::Path;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Name, X509NameBuilder};

/// What the pass type certificate says and when it is valid.
#[derive(Debug, Clone)]
pub struct SignerOptions {
    /// Subject `UID`.
    pub pass_type_identifier: String,
    /// Subject `OU`.
    pub team_identifier: String,
    /// `notBefore` relative to now, in seconds (negative = in the past).
    pub not_before_offset_secs: i64,
    /// `notAfter` relative to now, in seconds (negative makes an expired certificate).
    pub not_after_offset_secs: i64,
    /// Passphrase for the encrypted key formats and the .p12.
    pub passphrase: String,
}

impl Default for SignerOptions {
    fn default() -> Self {
        Self {
            pass_type_identifier: "pass.com.example.test".into(),
            team_identifier: "TEAM123456".into(),
            not_before_offset_secs: -3600,
            not_after_offset_secs: 365 * 86_400,
            passphrase: "secret-passphrase".into(),
        }
    }
}

/// A throwaway root CA and a "WWDR" intermediate under it.
pub struct DevCa {
    root: X509,
    wwdr: X509,
    wwdr_key: PKey<Private>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevCa { .. }")
    }
}

/// A whole chain in memory, the signer's key in every format.
#[derive(Debug, Clone)]
pub struct DevChain {
    /// The root CA (the trust anchor for `openssl cms -verify -CAfile`).
    pub root_pem: Vec<u8>,
    /// The "WWDR" intermediate.
    pub wwdr_pem: Vec<u8>,
    /// The pass type certificate.
    pub signer_cert_pem: Vec<u8>,
    /// Unencrypted PKCS#8 (`BEGIN PRIVATE KEY`).
    pub signer_key_pkcs8_pem: Vec<u8>,
    /// Unencrypted PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub signer_key_pkcs1_pem: Vec<u8>,
    /// Encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`, PBES2/AES-256-CBC).
    pub signer_key_encrypted_pkcs8_pem: Vec<u8>,
    /// Legacy `Proc-Type: 4,ENCRYPTED` with DES-EDE3-CBC.
    pub signer_key_legacy_des3_pem: Vec<u8>,
    /// Legacy `Proc-Type: 4,ENCRYPTED` with AES-256-CBC.
    pub signer_key_legacy_aes_pem: Vec<u8>,
    /// PKCS#12 with OpenSSL 3's defaults (AES-256, PBKDF2).
    pub signer_p12: Vec<u8>,
    /// PKCS#12 as Keychain exports it (RC2-40 / 3DES, SHA-1 MAC); `None` if OpenSSL's `legacy`
    /// provider is unavailable.
    pub signer_p12_legacy: Option<Vec<u8>>,
    /// Passphrase of every encrypted format.
    pub passphrase: String,
}

fn rsa_key() -> Result<PKey<Private>, ErrorStack> {
    PKey::from_rsa(Rsa::generate(2048)?)
}

fn name(entries: &[(Nid, &str)]) -> Result<X509Name, ErrorStack> {
    let mut b = X509NameBuilder::new()?;
    for (nid, value) in entries {
        b.append_entry_by_nid(*nid, value)?;
    }
    Ok(b.build())
}

fn serial() -> Result<Asn1Integer, ErrorStack> {
    let mut bn = BigNum::new()?;
    bn.rand(120, MsbOption::MAYBE_ZERO, false)?;
    bn.to_asn1_integer()
}

fn time_from_now(offset_secs: i64) -> Result<Asn1Time, ErrorStack> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Asn1Time::from_unix(now.saturating_add(offset_secs))
}

/// A certificate for `subject`/`key` signed by `issuer` (self-signed when `None`).
fn certificate(
    subject: &X509Name,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    ca: bool,
    validity: (i64, i64),
) -> Result<X509, ErrorStack> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = serial()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer.map_or(subject, |(c, _)| c.subject_name()))?;
    b.set_pubkey(key)?;
    let (not_before, not_after) = (time_from_now(validity.0)?, time_from_now(validity.1)?);
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build()?)?;
    } else {
        b.append_extension(BasicConstraints::new().critical().build()?)?;
        b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        b.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
    }
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None))?;
    b.append_extension(ski)?;
    if issuer.is_some() {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None))?;
        b.append_extension(aki)?;
    }
    b.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())?;
    Ok(b.build())
}

impl DevCa {
    /// A new root and WWDR intermediate, valid for ten years.
    pub fn generate() -> Result<Self, ErrorStack> {
        let ten_years = (-86_400, 3650 * 86_400);
        let root_key = rsa_key()?;
        let root_name = name(&[
            (Nid::COMMONNAME, "passmint dev root CA - NOT FOR PRODUCTION"),
            (Nid::ORGANIZATIONNAME, "passmint dev-certs"),
            (Nid::COUNTRYNAME, "US"),
        ])?;
        let root = certificate(&root_name, &root_key, None, true, ten_years)?;
        let wwdr_key = rsa_key()?;
        let wwdr_name = name(&[
            (
                Nid::COMMONNAME,
                "Dev Worldwide Developer Relations CA - NOT FOR PRODUCTION",
            ),
            (Nid::ORGANIZATIONALUNITNAME, "G4"),
            (Nid::ORGANIZATIONNAME, "passmint dev-certs"),
            (Nid::COUNTRYNAME, "US"),
        ])?;
        let wwdr = certificate(&wwdr_name, &wwdr_key, Some((&root, &root_key)), true, ten_years)?;
        Ok(Self { root, wwdr, wwdr_key })
    }

    /// Issues a pass type certificate under this CA, with its key in every format.
    pub fn issue(&self, options: &SignerOptions) -> Result<DevChain, ErrorStack> {
        let rsa = Rsa::generate(2048)?;
        let key = PKey::from_rsa(rsa.clone())?;
        let subject = name(&[
            (Nid::USERID, &options.pass_type_identifier),
            // X.509 caps a common name at 64 characters.
            (
                Nid::COMMONNAME,
                &format!("Pass Type ID: {}", options.pass_type_identifier)
                    .chars()
                    .take(64)
                    .collect::<String>(),
            ),
            (Nid::ORGANIZATIONALUNITNAME, &options.team_identifier),
            (Nid::ORGANIZATIONNAME, "passmint dev-certs"),
            (Nid::COUNTRYNAME, "US"),
        ])?;
        let cert = certificate(
            &subject,
            &key,
            Some((&self.wwdr, &self.wwdr_key)),
            false,
            (options.not_before_offset_secs, options.not_after_offset_secs),
        )?;
        let pass = options.passphrase.as_bytes();
        let mut ca = Stack::new()?;
        ca.push(self.wwdr.clone())?;
        let friendly = format!("Pass Type ID: {}", options.pass_type_identifier);
        let signer_p12 = Pkcs12::builder()
            .name(&friendly)
            .pkey(&key)
            .cert(&cert)
            .ca(ca)
            .build2(&options.passphrase)?
            .to_der()?;
        Ok(DevChain {
            root_pem: self.root.to_pem()?,
            wwdr_pem: self.wwdr.to_pem()?,
            signer_cert_pem: cert.to_pem()?,
            signer_key_pkcs8_pem: key.private_key_to_pem_pkcs8()?,
            signer_key_pkcs1_pem: rsa.private_key_to_pem()?,
            signer_key_encrypted_pkcs8_pem: key
                .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), pass)?,
            signer_key_legacy_des3_pem: rsa.private_key_to_pem_passphrase(Cipher::des_ede3_cbc(), pass)?,
            signer_key_legacy_aes_pem: rsa.private_key_to_pem_passphrase(Cipher::aes_256_cbc(), pass)?,
            signer_p12,
            signer_p12_legacy: legacy_p12(&key, &cert, &self.wwdr, &friendly, &options.passphrase),
            passphrase: options.passphrase.clone(),
        })
    }
}

/// A .p12 the way macOS Keychain writes it: certificates under RC2-40, the key under 3DES, SHA-1
/// MAC. RC2 lives in OpenSSL 3's `legacy` provider, loaded only while building.
fn legacy_p12(
    key: &PKey<Private>,
    cert: &X509,
    wwdr: &X509,
    friendly: &str,
    passphrase: &str,
) -> Option<Vec<u8>> {
    let _legacy = openssl::provider::Provider::try_load(None, "legacy", true).ok()?;
    let mut ca = Stack::new().ok()?;
    ca.push(wwdr.clone()).ok()?;
    Pkcs12::builder()
        .name(friendly)
        .pkey(key)
        .cert(cert)
        .ca(ca)
        .cert_algorithm(Nid::PBE_WITHSHA1AND40BITRC2_CBC)
        .key_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
        .mac_md(MessageDigest::sha1())
        .build2(passphrase)
        .and_then(|p| p.to_der())
        .ok()
}

/// A fresh root, WWDR and pass type certificate in one go.
pub fn generate(options: &SignerOptions) -> Result<DevChain, ErrorStack> {
    DevCa::generate()?.issue(options)
}

impl DevChain {
    /// Writes the chain as files into `dir` (created if needed): `root.pem`, `wwdr.pem`,
    /// `signer.pem`, `signer.key` (plain PKCS#8), `signer.pkcs1.key`, `signer.pkcs8.key`
    /// (encrypted), `signer.legacy.key` (Proc-Type DES3), `signer.p12` (and
    /// `signer.legacy.p12`), and a `README.txt` with the passphrase.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let files: [(&str, &[u8]); 9] = [
            ("root.pem", &self.root_pem),
            ("wwdr.pem", &self.wwdr_pem),
            ("signer.pem", &self.signer_cert_pem),
            ("signer.key", &self.signer_key_pkcs8_pem),
            ("signer.pkcs1.key", &self.signer_key_pkcs1_pem),
            ("signer.pkcs8.key", &self.signer_key_encrypted_pkcs8_pem),
            ("signer.legacy.key", &self.signer_key_legacy_des3_pem),
            ("signer.legacy-aes.key", &self.signer_key_legacy_aes_pem),
            ("signer.p12", &self.signer_p12),
        ];
        for (name, bytes) in files {
            write_private(&dir.join(name), bytes)?;
        }
        if let Some(p12) = &self.signer_p12_legacy {
            write_private(&dir.join("signer.legacy.p12"), p12)?;
        }
        let readme = format!(
            "NOT FOR PRODUCTION\n\
             ==================\n\n\
             A throwaway certificate chain made by `passmint dev-certs`: root.pem -> wwdr.pem ->\n\
             signer.pem. iPhones will NOT accept passes signed with it (only Apple's WWDR is\n\
             trusted); use it to try passmint and to check signatures with\n\
             openssl cms -verify -binary -inform DER -in signature -content manifest.json \
             -purpose any -CAfile root.pem\n\n\
             Passphrase of signer.pkcs8.key, signer.legacy.key, signer.legacy-aes.key and the \
             .p12 files: {}\n\n\
             signer.key         private key, unencrypted PKCS#8\n\
             signer.pkcs1.key   private key, unencrypted PKCS#1\n\
             signer.pkcs8.key   private key, encrypted PKCS#8 (AES-256)\n\
             signer.legacy.key  private key, legacy Proc-Type: 4,ENCRYPTED (DES-EDE3-CBC)\n\
             signer.legacy-aes.key  the same with AES-256-CBC\n\
             signer.p12         certificate + key (+ WWDR), PKCS#12\n\
             signer.legacy.p12  the same as macOS Keychain exports it (RC2-40)\n",
            self.passphrase
        );
        std::fs::write(dir.join("README.txt"), readme)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
