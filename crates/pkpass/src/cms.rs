//! The pass signature: a DER CMS `SignedData` (RFC 5652), detached, written directly.
//!
//! Everything that doesn't change between passes (the certificates, the signer's issuer and
//! serial number, the algorithm identifiers) is encoded once when the identity is loaded; per
//! pass only the signed attributes (contentType, signingTime, messageDigest) are encoded and
//! signed. This is what `PKCS7_sign` with `DETACHED | BINARY | NOSMIMECAP` produces, without
//! rebuilding OpenSSL's ASN.1 structures for every pass (it cost ~10 % of each pass).
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use openssl::x509::X509;
use sha2::{Digest, Sha256};

const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const OID_SIGNING_TIME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0]`, constructed (IMPLICIT SET OF, or EXPLICIT content).
const CONTEXT_0: u8 = 0xa0;

/// Appends a DER tag-length-value.
fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 5);
    tlv(&mut out, tag, content);
    out
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `AlgorithmIdentifier { algorithm, parameters NULL }`.
fn algorithm(oid: &[u8]) -> Vec<u8> {
    der(SEQUENCE, &concat(&[&der(OID, oid), &der(NULL, &[])]))
}

/// A DER INTEGER from a certificate serial number's big-endian magnitude.
fn integer(magnitude: &[u8], negative: bool) -> Vec<u8> {
    let trimmed: &[u8] = {
        let skip = magnitude.iter().take_while(|b| **b == 0).count();
        &magnitude[skip.min(magnitude.len().saturating_sub(1))..]
    };
    let mut bytes = if trimmed.is_empty() {
        vec![0]
    } else {
        trimmed.to_vec()
    };
    if negative {
        // Two's complement: invert and add one.
        for b in &mut bytes {
            *b = !*b;
        }
        for b in bytes.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        if bytes[0] & 0x80 == 0 {
            bytes.insert(0, 0xff);
        }
    } else if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    der(INTEGER, &bytes)
}

/// The parts of a signature that are the same for every pass.
#[derive(Debug, Clone)]
pub struct Template {
    /// `[0] IMPLICIT SET OF Certificate`: signer and WWDR.
    certificates: Vec<u8>,
    /// `IssuerAndSerialNumber` of the signer.
    issuer_and_serial: Vec<u8>,
    digest_algorithm: Vec<u8>,
    signature_algorithm: Vec<u8>,
}

impl Template {
    /// Encodes what doesn't change. Returns `None` for a key other than RSA (pass type
    /// certificates are RSA); the caller then signs with OpenSSL's `PKCS7_sign`.
    pub fn new(cert: &X509, key: &PKey<Private>, wwdr: &X509) -> Result<Option<Self>, ErrorStack> {
        if key.rsa().is_err() {
            return Ok(None);
        }
        let mut certs = [cert.to_der()?, wwdr.to_der()?];
        // DER orders the members of a SET OF by their encodings.
        certs.sort();
        let serial = cert.serial_number().to_bn()?;
        let issuer_and_serial = der(
            SEQUENCE,
            &concat(&[
                &cert.issuer_name().to_der()?,
                &integer(&serial.to_vec(), serial.is_negative()),
            ]),
        );
        Ok(Some(Self {
            certificates: der(CONTEXT_0, &certs.concat()),
            issuer_and_serial,
            digest_algorithm: algorithm(OID_SHA256),
            signature_algorithm: algorithm(OID_RSA_ENCRYPTION),
        }))
    }

    /// A detached `SignedData` over `content`, signed by `key` at `now`.
    pub fn sign(
        &self,
        key: &PKey<Private>,
        content: &[u8],
        now: time::OffsetDateTime,
    ) -> Result<Vec<u8>, ErrorStack> {
        let digest = Sha256::digest(content);
        let data_oid = der(OID, OID_DATA);
        let mut attributes = [
            der(
                SEQUENCE,
                &concat(&[&der(OID, OID_CONTENT_TYPE), &der(SET, &data_oid)]),
            ),
            der(
                SEQUENCE,
                &concat(&[&der(OID, OID_SIGNING_TIME), &der(SET, &signing_time(now))]),
            ),
            der(
                SEQUENCE,
                &concat(&[
                    &der(OID, OID_MESSAGE_DIGEST),
                    &der(SET, &der(OCTET_STRING, &digest)),
                ]),
            ),
        ];
        attributes.sort();
        let attributes = attributes.concat();

        // The signature covers the attributes encoded as a SET (RFC 5652, 5.4).
        let mut signer = Signer::new(MessageDigest::sha256(), key)?;
        signer.update(&der(SET, &attributes))?;
        let signature = signer.sign_to_vec()?;

        let signer_info = der(
            SEQUENCE,
            &concat(&[
                &der(INTEGER, &[1]),
                &self.issuer_and_serial,
                &self.digest_algorithm,
                &der(CONTEXT_0, &attributes),
                &self.signature_algorithm,
                &der(OCTET_STRING, &signature),
            ]),
        );
        let signed_data = der(
            SEQUENCE,
            &concat(&[
                &der(INTEGER, &[1]),
                &der(SET, &self.digest_algorithm),
                &der(SEQUENCE, &data_oid),
                &self.certificates,
                &der(SET, &signer_info),
            ]),
        );
        Ok(der(
            SEQUENCE,
            &concat(&[&der(OID, OID_SIGNED_DATA), &der(CONTEXT_0, &signed_data)]),
        ))
    }
}

/// `Time`: UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5652, 11.3).
fn signing_time(now: time::OffsetDateTime) -> Vec<u8> {
    let now = now.to_offset(time::UtcOffset::UTC);
    let (year, tag) = if (1950..2050).contains(&now.year()) {
        (format!("{:02}", now.year() % 100), UTC_TIME)
    } else {
        (format!("{:04}", now.year()), GENERALIZED_TIME)
    };
    let text = format!(
        "{year}{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    der(tag, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lengths_and_integers_as_der() {
        assert_eq!(der(OCTET_STRING, &[7; 3]), [4, 3, 7, 7, 7]);
        assert_eq!(&der(OCTET_STRING, &[0; 200])[..3], &[4, 0x81, 200]);
        assert_eq!(&der(OCTET_STRING, &[0; 300])[..4], &[4, 0x82, 1, 44]);
        assert_eq!(integer(&[0x7f], false), [2, 1, 0x7f]);
        assert_eq!(integer(&[0x80], false), [2, 2, 0, 0x80]);
        assert_eq!(integer(&[0, 0, 5], false), [2, 1, 5]);
        assert_eq!(integer(&[], false), [2, 1, 0]);
        assert_eq!(integer(&[1], true), [2, 1, 0xff]); // -1
        assert_eq!(integer(&[0x80], true), [2, 1, 0x80]); // -128
        assert_eq!(integer(&[0x81], true), [2, 2, 0xff, 0x7f]); // -129
    }

    #[test]
    fn writes_utc_time_until_2049_and_generalized_time_after() {
        let t = time::macros::datetime!(2026-11-22 16:05:09 UTC);
        assert_eq!(signing_time(t), der(UTC_TIME, b"261122160509Z"));
        let t = time::macros::datetime!(2051-01-02 03:04:05 UTC);
        assert_eq!(signing_time(t), der(GENERALIZED_TIME, b"20510102030405Z"));
    }
}
