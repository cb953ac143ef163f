//! The client against the local APNs look-alike: real TLS, real HTTP/2, real client certificates.

use std::time::Duration;

use apns::{
    Client, Credential, DeviceToken, Endpoint, Error, Notification, Outcome, Pool, Reason, RetryReason,
};
use apns_testserver::{IssuedCertificate, Reply, TestCa, TestServer};

/// Bound on every wait for the server; tests normally finish far sooner.
const WAIT: Duration = Duration::from_secs(20);
const TOPIC: &str = "pass.com.example.test";

struct Setup {
    server: TestServer,
    client: Client,
    endpoint: Endpoint,
    pass: IssuedCertificate,
}

/// A server that requires a client certificate from a "WWDR" CA, and a client holding a pass type
/// certificate from that CA and trusting the server's CA.
async fn setup_with(server: apns_testserver::Builder, pass_ca: &TestCa) -> Setup {
    let pass = pass_ca.issue_client(&format!("Pass Type ID: {TOPIC}")).unwrap();
    let server = server
        .require_client_certificate(pass_ca.certificate_pem())
        .start()
        .await
        .unwrap();
    let endpoint = Endpoint::new(&server.url())
        .unwrap()
        .with_extra_roots_pem(server.ca_pem().as_bytes())
        .unwrap()
        .with_request_timeout(WAIT);
    let credential =
        Credential::from_pem(pass.certificate_pem.as_bytes(), pass.private_key_pem.as_bytes()).unwrap();
    let client = Client::new(&endpoint, &credential).unwrap();
    Setup {
        server,
        client,
        endpoint,
        pass,
    }
}

async fn setup() -> Setup {
    setup_with(TestServer::builder(), &TestCa::generate("Test WWDR").unwrap()).await
}

fn token(n: u32) -> DeviceToken {
    DeviceToken::parse(&format!("{n:08x}{}", "ab".repeat(28))).unwrap()
}

fn wallet() -> Notification {
    Notification::wallet(TOPIC).unwrap()
}

#[tokio::test]
async fn sends_one_wallet_push_with_the_right_headers_body_and_client_certificate() {
    let s = setup().await;
    let outcome = s.client.send(&token(1), &wallet()).await;
    let Outcome::Delivered {
        apns_id: Some(apns_id),
    } = outcome
    else {
        panic!("expected delivery with an apns-id, got {outcome:?}");
    };
    let requests = s.server.wait_for_requests(1, WAIT).await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/3/device/{}", token(1)));
    assert_eq!(request.header("apns-topic"), Some(TOPIC));
    assert_eq!(request.header("apns-push-type"), Some("background"));
    assert_eq!(request.header("apns-priority"), Some("5"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(&request.body[..], b"{}");
    assert_eq!(request.reply, Reply::Success);
    let presented = request.client_certificate.as_ref().expect("a client certificate");
    assert_eq!(presented.der, s.pass.certificate_der);
    assert!(presented.subject.contains(TOPIC), "{}", presented.subject);
    assert!(apns_id.len() == 36, "{apns_id}");
}

#[tokio::test]
async fn sends_the_optional_headers_and_payload_it_is_given() {
    let s = setup().await;
    let notification = wallet()
        .with_push_type("alert")
        .unwrap()
        .with_priority(10)
        .unwrap()
        .with_expiration(0)
        .with_collapse_id("pass-42")
        .unwrap()
        .with_payload(&br#"{"aps":{"alert":"hi"}}"#[..])
        .unwrap();
    assert!(matches!(
        s.client.send(&token(2), &notification).await,
        Outcome::Delivered { .. }
    ));
    let request = &s.server.wait_for_requests(1, WAIT).await.unwrap()[0];
    assert_eq!(request.header("apns-push-type"), Some("alert"));
    assert_eq!(request.header("apns-priority"), Some("10"));
    assert_eq!(request.header("apns-expiration"), Some("0"));
    assert_eq!(request.header("apns-collapse-id"), Some("pass-42"));
    assert_eq!(&request.body[..], br#"{"aps":{"alert":"hi"}}"#);
}

#[tokio::test]
async fn refuses_a_server_whose_certificate_is_not_trusted() {
    let s = setup().await;
    let credential = s.client.credential().clone();
    // Only the Mozilla roots: the test CA is unknown.
    let untrusting = Client::new(&Endpoint::new(&s.server.url()).unwrap(), &credential).unwrap();
    let outcome = untrusting.send(&token(3), &wallet()).await;
    let Outcome::Retry {
        reason: RetryReason::Connection(problem),
        ..
    } = outcome
    else {
        panic!("expected a connection failure, got {outcome:?}");
    };
    assert!(
        problem.contains("TLS handshake") && problem.contains("certificate"),
        "{problem}"
    );
    // Another CA as the extra root is no better.
    let other_ca = TestCa::generate("Someone else").unwrap();
    let endpoint = Endpoint::new(&s.server.url())
        .unwrap()
        .with_extra_roots_pem(other_ca.certificate_pem().as_bytes())
        .unwrap();
    let outcome = Client::new(&endpoint, &credential)
        .unwrap()
        .send(&token(3), &wallet())
        .await;
    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                reason: RetryReason::Connection(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(s.server.request_count(), 0);
    // The trusting client gets through.
    assert!(matches!(
        s.client.send(&token(3), &wallet()).await,
        Outcome::Delivered { .. }
    ));
}

#[tokio::test]
async fn a_server_requiring_another_client_ca_rejects_the_pass_certificate() {
    let s = setup().await;
    let stranger_ca = TestCa::generate("Not Apple").unwrap();
    let stranger = stranger_ca.issue_client("Pass Type ID: pass.evil").unwrap();
    let credential = Credential::from_pem(
        stranger.certificate_pem.as_bytes(),
        stranger.private_key_pem.as_bytes(),
    )
    .unwrap();
    let outcome = Client::new(&s.endpoint, &credential)
        .unwrap()
        .send(&token(4), &wallet())
        .await;
    // The TLS alert means the certificate itself is refused: retrying cannot help.
    assert_eq!(
        outcome,
        Outcome::CredentialRejected {
            reason: Reason::BadCertificate
        }
    );
    assert_eq!(s.server.request_count(), 0);
}

#[tokio::test]
async fn maps_429_500_and_503_to_retry_with_the_reason_and_retry_after() {
    let s = setup().await;
    s.server.reply(Reply::Status {
        status: 429,
        reason: "TooManyRequests".into(),
        timestamp: None,
        retry_after: Some(7),
    });
    s.server.reply(Reply::status(500, "InternalServerError"));
    s.server.reply(Reply::status(503, "ServiceUnavailable"));
    let expected = [
        (429, Reason::TooManyRequests, Some(Duration::from_secs(7))),
        (500, Reason::InternalServerError, None),
        (503, Reason::ServiceUnavailable, None),
    ];
    for (status, reason, retry_after) in expected {
        assert_eq!(
            s.client.send(&token(5), &wallet()).await,
            Outcome::Retry {
                reason: RetryReason::Apns { status, reason },
                retry_after
            }
        );
    }
    // The queue is used up: back to delivering, on the same connection.
    assert!(matches!(
        s.client.send(&token(5), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    assert_eq!(s.server.connection_count(), 1);
}

#[tokio::test]
async fn reports_unregistered_with_the_410_timestamp() {
    let s = setup().await;
    s.server
        .reply_for(token(6).as_str(), Reply::unregistered(1_700_000_000_123));
    assert_eq!(
        s.client.send(&token(6), &wallet()).await,
        Outcome::Unregistered {
            reason: Reason::Unregistered,
            timestamp: Some(1_700_000_000_123)
        }
    );
    // Only that token was scripted.
    assert!(matches!(
        s.client.send(&token(7), &wallet()).await,
        Outcome::Delivered { .. }
    ));
}

#[tokio::test]
async fn reports_bad_tokens_for_bad_device_token_and_device_token_not_for_topic() {
    let s = setup().await;
    s.server
        .reply_for(token(8).as_str(), Reply::status(400, "BadDeviceToken"));
    s.server
        .reply_for(token(9).as_str(), Reply::status(400, "DeviceTokenNotForTopic"));
    assert_eq!(
        s.client.send(&token(8), &wallet()).await,
        Outcome::BadToken {
            reason: Reason::BadDeviceToken
        }
    );
    assert_eq!(
        s.client.send(&token(9), &wallet()).await,
        Outcome::BadToken {
            reason: Reason::DeviceTokenNotForTopic
        }
    );
}

#[tokio::test]
async fn reports_a_rejected_credential_on_403_and_a_permanent_rejection_on_other_4xx() {
    let s = setup().await;
    s.server.reply(Reply::status(403, "BadCertificate"));
    s.server.reply(Reply::status(400, "TopicDisallowed"));
    assert_eq!(
        s.client.send(&token(10), &wallet()).await,
        Outcome::CredentialRejected {
            reason: Reason::BadCertificate
        }
    );
    assert_eq!(
        s.client.send(&token(10), &wallet()).await,
        Outcome::Rejected {
            status: 400,
            reason: Reason::TopicDisallowed
        }
    );
}

#[tokio::test]
async fn a_connection_dropped_under_a_push_is_resent_once_then_a_retry() {
    let s = setup().await;
    // Dropped once: sent again at once on a new connection.
    s.server.reply(Reply::DropConnection);
    assert!(matches!(
        s.client.send(&token(11), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    let requests = s.server.requests();
    assert_eq!(requests.iter().map(|r| r.connection).collect::<Vec<_>>(), [1, 2]);
    // Dropped twice in a row: a retry for the caller, and the next push reconnects.
    s.server.reply(Reply::DropConnection);
    s.server.reply(Reply::DropConnection);
    let outcome = s.client.send(&token(12), &wallet()).await;
    let seen: Vec<_> = s
        .server
        .requests()
        .iter()
        .map(|r| (r.connection, r.reply.clone()))
        .collect();
    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                reason: RetryReason::Connection(_),
                ..
            }
        ),
        "{outcome:?} {seen:?}"
    );
    assert!(matches!(
        s.client.send(&token(12), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    let requests = s.server.requests();
    assert_eq!(
        requests.iter().map(|r| r.connection).collect::<Vec<_>>(),
        [1, 2, 2, 3, 4]
    );
    assert_eq!(s.client.connections_opened(), 4);
}

#[tokio::test]
async fn reconnects_transparently_after_a_goaway() {
    let s = setup().await;
    s.server.reply(Reply::GoAway);
    assert!(matches!(
        s.client.send(&token(12), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    s.server.wait_for_closed_connections(1, WAIT).await.unwrap();
    // The client may not have noticed the close yet; either way this push must simply succeed.
    assert!(matches!(
        s.client.send(&token(12), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    let requests = s.server.requests();
    assert_eq!(requests.iter().map(|r| r.connection).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(s.server.connection_count(), 2);
}

#[tokio::test]
async fn pushes_sent_while_a_goaway_arrives_are_all_delivered() {
    let s = setup().await;
    s.server.reply(Reply::GoAway);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200 {
        let client = s.client.clone();
        tasks.spawn(async move { client.send(&token(n), &wallet()).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.unwrap();
        assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
    }
    // Whatever the GOAWAY cut off was sent again on a new connection.
    s.server.wait_for_closed_connections(1, WAIT).await.unwrap();
    assert!(matches!(
        s.client.send(&token(0), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    assert_eq!(s.server.connection_count(), 2);
}

#[tokio::test]
async fn a_burst_against_an_unresponsive_server_makes_one_connection_attempt() {
    // Accepts TCP connections and never starts TLS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = accepted_tx.send(());
        }
    });
    let s = setup().await;
    let endpoint = Endpoint::new(&url)
        .unwrap()
        .with_connect_timeout(Duration::from_secs(1))
        .with_request_timeout(WAIT);
    let client = Client::new(&endpoint, s.client.credential()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..50 {
        let client = client.clone();
        tasks.spawn(async move { client.send(&token(n), &wallet()).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.unwrap();
        let Outcome::Retry {
            reason: RetryReason::Connection(problem),
            ..
        } = &outcome
        else {
            panic!("expected a connection failure, got {outcome:?}");
        };
        assert!(problem.contains("timed out"), "{problem}");
    }
    silent.abort();
    let mut attempts = 0;
    while accepted.recv().await.is_some() {
        attempts += 1;
    }
    assert_eq!(attempts, 1);
    assert_eq!(client.connections_opened(), 0);
}

#[tokio::test]
async fn a_push_without_an_answer_times_out_as_a_retry() {
    let s = setup().await;
    let impatient = Client::new(
        &s.endpoint
            .clone()
            .with_request_timeout(Duration::from_millis(300)),
        s.client.credential(),
    )
    .unwrap();
    s.server.reply(Reply::NoAnswer);
    assert_eq!(
        impatient.send(&token(13), &wallet()).await,
        Outcome::Retry {
            reason: RetryReason::Timeout,
            retry_after: None
        }
    );
    assert!(matches!(
        impatient.send(&token(13), &wallet()).await,
        Outcome::Delivered { .. }
    ));
}

#[tokio::test]
async fn multiplexes_1000_concurrent_pushes_over_one_connection() {
    let s = setup().await;
    let notification = wallet();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..1000 {
        let client = s.client.clone();
        let notification = notification.clone();
        tasks.spawn(async move { client.send(&token(n), &notification).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.unwrap();
        assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
    }
    let requests = s.server.wait_for_requests(1000, WAIT).await.unwrap();
    assert_eq!(requests.len(), 1000);
    assert!(requests.iter().all(|r| r.connection == 1));
    assert_eq!(s.server.connection_count(), 1);
    assert_eq!(s.client.connections_opened(), 1);
}

#[tokio::test]
async fn stays_within_a_small_streams_limit_on_one_connection() {
    let s = setup_with(
        TestServer::builder().max_concurrent_streams(5),
        &TestCa::generate("Test WWDR").unwrap(),
    )
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200 {
        let client = s.client.clone();
        tasks.spawn(async move { client.send(&token(n), &wallet()).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.unwrap();
        assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
    }
    // Never more than the server allows on a connection; more connections (up to the cap) for
    // the rest.
    assert!(
        s.server.peak_open_streams() <= 5,
        "{}",
        s.server.peak_open_streams()
    );
    assert!((1..=4).contains(&s.server.connection_count()));
    assert_eq!(s.server.request_count(), 200);
}

#[tokio::test]
async fn the_pool_keeps_one_client_per_credential_id() {
    let s = setup().await;
    let pool = Pool::new(s.endpoint.clone());
    let credential = s.client.credential().clone();
    let mut made = 0;
    for _ in 0..3 {
        let client = pool
            .get_or_insert_with("template-1", || {
                made += 1;
                Ok::<_, Error>(credential.clone())
            })
            .unwrap();
        assert!(matches!(
            client.send(&token(14), &wallet()).await,
            Outcome::Delivered { .. }
        ));
    }
    assert_eq!(made, 1);
    assert_eq!(pool.len(), 1);
    // All three pushes shared one connection.
    assert_eq!(s.server.connection_count(), 1);
    assert!(pool.remove("template-1").is_some());
    assert!(pool.get("template-1").is_none());
    let fresh = pool.insert("template-1", &credential).unwrap();
    assert!(matches!(
        fresh.send(&token(14), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    assert_eq!(s.server.connection_count(), 2);
}

#[test]
fn rejects_an_invalid_device_token_before_sending() {
    for bad in ["", "not-a-token", "abcd", &"g".repeat(64), &"a".repeat(63)] {
        let err = DeviceToken::parse(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidDeviceToken(_)), "{bad:?}: {err}");
    }
}

#[test]
fn garbage_pem_is_a_clear_error() {
    let ca = TestCa::generate("Test WWDR").unwrap();
    let pass = ca.issue_client("Pass Type ID: pass.x").unwrap();
    let other = ca.issue_client("Pass Type ID: pass.y").unwrap();
    let cert = pass.certificate_pem.as_bytes();
    let key = pass.private_key_pem.as_bytes();

    let err = Credential::from_pem(b"garbage", key).unwrap_err();
    assert!(matches!(err, Error::Certificate(_)), "{err}");
    assert!(
        err.to_string().contains("no -----BEGIN CERTIFICATE----- block"),
        "{err}"
    );

    let err = Credential::from_pem(cert, b"garbage").unwrap_err();
    assert!(matches!(err, Error::PrivateKey(_)), "{err}");
    assert!(
        err.to_string().contains("no -----BEGIN PRIVATE KEY-----"),
        "{err}"
    );

    let err = Credential::from_pem(cert, other.private_key_pem.as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("does not belong to the certificate"),
        "{err}"
    );

    let encrypted = openssl::pkey::PKey::private_key_from_pem(key)
        .unwrap()
        .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"secret")
        .unwrap();
    let err = Credential::from_pem(cert, &encrypted).unwrap_err();
    assert!(err.to_string().contains("encrypted"), "{err}");

    let err = Credential::token(b"garbage", "ABC123DEFG", "TEAM123456").unwrap_err();
    assert!(matches!(err, Error::TokenKey(_)), "{err}");
    // An RSA key cannot sign ES256.
    let err = Credential::token(key, "ABC123DEFG", "TEAM123456").unwrap_err();
    assert!(err.to_string().contains("P-256"), "{err}");

    let credential = Credential::from_pem(cert, key).unwrap();
    assert_eq!(
        Credential::certificate_fingerprint(cert).unwrap(),
        credential.fingerprint()
    );
    assert_eq!(credential.fingerprint().len(), 64);
    assert!(Credential::certificate_fingerprint(b"garbage").is_err());
    assert!(!format!("{credential:?}").contains("PRIVATE"));
}
