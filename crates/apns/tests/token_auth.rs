//! Token authentication: an ES256 JWT from a `.p8` key, checked with OpenSSL (an implementation
//! independent of the `ring` code that signed it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apns::{Client, Credential, DeviceToken, Endpoint, Notification, Outcome, Reason, RetryReason};
use apns_testserver::{Reply, TestServer};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sha::sha256;

const WAIT: Duration = Duration::from_secs(20);
const KEY_ID: &str = "ABC123DEFG";
const TEAM_ID: &str = "DEF123GHIJ";

fn p8_key() -> (Vec<u8>, EcKey<Private>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = EcKey::generate(&group).unwrap();
    let pem = PKey::from_ec_key(key.clone())
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    (pem, key)
}

fn device() -> DeviceToken {
    DeviceToken::parse(&"0f".repeat(32)).unwrap()
}

/// Checks the JWT's header, claims and signature; returns the claims.
fn verify_jwt(authorization: &str, key: &EcKey<Private>) -> serde_json::Value {
    let jwt = authorization.strip_prefix("bearer ").expect("a bearer token");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], KEY_ID);
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert_eq!(
        signature.len(),
        64,
        "JWS ES256 signatures are r || s, 32 bytes each"
    );
    let r = BigNum::from_slice(&signature[..32]).unwrap();
    let s = BigNum::from_slice(&signature[32..]).unwrap();
    let signature = EcdsaSig::from_private_components(r, s).unwrap();
    let digest = sha256(format!("{}.{}", parts[0], parts[1]).as_bytes());
    assert!(
        signature.verify(&digest, key).unwrap(),
        "the ES256 signature does not verify"
    );
    claims
}

#[tokio::test]
async fn token_authentication_sends_a_valid_es256_jwt() {
    let server = TestServer::start().await.unwrap();
    let endpoint = Endpoint::new(&server.url())
        .unwrap()
        .with_extra_roots_pem(server.ca_pem().as_bytes())
        .unwrap()
        .with_request_timeout(WAIT);
    let (pem, key) = p8_key();
    let client = Client::new(&endpoint, &Credential::token(&pem, KEY_ID, TEAM_ID).unwrap()).unwrap();
    let notification = Notification::wallet("pass.com.example.test").unwrap();

    assert!(matches!(
        client.send(&device(), &notification).await,
        Outcome::Delivered { .. }
    ));
    assert!(matches!(
        client.send(&device(), &notification).await,
        Outcome::Delivered { .. }
    ));
    let requests = server.wait_for_requests(2, WAIT).await.unwrap();
    assert!(requests[0].client_certificate.is_none());
    let first = requests[0]
        .header("authorization")
        .expect("an authorization header");
    let claims = verify_jwt(first, &key);
    assert_eq!(claims["iss"], TEAM_ID);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let issued = claims["iat"].as_u64().expect("a numeric iat");
    assert!(
        issued <= now && now - issued < 3600,
        "iat {issued} is not recent (now {now})"
    );
    // The token is reused, not signed for every push.
    assert_eq!(requests[1].header("authorization"), Some(first));

    // When APNs calls the token expired, the push is a retry, but the token is not re-signed at
    // once: Apple allows one new token per 20 minutes (the unit tests in jwt.rs move the clock).
    server.reply(Reply::status(403, "ExpiredProviderToken"));
    assert_eq!(
        client.send(&device(), &notification).await,
        Outcome::Retry {
            reason: RetryReason::Apns {
                status: 403,
                reason: Reason::ExpiredProviderToken
            },
            retry_after: None,
        }
    );
    assert!(matches!(
        client.send(&device(), &notification).await,
        Outcome::Delivered { .. }
    ));
    let requests = server.wait_for_requests(4, WAIT).await.unwrap();
    let retried = requests[3].header("authorization").unwrap();
    assert_eq!(retried, first, "re-signed within 20 minutes of the last token");
    verify_jwt(retried, &key);
}
