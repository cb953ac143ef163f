//! Signing material: every key format, every certificate mismatch, all problems at once.
mod common;

use common::*;
use pkpass::dev_certs::{DevCa, SignerOptions};
use pkpass::{
    PassIdentity, PreparedTemplate, RenderInput, SigningError, SigningField, SigningIdentity,
    SigningMaterial, SigningProblem, Template,
};
use serde_json::Value;

fn load(
    cert: &[u8],
    key: &[u8],
    passphrase: Option<&str>,
    wwdr: &[u8],
) -> Result<SigningIdentity, SigningError> {
    SigningIdentity::load(SigningMaterial {
        signer_cert: cert,
        signer_key: key,
        passphrase,
        wwdr,
    })
}

fn problems(result: Result<SigningIdentity, SigningError>) -> Vec<SigningProblem> {
    match result {
        Err(SigningError::Invalid(problems)) => problems,
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("expected Invalid, got a usable identity"),
    }
}

fn fields(problems: &[SigningProblem]) -> Vec<SigningField> {
    problems.iter().map(|p| p.field).collect()
}

/// Signs a real pass with `identity` and checks it with `openssl cms -verify`.
fn assert_signs_verifying_passes(identity: &SigningIdentity, root_pem: &[u8]) {
    let template = Template::from_zip(&zip_files(&template_files(&store_card_json())), &limits()).unwrap();
    let payload = payload();
    let input = RenderInput {
        payload: &payload,
        overrides: &Value::Null,
        identity: PassIdentity {
            pass_type_identifier: "pass.com.example.test",
            team_identifier: "TEAM123456",
            serial_number: "1",
            web_service: None,
        },
    };
    let pass = PreparedTemplate::new(template).issue(&input, identity).unwrap();
    verify_pass(&pass.bytes, root_pem);
}

#[test]
fn loads_the_key_in_every_pem_format_and_signs_verifying_passes() {
    let chain = chain();
    let pw = Some(chain.passphrase.as_str());
    for (format, key, passphrase) in [
        ("plain PKCS#8", &chain.signer_key_pkcs8_pem, None),
        ("plain PKCS#1", &chain.signer_key_pkcs1_pem, None),
        (
            "plain key with a needless passphrase",
            &chain.signer_key_pkcs8_pem,
            pw,
        ),
        ("encrypted PKCS#8", &chain.signer_key_encrypted_pkcs8_pem, pw),
        ("legacy Proc-Type DES-EDE3", &chain.signer_key_legacy_des3_pem, pw),
        ("legacy Proc-Type AES-256", &chain.signer_key_legacy_aes_pem, pw),
    ] {
        let identity = load(&chain.signer_cert_pem, key, passphrase, &chain.wwdr_pem)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_signs_verifying_passes(&identity, &chain.root_pem);
    }
    assert!(String::from_utf8_lossy(&chain.signer_key_legacy_des3_pem).contains("Proc-Type: 4,ENCRYPTED"));
    assert!(String::from_utf8_lossy(&chain.signer_key_legacy_des3_pem).contains("DES-EDE3-CBC"));
    assert!(
        String::from_utf8_lossy(&chain.signer_key_encrypted_pkcs8_pem)
            .contains("BEGIN ENCRYPTED PRIVATE KEY")
    );
}

#[test]
fn loads_a_p12_including_a_keychain_style_rc2_export() {
    let chain = chain();
    let identity = SigningIdentity::from_p12(&chain.signer_p12, &chain.passphrase, &chain.wwdr_pem).unwrap();
    assert_signs_verifying_passes(&identity, &chain.root_pem);
    let legacy = chain
        .signer_p12_legacy
        .as_ref()
        .expect("OpenSSL's legacy provider is installed");
    let identity = SigningIdentity::from_p12(legacy, &chain.passphrase, &chain.wwdr_pem).unwrap();
    assert_signs_verifying_passes(&identity, &chain.root_pem);
}

#[test]
fn a_p12_with_the_wrong_passphrase_blames_the_passphrase() {
    let chain = chain();
    let legacy = chain.signer_p12_legacy.as_ref().unwrap();
    for p12 in [&chain.signer_p12, legacy] {
        let found = problems(SigningIdentity::from_p12(p12, "wrong", &chain.wwdr_pem));
        assert_eq!(fields(&found), [SigningField::SignerKeyPassphrase]);
    }
    let found = problems(SigningIdentity::from_p12(b"garbage", "x", &chain.wwdr_pem));
    assert_eq!(fields(&found), [SigningField::SignerKey]);
}

#[test]
fn rejects_a_wrong_passphrase_for_each_encrypted_format() {
    let chain = chain();
    for key in [
        &chain.signer_key_encrypted_pkcs8_pem,
        &chain.signer_key_legacy_des3_pem,
        &chain.signer_key_legacy_aes_pem,
    ] {
        let found = problems(load(&chain.signer_cert_pem, key, Some("not it"), &chain.wwdr_pem));
        assert_eq!(fields(&found), [SigningField::SignerKeyPassphrase]);
        assert!(
            found[0].message.contains("wrong passphrase"),
            "{}",
            found[0].message
        );
        let found = problems(load(&chain.signer_cert_pem, key, None, &chain.wwdr_pem));
        assert_eq!(fields(&found), [SigningField::SignerKeyPassphrase]);
        assert!(
            found[0].message.contains("passphrase is required"),
            "{}",
            found[0].message
        );
    }
}

#[test]
fn rejects_a_key_that_is_not_the_certificates() {
    let chain = chain();
    let other = pkpass::dev_certs::generate(&SignerOptions::default()).unwrap();
    let found = problems(load(
        &chain.signer_cert_pem,
        &other.signer_key_pkcs8_pem,
        None,
        &chain.wwdr_pem,
    ));
    assert_eq!(fields(&found), [SigningField::SignerKey]);
    assert!(found[0].message.contains("not the private key of signerCert"));
}

#[test]
fn rejects_a_signer_certificate_from_another_wwdr() {
    let chain = chain();
    let foreign = DevCa::generate()
        .unwrap()
        .issue(&SignerOptions::default())
        .unwrap();
    let found = problems(load(
        &chain.signer_cert_pem,
        &chain.signer_key_pkcs8_pem,
        None,
        &foreign.wwdr_pem,
    ));
    assert_eq!(fields(&found), [SigningField::SignerCert]);
    assert!(found[0].message.contains("not issued by the given WWDR"));
}

#[test]
fn rejects_an_expired_and_a_not_yet_valid_certificate() {
    let ca = DevCa::generate().unwrap();
    let expired = ca
        .issue(&SignerOptions {
            not_before_offset_secs: -10 * 86_400,
            not_after_offset_secs: -86_400,
            ..SignerOptions::default()
        })
        .unwrap();
    let found = problems(load(
        &expired.signer_cert_pem,
        &expired.signer_key_pkcs8_pem,
        None,
        &expired.wwdr_pem,
    ));
    assert_eq!(fields(&found), [SigningField::SignerCert]);
    assert!(found[0].message.contains("expired"), "{}", found[0].message);

    let future = ca
        .issue(&SignerOptions {
            not_before_offset_secs: 86_400,
            not_after_offset_secs: 10 * 86_400,
            ..SignerOptions::default()
        })
        .unwrap();
    let found = problems(load(
        &future.signer_cert_pem,
        &future.signer_key_pkcs8_pem,
        None,
        &future.wwdr_pem,
    ));
    assert_eq!(fields(&found), [SigningField::SignerCert]);
    assert!(
        found[0].message.contains("not valid before"),
        "{}",
        found[0].message
    );
}

#[test]
fn an_expired_certificate_restored_from_storage_still_loads() {
    let expired = pkpass::dev_certs::generate(&SignerOptions {
        not_before_offset_secs: -10 * 86_400,
        not_after_offset_secs: -86_400,
        ..SignerOptions::default()
    })
    .unwrap();
    let fresh = chain();
    let (cert, key, wwdr) = identity(&fresh).to_der_parts();
    let restored = SigningIdentity::from_der_parts(&cert, &key, &wwdr).unwrap();
    assert_signs_verifying_passes(&restored, &fresh.root_pem);

    let cert = openssl::x509::X509::from_pem(&expired.signer_cert_pem)
        .unwrap()
        .to_der()
        .unwrap();
    let key = openssl::pkey::PKey::private_key_from_pem(&expired.signer_key_pkcs8_pem)
        .unwrap()
        .private_key_to_pkcs8()
        .unwrap();
    let wwdr = openssl::x509::X509::from_pem(&expired.wwdr_pem)
        .unwrap()
        .to_der()
        .unwrap();
    let restored = SigningIdentity::from_der_parts(&cert, &key, &wwdr).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(restored.expires_at().unwrap() < now);
    assert!(matches!(
        SigningIdentity::from_der_parts(b"junk", &key, &wwdr),
        Err(SigningError::Invalid(_))
    ));
}

#[test]
fn checks_the_pass_type_identifier_and_team_against_the_certificate() {
    let chain = pkpass::dev_certs::generate(&SignerOptions {
        pass_type_identifier: "pass.com.example.coffee".into(),
        team_identifier: "ABCDE12345".into(),
        ..SignerOptions::default()
    })
    .unwrap();
    let identity = identity(&chain);
    assert!(
        identity
            .check_identifiers("pass.com.example.coffee", "ABCDE12345")
            .is_empty()
    );
    assert_eq!(
        identity.pass_type_identifier().as_deref(),
        Some("pass.com.example.coffee")
    );
    assert_eq!(identity.team_identifier().as_deref(), Some("ABCDE12345"));
    let found = identity.check_identifiers("pass.com.example.tea", "ZZZZZ99999");
    assert_eq!(
        fields(&found),
        [SigningField::PassTypeIdentifier, SigningField::TeamIdentifier]
    );
    assert_eq!(found[0].field.param(), "passTypeIdentifier");
    assert!(found[0].message.contains("pass.com.example.coffee"));
    assert_eq!(
        fields(&identity.check_identifiers("pass.com.example.coffee", "OTHER")),
        [SigningField::TeamIdentifier]
    );
}

#[test]
fn rejects_garbage_and_empty_pems_naming_each_field() {
    let found = problems(load(
        b"",
        b"  \n",
        None,
        b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
    ));
    assert_eq!(
        fields(&found),
        [
            SigningField::SignerCert,
            SigningField::Wwdr,
            SigningField::SignerKey
        ]
    );
    let found = problems(load(
        b"hello",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        None,
        b"\x00\x01",
    ));
    assert_eq!(
        fields(&found),
        [
            SigningField::SignerCert,
            SigningField::Wwdr,
            SigningField::SignerKey
        ]
    );
}

#[test]
fn reports_all_problems_at_once() {
    let chain = chain();
    let other = DevCa::generate()
        .unwrap()
        .issue(&SignerOptions {
            not_after_offset_secs: -60,
            not_before_offset_secs: -3600,
            ..SignerOptions::default()
        })
        .unwrap();
    // Someone else's expired certificate, our key, our WWDR.
    let found = problems(load(
        &other.signer_cert_pem,
        &chain.signer_key_pkcs8_pem,
        None,
        &chain.wwdr_pem,
    ));
    assert_eq!(
        fields(&found),
        [
            SigningField::SignerKey,
            SigningField::SignerCert,
            SigningField::SignerCert
        ],
        "{found:?}"
    );
}

#[test]
fn exposes_expiry_and_a_client_identity_for_apns() {
    let chain = chain();
    let identity = identity(&chain);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expires = identity.expires_at().unwrap();
    assert!((expires - (now + 365 * 86_400)).abs() < 600, "{expires} vs {now}");
    let (cert, key) = identity.client_identity_pem();
    assert!(
        String::from_utf8(cert)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(
        String::from_utf8(key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
}

#[test]
fn dev_certs_write_every_file_with_a_readme() {
    let chain = chain();
    let dir = tempfile::tempdir().unwrap();
    chain.write_to(dir.path()).unwrap();
    for name in [
        "root.pem",
        "wwdr.pem",
        "signer.pem",
        "signer.key",
        "signer.pkcs8.key",
        "signer.legacy.key",
        "signer.p12",
        "README.txt",
    ] {
        assert!(dir.path().join(name).is_file(), "{name}");
    }
    let readme = std::fs::read_to_string(dir.path().join("README.txt")).unwrap();
    assert!(readme.contains("NOT FOR PRODUCTION"));
    assert!(readme.contains(&chain.passphrase));
}

/// An EC certificate chain (root -> leaf), built here because Apple only issues RSA.
fn ec_chain() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::BasicConstraints;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let ca_key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let leaf_key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "EC test CA").unwrap();
    let ca_name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&ca_name).unwrap();
    b.set_issuer_name(&ca_name).unwrap();
    b.set_pubkey(&ca_key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let ca = b.build();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::USERID, "pass.com.example.ec")
        .unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONALUNITNAME, "ECTEAM")
        .unwrap();
    let leaf_name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&leaf_name).unwrap();
    b.set_issuer_name(&ca_name).unwrap();
    b.set_pubkey(&leaf_key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let leaf = b.build();
    (
        ca.to_pem().unwrap(),
        leaf.to_pem().unwrap(),
        leaf_key.private_key_to_pem_pkcs8().unwrap(),
    )
}

#[test]
fn an_ec_key_is_signed_through_openssls_pkcs7_and_verifies() {
    let (ca, cert, key) = ec_chain();
    // The CA acts as both "WWDR" and trust anchor.
    let identity = load(&cert, &key, None, &ca).unwrap();
    assert!(
        identity
            .check_identifiers("pass.com.example.ec", "ECTEAM")
            .is_empty()
    );
    assert_signs_verifying_passes(&identity, &ca);
}

#[test]
fn a_passphrase_with_a_nul_character_is_refused_not_a_panic() {
    let chain = chain();
    // Not PEM, so OpenSSL is asked to decrypt it as a DER PKCS#8 with the passphrase (the path
    // an API fuzzer found panicking inside the openssl crate).
    for key in [&b"0"[..], &chain.signer_key_encrypted_pkcs8_pem[..]] {
        let found = problems(load(&chain.signer_cert_pem, key, Some("a\0b"), &chain.wwdr_pem));
        assert_eq!(fields(&found), [SigningField::SignerKeyPassphrase]);
        assert!(found[0].message.contains("NUL"), "{}", found[0].message);
    }
    let found = problems(SigningIdentity::from_p12(
        &chain.signer_p12,
        "a\0b",
        &chain.wwdr_pem,
    ));
    assert_eq!(fields(&found), [SigningField::SignerKeyPassphrase]);
}

/// A certificate's `notAfter` is text that OpenSSL parses without checking: one whose date is
/// not a time (month 13), correctly signed by its WWDR, loads, and its expiry is `None` instead
/// of a panic (which an uploaded template could trigger).
#[test]
fn a_certificate_whose_not_after_is_not_a_time_has_no_expiry_instead_of_a_panic() {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509, X509NameBuilder};

    let name = |cn: &str| {
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", cn).unwrap();
        n.build()
    };
    let ca_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut ca = X509::builder().unwrap();
    ca.set_version(2).unwrap();
    ca.set_subject_name(&name("test wwdr")).unwrap();
    ca.set_issuer_name(&name("test wwdr")).unwrap();
    ca.set_pubkey(&ca_key).unwrap();
    ca.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    ca.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let ca = ca.build();
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut signer = X509::builder().unwrap();
    signer.set_version(2).unwrap();
    signer.set_subject_name(&name("test signer")).unwrap();
    signer.set_issuer_name(ca.subject_name()).unwrap();
    signer.set_pubkey(&key).unwrap();
    signer
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    signer
        .set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    signer.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let mut der = signer.build().to_der().unwrap();

    // The validity's second UTCTime (tag 0x17, 13 bytes) is notAfter: make it month 13.
    let times: Vec<usize> = der
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w == &[0x17, 0x0d])
        .map(|(i, _)| i)
        .collect();
    let not_after = times[1] + 2;
    der[not_after..not_after + 13].copy_from_slice(b"991399999999Z");
    // Sign the changed TBSCertificate again (same length; the signature is the last 256 bytes).
    let tbs_start = 4; // 30 82 LL LL
    let tbs_len = usize::from(der[tbs_start + 2]) << 8 | usize::from(der[tbs_start + 3]);
    let tbs = der[tbs_start..tbs_start + 4 + tbs_len].to_vec();
    let mut sig = openssl::sign::Signer::new(MessageDigest::sha256(), &ca_key).unwrap();
    sig.update(&tbs).unwrap();
    let signature = sig.sign_to_vec().unwrap();
    let at = der.len() - signature.len();
    der[at..].copy_from_slice(&signature);

    let restored =
        SigningIdentity::from_der_parts(&der, &key.private_key_to_pkcs8().unwrap(), &ca.to_der().unwrap())
            .unwrap();
    assert_eq!(restored.expires_at(), None);
}
