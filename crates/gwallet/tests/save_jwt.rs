//! The "Save to Google Wallet" link: an RS256 JWT that verifies with the service account's public
//! key (checked with OpenSSL, not with the `ring` code that signed it).

mod common;

use common::{Fixture, payload};
use gwallet::{ObjectRef, ServiceAccount, save_jwt, save_url};
use gwallet_testserver::{TestServiceAccount, verify_rs256};
use serde_json::json;

fn account() -> (TestServiceAccount, ServiceAccount) {
    let test = TestServiceAccount::generate(
        "passmint@test-project.iam.gserviceaccount.com",
        "https://oauth2.googleapis.com/token",
    )
    .unwrap();
    let account = ServiceAccount::from_json(test.key_json.as_bytes()).unwrap();
    (test, account)
}

#[test]
fn the_save_jwt_verifies_with_the_service_accounts_public_key_and_says_what_spec_13_says() {
    let (test, account) = account();
    let fixture = Fixture::load("event");
    let object = fixture.object(&payload("event"), false);
    let refs = [ObjectRef {
        kind: fixture.google.kind(),
        id: &object.id,
        class_id: fixture.google.class_id(),
    }];
    let jwt = save_jwt(&account, &["https://passes.example.com"], &refs, 1_767_225_600).unwrap();
    let verified = verify_rs256(&jwt, &test.public_key_pem).unwrap();
    assert_eq!(verified.header["alg"], "RS256");
    assert_eq!(verified.header["kid"], test.private_key_id.as_str());
    assert_eq!(
        verified.claims,
        json!({
            "iss": "passmint@test-project.iam.gserviceaccount.com",
            "aud": "google",
            "typ": "savetowallet",
            "iat": 1_767_225_600,
            "origins": ["https://passes.example.com"],
            "payload": {
                "eventTicketObjects": [{
                    "id": "3388000000012345678.0190f3a200007000800000000000002a",
                    "classId": "3388000000012345678.0190f3a27c1d7e2f8a9b0c1d2e3f4a5b"
                }]
            }
        })
    );
    let url = save_url(gwallet::DEFAULT_SAVE_URL, &jwt);
    assert_eq!(url, format!("https://pay.google.com/gp/v/save/{jwt}"));
}

#[test]
fn a_save_jwt_does_not_verify_with_another_key_or_once_altered() {
    let (test, account) = account();
    let (other, _) = self::account();
    let refs = [ObjectRef {
        kind: gwallet::PassKind::Loyalty,
        id: "1.a",
        class_id: "1.b",
    }];
    let jwt = save_jwt(&account, &["https://passes.example.com"], &refs, 1).unwrap();
    assert!(verify_rs256(&jwt, &test.public_key_pem).is_ok());
    assert!(verify_rs256(&jwt, &other.public_key_pem).is_err());
    // Swap the claims for others: the signature no longer covers them.
    let parts: Vec<&str> = jwt.split('.').collect();
    let forged_claims = base64_url(&json!({"iss": "someone-else", "aud": "google"}).to_string());
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    assert!(verify_rs256(&forged, &test.public_key_pem).is_err());
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
