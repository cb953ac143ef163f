//! Checking a signed `.pkpass` made by anything, as Wallet does before it installs one: the zip,
//! `manifest.json` against every file, the detached signature over the manifest, its chain to
//! Apple's roots (shipped here) or to extra roots, the signing time, the certificates' validity,
//! the certificate against `pass.json`'s identifiers, then `pass.json`, the images and the
//! strings. Every problem is reported at once.
use std::collections::BTreeMap;

use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509PurposeId, X509StoreContext};
use time::OffsetDateTime;

use crate::pass_json::Mode;
use crate::problem::Findings;
use crate::template::{self, Limits};

/// Apple's public CA certificates, as published at apple.com/certificateauthority (see
/// `certs/apple/README.md` for their fingerprints): the two roots, and the WWDR intermediates
/// G1–G6 that issue pass type certificates.
pub const APPLE_ROOTS: &[(&str, &[u8])] = &[
    (
        "Apple Root CA",
        include_bytes!("../certs/apple/AppleIncRootCertificate.pem"),
    ),
    (
        "Apple Root CA - G3",
        include_bytes!("../certs/apple/AppleRootCA-G3.pem"),
    ),
];

/// Apple's WWDR intermediates, offered to chain building when a signature leaves them out.
pub const APPLE_WWDR: &[(&str, &[u8])] = &[
    ("WWDR G1", include_bytes!("../certs/apple/AppleWWDRCA.pem")),
    ("WWDR G2", include_bytes!("../certs/apple/AppleWWDRCAG2.pem")),
    ("WWDR G3", include_bytes!("../certs/apple/AppleWWDRCAG3.pem")),
    ("WWDR G4", include_bytes!("../certs/apple/AppleWWDRCAG4.pem")),
    ("WWDR G5", include_bytes!("../certs/apple/AppleWWDRCAG5.pem")),
    ("WWDR G6", include_bytes!("../certs/apple/AppleWWDRCAG6.pem")),
];

/// What to check against.
#[derive(Debug, Clone)]
pub struct Options {
    /// Roots trusted next to Apple's (`passmint lint --ca`), e.g. a test chain's.
    pub extra_roots: Vec<X509>,
    /// The time to judge validity at (now, except in tests).
    pub now: OffsetDateTime,
    /// Caps on the archive.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            extra_roots: Vec::new(),
            now: OffsetDateTime::now_utc(),
            limits: Limits {
                max_zip_bytes: u64::MAX,
                ..Limits::default()
            },
        }
    }
}

/// True when the zip holds a `signature` or `manifest.json` at its top level: a signed pass
/// rather than a template.
#[must_use]
pub fn looks_signed(bytes: &[u8]) -> bool {
    zip::ZipArchive::new(std::io::Cursor::new(bytes)).is_ok_and(|a| {
        a.file_names().any(|n| {
            n.as_deref()
                .is_ok_and(|n| n == "signature" || n == "manifest.json")
        })
    })
}

/// Checks a signed `.pkpass`, every problem at once.
#[must_use]
pub fn check(bytes: &[u8], options: &Options) -> Findings {
    let mut findings = Findings::default();
    let raw = template::read_zip(bytes, &options.limits, &mut findings);
    let mut files = BTreeMap::new();
    for (name, data) in raw {
        if files.contains_key(&name) {
            findings.error(name.as_str(), "appears more than once");
            continue;
        }
        let depth = name.matches('/').count();
        let in_lproj = name.split_once('/').is_some_and(|(d, _)| d.ends_with(".lproj"));
        if depth > 1 || (depth == 1 && !in_lproj) {
            findings.error(
                name.as_str(),
                "is not at the top level or in a .lproj folder; Wallet refuses a pass with files \
                 elsewhere (was the pass zipped with its folder?)",
            );
        }
        files.insert(name, data);
    }
    if files.is_empty() && !findings.errors.is_empty() {
        return findings;
    }
    let manifest = files.get("manifest.json").cloned();
    match &manifest {
        None => findings.error("manifest.json", "is missing: Wallet refuses an unsigned pass"),
        Some(m) => check_manifest(m, &files, &mut findings),
    }
    let pass_json = {
        let content: BTreeMap<String, Vec<u8>> = files
            .iter()
            .filter(|(n, _)| *n != "manifest.json" && *n != "signature")
            .map(|(n, b)| (n.clone(), b.clone()))
            .collect();
        template::check_contents(&content, Mode::Rendered, &mut findings)
    };
    match (files.get("signature"), &manifest) {
        (None, _) => findings.error("signature", "is missing: Wallet refuses an unsigned pass"),
        (Some(sig), Some(manifest)) => check_signature(sig, manifest, &pass_json, options, &mut findings),
        (Some(_), None) => {}
    }
    findings
}

fn check_manifest(bytes: &[u8], files: &BTreeMap<String, Vec<u8>>, findings: &mut Findings) {
    let manifest: BTreeMap<String, serde_json::Value> = match serde_json::from_slice(bytes) {
        Ok(m) => m,
        Err(e) => {
            findings.error(
                "manifest.json",
                format!("is not a JSON object of file hashes: {e}"),
            );
            return;
        }
    };
    for (name, data) in files {
        if name == "manifest.json" || name == "signature" {
            continue;
        }
        match manifest.get(name) {
            None => findings.error(
                format!("manifest.json: {name}"),
                "is missing: every file in the pass must be listed with its SHA-1",
            ),
            Some(serde_json::Value::String(hash)) => {
                let actual = crate::manifest::sha1_hex(data);
                if !hash.eq_ignore_ascii_case(&actual) {
                    findings.error(
                        format!("manifest.json: {name}"),
                        format!("says SHA-1 {hash}, but the file's is {actual}: it changed after signing"),
                    );
                }
            }
            Some(_) => findings.error(format!("manifest.json: {name}"), "must be a hex SHA-1 string"),
        }
    }
    for name in manifest.keys() {
        if !files.contains_key(name) {
            findings.error(format!("manifest.json: {name}"), "is listed but not in the pass");
        }
    }
}

fn subject_cn(cert: &X509) -> String {
    cert.subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .unwrap_or_else(|| "(no CN)".to_owned())
}

fn issuer_cn(cert: &X509) -> String {
    cert.issuer_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .unwrap_or_else(|| "(no CN)".to_owned())
}

fn check_signature(
    signature: &[u8],
    manifest: &[u8],
    pass_json: &serde_json::Value,
    options: &Options,
    findings: &mut Findings,
) {
    let p7 = match Pkcs7::from_der(signature) {
        Ok(p) => p,
        Err(_) => {
            findings.error("signature", "is not a DER PKCS#7/CMS signature");
            return;
        }
    };
    let embedded: Vec<X509> = p7
        .signed()
        .and_then(|s| s.certificates())
        .map(|certs| certs.iter().map(ToOwned::to_owned).collect())
        .unwrap_or_default();
    let Ok(empty) = Stack::<X509>::new() else {
        return;
    };
    let signer = match p7.signers(&empty, Pkcs7Flags::empty()) {
        Ok(s) if !s.is_empty() => s.get(0).map(ToOwned::to_owned),
        _ => None,
    };
    let Some(signer) = signer else {
        findings.error(
            "signature",
            "holds no signer certificate: include the pass type certificate in the signature",
        );
        return;
    };

    // 1. The signature over manifest.json, without judging the certificate yet.
    let no_store = X509StoreBuilder::new().map(X509StoreBuilder::build);
    if let Ok(store) = &no_store {
        let mut certs = Stack::new().ok();
        if let Some(c) = certs.as_mut() {
            let _ = c.push(signer.clone());
        }
        if let Some(certs) = certs
            && p7
                .verify(
                    &certs,
                    store,
                    Some(manifest),
                    None,
                    Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY | Pkcs7Flags::DETACHED,
                )
                .is_err()
        {
            findings.error(
                "signature",
                "does not match manifest.json: the manifest changed after signing, or the \
                 signature is damaged",
            );
        }
    }

    // 2. The chain, to Apple's roots or the extra ones (times judged separately below).
    let chain = chain_to_roots(&signer, &embedded, options);
    match &chain {
        Ok(_) => {}
        Err(why) => findings.error(
            "signature",
            format!(
                "the signer certificate \"{}\" (issued by \"{}\") does not chain to Apple's root \
                 certificates{}: {why}",
                subject_cn(&signer),
                issuer_cn(&signer),
                if options.extra_roots.is_empty() {
                    ""
                } else {
                    " or the --ca roots"
                }
            ),
        ),
    }
    if !embedded.iter().any(|c| {
        c.subject_name_hash() == signer.issuer_name_hash()
            && c.issued(&signer) == openssl::x509::X509VerifyResult::OK
    }) {
        findings.warn(
            "signature",
            format!(
                "does not include the intermediate certificate \"{}\"; include Apple's WWDR \
                 certificate so every device can build the chain",
                issuer_cn(&signer)
            ),
        );
    }

    // 3. Validity now, of the signer and its issuers.
    let now = Asn1Time::from_unix(options.now.unix_timestamp()).ok();
    let mut to_judge = vec![signer.clone()];
    if let Ok(chain) = chain {
        to_judge = chain;
    }
    if let Some(now) = &now {
        for cert in &to_judge {
            if cert.not_after() < *now {
                findings.error(
                    "signature",
                    format!(
                        "the certificate \"{}\" expired on {}: Wallet refuses new passes signed with it",
                        subject_cn(cert),
                        cert.not_after()
                    ),
                );
            } else if cert.not_before() > *now {
                findings.error(
                    "signature",
                    format!(
                        "the certificate \"{}\" is not valid before {}",
                        subject_cn(cert),
                        cert.not_before()
                    ),
                );
            }
        }
    }

    // 4. The signing time, which Wallet requires, within the signer's validity.
    match signing_time(signature) {
        None => findings.error(
            "signature",
            "has no signing time (signed attribute 1.2.840.113549.1.9.5); Wallet refuses it",
        ),
        Some(at) => {
            if let Ok(at_asn1) = Asn1Time::from_unix(at.unix_timestamp())
                && (signer.not_after() < at_asn1 || signer.not_before() > at_asn1)
            {
                findings.error(
                    "signature",
                    format!(
                        "was made at {at}, outside the signer certificate's validity ({} to {})",
                        signer.not_before(),
                        signer.not_after()
                    ),
                );
            }
            if at > options.now + time::Duration::hours(1) {
                findings.warn("signature", format!("claims a signing time in the future ({at})"));
            }
        }
    }

    // 5. The certificate against pass.json's identifiers.
    let pti = pass_json.get("passTypeIdentifier").and_then(|v| v.as_str());
    let team = pass_json.get("teamIdentifier").and_then(|v| v.as_str());
    if let (Some(pti), Some(team), Ok(pem)) = (pti, team, signer.to_pem()) {
        for p in crate::sign::check_certificate_identifiers(&pem, pti, team) {
            findings.error(format!("pass.json: {}", p.field.param()), p.message);
        }
    }
}

/// Builds and verifies the signer's chain; returns it (signer first) or why it fails.
fn chain_to_roots(signer: &X509, embedded: &[X509], options: &Options) -> Result<Vec<X509>, String> {
    let fail = |e: openssl::error::ErrorStack| e.to_string();
    let mut store = X509StoreBuilder::new().map_err(fail)?;
    for (_, pem) in APPLE_ROOTS {
        store.add_cert(X509::from_pem(pem).map_err(fail)?).map_err(fail)?;
    }
    for root in &options.extra_roots {
        store.add_cert(root.clone()).map_err(fail)?;
    }
    // Validity is judged on its own, so an expired certificate is named as expired, not as a
    // broken chain; any purpose, as Wallet doesn't require S/MIME key usage.
    store.set_flags(X509VerifyFlags::NO_CHECK_TIME).map_err(fail)?;
    store.set_purpose(X509PurposeId::ANY).map_err(fail)?;
    let store = store.build();
    let mut untrusted = Stack::new().map_err(fail)?;
    for cert in embedded {
        untrusted.push(cert.clone()).map_err(fail)?;
    }
    for (_, pem) in APPLE_WWDR {
        untrusted.push(X509::from_pem(pem).map_err(fail)?).map_err(fail)?;
    }
    let mut ctx = X509StoreContext::new().map_err(fail)?;
    ctx.init(&store, signer, &untrusted, |c| {
        if c.verify_cert()? {
            Ok(Ok(c
                .chain()
                .map(|chain| chain.iter().map(ToOwned::to_owned).collect())
                .unwrap_or_default()))
        } else {
            Ok(Err(c.error().error_string().to_owned()))
        }
    })
    .map_err(fail)?
}

/// The `signingTime` signed attribute: the first UTCTime or GeneralizedTime after its OID.
fn signing_time(der: &[u8]) -> Option<OffsetDateTime> {
    const OID: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05];
    let at = der.windows(OID.len()).position(|w| w == OID)? + OID.len();
    // SET { time }
    let rest = der.get(at..)?;
    if rest.first() != Some(&0x31) {
        return None;
    }
    let time = rest.get(2..)?;
    let (tag, len) = (*time.first()?, usize::from(*time.get(1)?));
    let text = std::str::from_utf8(time.get(2..2 + len)?).ok()?;
    let full = match tag {
        // YYMMDDhhmmssZ: 50–99 are 19xx (RFC 5280).
        0x17 => {
            let yy: i32 = text.get(..2)?.parse().ok()?;
            format!("{}{}", if yy >= 50 { 19 } else { 20 }, text)
        }
        0x18 => text.to_owned(),
        _ => return None,
    };
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    time::PrimitiveDateTime::parse(&full, &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apples_certificates_parse_and_the_intermediates_chain_to_the_roots() {
        let roots: Vec<X509> = APPLE_ROOTS
            .iter()
            .map(|(_, p)| X509::from_pem(p).unwrap())
            .collect();
        for (name, pem) in APPLE_WWDR {
            let cert = X509::from_pem(pem).unwrap();
            assert!(
                roots
                    .iter()
                    .any(|r| r.issued(&cert) == openssl::x509::X509VerifyResult::OK
                        && cert.verify(&r.public_key().unwrap()).unwrap()),
                "{name} is not signed by an Apple root"
            );
        }
    }

    #[test]
    fn reads_utc_and_generalized_signing_times() {
        let mut der = vec![
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05, 0x31, 0x0f, 0x17, 0x0d,
        ];
        der.extend_from_slice(b"261122160509Z");
        assert_eq!(signing_time(&der).unwrap().unix_timestamp(), 1_795_363_509);
        assert_eq!(signing_time(b"nothing"), None);
    }
}
