//! Throwaway certificates: a CA, the server's certificate, and client certificates.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Name, X509NameBuilder};

use crate::Error;

/// A self-signed test certificate authority (P-256).
pub struct TestCa {
    cert: X509,
    key: PKey<Private>,
    pem: String,
}

/// A certificate issued by a [`TestCa`], with its key.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The certificate, DER.
    pub certificate_der: Vec<u8>,
    /// Its private key, unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
    /// The subject, as `CN=…, O=…`.
    pub subject: String,
}

impl TestCa {
    /// A new CA named `common_name`, valid from yesterday for ten years.
    ///
    /// # Errors
    /// [`Error::Pki`] if OpenSSL fails.
    pub fn generate(common_name: &str) -> Result<Self, Error> {
        let key = ec_key()?;
        let name = name(common_name)?;
        let mut builder = base_builder(&name, &name, &key)?;
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build()?)?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(&key, MessageDigest::sha256())?;
        let cert = builder.build();
        let pem = pem_string(cert.to_pem()?)?;
        Ok(Self { cert, key, pem })
    }

    /// The CA certificate, PEM: what a client adds to its trusted roots.
    #[must_use]
    pub fn certificate_pem(&self) -> &str {
        &self.pem
    }

    /// A TLS server certificate (P-256) for the given DNS names and IP addresses.
    ///
    /// # Errors
    /// [`Error::Pki`] if OpenSSL fails or a name is unusable.
    pub fn issue_server(&self, names: &[&str]) -> Result<IssuedCertificate, Error> {
        let key = ec_key()?;
        let subject = name(names.first().copied().unwrap_or("localhost"))?;
        let mut builder = base_builder(&subject, self.cert.subject_name(), &key)?;
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        builder.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        let mut san = SubjectAlternativeName::new();
        for name in names {
            if name.parse::<std::net::IpAddr>().is_ok() {
                san.ip(name);
            } else {
                san.dns(name);
            }
        }
        let san = san.build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(san)?;
        self.finish(builder, &key)
    }

    /// A TLS client certificate with an RSA-2048 key, like a Wallet pass type certificate.
    ///
    /// # Errors
    /// [`Error::Pki`] if OpenSSL fails.
    pub fn issue_client(&self, common_name: &str) -> Result<IssuedCertificate, Error> {
        let key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let subject = name(common_name)?;
        let mut builder = base_builder(&subject, self.cert.subject_name(), &key)?;
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()?,
        )?;
        builder.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?;
        self.finish(builder, &key)
    }

    fn finish(&self, mut builder: X509Builder, key: &PKey<Private>) -> Result<IssuedCertificate, Error> {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(aki)?;
        builder.sign(&self.key, MessageDigest::sha256())?;
        let cert = builder.build();
        Ok(IssuedCertificate {
            certificate_pem: pem_string(cert.to_pem()?)?,
            certificate_der: cert.to_der()?,
            private_key_pem: pem_string(key.private_key_to_pem_pkcs8()?)?,
            subject: subject_string(cert.subject_name()),
        })
    }
}

/// `CN=…, O=…` for a DER certificate, or `None` if it does not parse.
pub(crate) fn subject_of(der: &[u8]) -> Option<String> {
    X509::from_der(der)
        .ok()
        .map(|cert| subject_string(cert.subject_name()))
}

fn subject_string(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_else(|_| "?".to_owned());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn ec_key() -> Result<PKey<Private>, Error> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
}

fn name(common_name: &str) -> Result<X509Name, Error> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "apns-testserver")?;
    Ok(name.build())
}

fn base_builder(
    subject: &openssl::x509::X509NameRef,
    issuer: &openssl::x509::X509NameRef,
    key: &PKey<Private>,
) -> Result<X509Builder, Error> {
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(120, MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(subject)?;
    builder.set_issuer_name(issuer)?;
    builder.set_pubkey(key)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::Pki("the clock is before 1970".into()))?
        .as_secs();
    let day: i64 = 86_400;
    let now = i64::try_from(now).map_err(|_| Error::Pki("the clock is out of range".into()))?;
    let not_before = Asn1Time::from_unix(now - day)?;
    let not_after = Asn1Time::from_unix(now + 3650 * day)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    Ok(builder)
}

fn pem_string(pem: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(pem).map_err(|_| Error::Pki("OpenSSL wrote non-UTF-8 PEM".into()))
}
