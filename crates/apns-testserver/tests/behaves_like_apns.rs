//! The test server answers malformed requests the way APNs does, so tests built on it mean
//! something. Driven by a bare `h2` client, independent of the `apns` crate.

use std::sync::Arc;
use std::time::Duration;

use apns_testserver::{Error, IssuedCertificate, Reply, TestCa, TestServer};
use bytes::Bytes;
use h2::client::SendRequest;
use http::Request;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(20);

fn token() -> String {
    "ab".repeat(32)
}

fn tls(server: &TestServer, alpn: &[u8], client: Option<&IssuedCertificate>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut server.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let mut config = match client {
        Some(issued) => {
            let chain = rustls_pemfile::certs(&mut issued.certificate_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = rustls_pemfile::private_key(&mut issued.private_key_pem.as_bytes())
                .unwrap()
                .unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

async fn connect(
    server: &TestServer,
    client: Option<&IssuedCertificate>,
) -> Result<SendRequest<Bytes>, String> {
    let tcp = TcpStream::connect(server.addr())
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tls(server, b"h2", client)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (send, connection) = h2::client::handshake(tls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(send)
}

/// Sends one request; returns the status and the `reason` of the JSON body, if any.
async fn call(
    send: &SendRequest<Bytes>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("https://127.0.0.1{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut send = send.clone().ready().await.unwrap();
    let (response, mut stream) = send.send_request(request.body(()).unwrap(), false).unwrap();
    stream.send_data(Bytes::copy_from_slice(body), true).unwrap();
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let mut received = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = received.data().await {
        let chunk = chunk.unwrap();
        let _ = received.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let reason = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, reason)
}

/// Method, path, headers, body, expected status and reason.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a [u8], (u16, &'a str));

const WALLET: &[(&str, &str)] = &[
    ("apns-topic", "pass.com.example"),
    ("apns-push-type", "background"),
    ("apns-priority", "5"),
    ("authorization", "bearer x.y.z"),
];

#[tokio::test]
async fn answers_malformed_requests_with_apns_status_and_reason() {
    let server = TestServer::start().await.unwrap();
    let send = connect(&server, None).await.unwrap();
    let device = format!("/3/device/{}", token());
    let without = |name: &str| {
        WALLET
            .iter()
            .copied()
            .filter(|(n, _)| *n != name)
            .collect::<Vec<_>>()
    };
    let cases: Vec<Case> = vec![
        (
            "GET",
            device.clone(),
            WALLET.to_vec(),
            b"{}",
            (405, "MethodNotAllowed"),
        ),
        (
            "POST",
            "/3/other".into(),
            WALLET.to_vec(),
            b"{}",
            (404, "BadPath"),
        ),
        (
            "POST",
            "/3/device/".into(),
            WALLET.to_vec(),
            b"{}",
            (400, "MissingDeviceToken"),
        ),
        (
            "POST",
            "/3/device/xyz".into(),
            WALLET.to_vec(),
            b"{}",
            (400, "BadDeviceToken"),
        ),
        (
            "POST",
            device.clone(),
            without("apns-topic"),
            b"{}",
            (400, "MissingTopic"),
        ),
        (
            "POST",
            device.clone(),
            without("authorization"),
            b"{}",
            (403, "MissingProviderToken"),
        ),
        (
            "POST",
            device.clone(),
            [without("apns-priority"), vec![("apns-priority", "7")]].concat(),
            b"{}",
            (400, "BadPriority"),
        ),
        (
            "POST",
            device.clone(),
            [without("apns-push-type"), vec![("apns-push-type", "nope")]].concat(),
            b"{}",
            (400, "InvalidPushType"),
        ),
        (
            "POST",
            device.clone(),
            [WALLET.to_vec(), vec![("apns-topic", "again")]].concat(),
            b"{}",
            (400, "DuplicateHeaders"),
        ),
        (
            "POST",
            device.clone(),
            [WALLET.to_vec(), vec![("apns-id", "not-a-uuid")]].concat(),
            b"{}",
            (400, "BadMessageId"),
        ),
        (
            "POST",
            device.clone(),
            WALLET.to_vec(),
            b"",
            (400, "PayloadEmpty"),
        ),
        (
            "POST",
            device.clone(),
            WALLET.to_vec(),
            &[b' '; 5000],
            (413, "PayloadTooLarge"),
        ),
        ("POST", device.clone(), WALLET.to_vec(), b"{}", (200, "")),
    ];
    for (method, path, headers, body, expected) in &cases {
        let (status, reason) = call(&send, method, path, headers, body).await;
        assert_eq!(
            (status, reason.as_str()),
            *expected,
            "{method} {path} {headers:?}"
        );
    }
    let requests = server.wait_for_requests(cases.len(), WAIT).await.unwrap();
    assert_eq!(requests.len(), cases.len());
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests.last().unwrap().device_token.as_deref(),
        Some(token().as_str())
    );
}

#[tokio::test]
async fn scripts_per_token_come_before_the_global_queue_and_the_default() {
    let server = TestServer::start().await.unwrap();
    let send = connect(&server, None).await.unwrap();
    let other = format!("/3/device/{}", "cd".repeat(32));
    let mine = format!("/3/device/{}", token());
    server.reply(Reply::status(500, "InternalServerError"));
    server.reply_for(&token().to_uppercase(), Reply::unregistered(42));
    assert_eq!(
        call(&send, "POST", &mine, WALLET, b"{}").await,
        (410, "Unregistered".into())
    );
    assert_eq!(
        call(&send, "POST", &mine, WALLET, b"{}").await,
        (500, "InternalServerError".into())
    );
    assert_eq!(
        call(&send, "POST", &other, WALLET, b"{}").await,
        (200, String::new())
    );
    assert_eq!(server.requests()[0].reply, Reply::unregistered(42));
}

#[tokio::test]
async fn requires_a_client_certificate_from_the_given_ca_and_records_it() {
    let pass_ca = TestCa::generate("Test WWDR").unwrap();
    let pass = pass_ca.issue_client("Pass Type ID: pass.com.example").unwrap();
    let server = TestServer::builder()
        .require_client_certificate(pass_ca.certificate_pem())
        .start()
        .await
        .unwrap();
    // Without a certificate the handshake fails (rustls reports it once the first request goes).
    if let Ok(send) = connect(&server, None).await {
        let mut send = send.ready().await.unwrap();
        let request = Request::post(format!("https://127.0.0.1/3/device/{}", token()))
            .body(())
            .unwrap();
        let (response, _) = send.send_request(request, true).unwrap();
        assert!(response.await.is_err());
    }
    let send = connect(&server, Some(&pass)).await.unwrap();
    let headers = &WALLET[..3];
    assert_eq!(
        call(&send, "POST", &format!("/3/device/{}", token()), headers, b"{}")
            .await
            .0,
        200
    );
    let requests = server.wait_for_requests(1, WAIT).await.unwrap();
    assert_eq!(requests.len(), 1);
    let presented = requests[0].client_certificate.as_ref().unwrap();
    assert_eq!(presented.der, pass.certificate_der);
    assert_eq!(presented.subject, pass.subject);
    server.wait_for_closed_connections(1, WAIT).await.unwrap();
    assert_eq!(server.handshake_failures(), 1);
    assert_eq!(server.connection_count(), 2);
}

#[tokio::test]
async fn refuses_clients_that_do_not_offer_http2() {
    let server = TestServer::start().await.unwrap();
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    assert!(tls(&server, b"http/1.1", None).connect(name, tcp).await.is_err());
    server.wait_for_closed_connections(1, WAIT).await.unwrap();
    assert_eq!(server.handshake_failures(), 1);
}

#[tokio::test]
async fn waiting_for_more_requests_than_arrive_ends_at_the_deadline() {
    let server = TestServer::start().await.unwrap();
    let err = server
        .wait_for_requests(1, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                wanted: 1,
                seen: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn accepting_any_client_certificate_records_it_and_still_lets_token_clients_in() {
    let server = TestServer::builder()
        .accept_any_client_certificate()
        .start()
        .await
        .unwrap();
    let someone = TestCa::generate("Anyone")
        .unwrap()
        .issue_client("Pass Type ID: pass.any")
        .unwrap();
    let path = format!("/3/device/{}", token());
    let with_cert = connect(&server, Some(&someone)).await.unwrap();
    assert_eq!(
        call(&with_cert, "POST", &path, &WALLET[..3], b"{}").await,
        (200, String::new())
    );
    let without = connect(&server, None).await.unwrap();
    assert_eq!(
        call(&without, "POST", &path, &WALLET[..3], b"{}").await,
        (403, "MissingProviderToken".into())
    );
    assert_eq!(
        call(&without, "POST", &path, WALLET, b"{}").await,
        (200, String::new())
    );
    let requests = server.wait_for_requests(3, WAIT).await.unwrap();
    assert_eq!(
        requests[0].client_certificate.as_ref().unwrap().der,
        someone.certificate_der
    );
    assert!(requests[1].client_certificate.is_none());
}
