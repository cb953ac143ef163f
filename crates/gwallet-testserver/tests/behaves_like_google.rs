//! The test server answers the way Google's token endpoint and walletobjects API do, so tests
//! built on it mean something. Driven by a bare HTTP/1.1 client over a TCP socket and assertions
//! signed with OpenSSL here, independent of the `gwallet` crate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gwallet_testserver::{Fault, TestServer, TestServiceAccount};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::{Value, json};

const EMAIL: &str = "sa@test-project.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/wallet_object.issuer";

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
fn call(server: &TestServer, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr(),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP answer");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body = serde_json::from_slice(&raw[split + 4..]).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A JWT signed RS256 with the account's private key.
fn sign(account: &TestServiceAccount, claims: &Value) -> String {
    let key_file: Value = serde_json::from_str(&account.key_json).unwrap();
    let key = PKey::private_key_from_pem(key_file["private_key"].as_str().unwrap().as_bytes()).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(signer.sign_to_vec().unwrap())
    )
}

fn claims(server: &TestServer) -> Value {
    json!({"iss": EMAIL, "scope": SCOPE, "aud": server.token_url(), "iat": now(), "exp": now() + 3600})
}

fn token_request(server: &TestServer, grant: &str, assertion: &str) -> Answer {
    let body = format!("grant_type={}&assertion={assertion}", grant.replace(':', "%3A"));
    call(
        server,
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn token(server: &TestServer, account: &TestServiceAccount) -> String {
    let answer = token_request(server, JWT_BEARER, &sign(account, &claims(server)));
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

fn setup() -> (TestServer, TestServiceAccount, String) {
    let server = TestServer::builder().issuer_id("3388").start().unwrap();
    let account = server.new_service_account(EMAIL).unwrap();
    let token = token(&server, &account);
    (server, account, token)
}

fn api(server: &TestServer, token: &str, method: &str, path: &str, body: &Value) -> Answer {
    let bearer = format!("Bearer {token}");
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    call(
        server,
        method,
        &format!("/walletobjects/v1/{path}"),
        &[("Authorization", &bearer), ("Content-Type", "application/json")],
        &body,
    )
}

fn generic_class() -> Value {
    json!({"id": "3388.c1"})
}

fn generic_object() -> Value {
    json!({
        "id": "3388.o1", "classId": "3388.c1", "state": "ACTIVE",
        "cardTitle": {"defaultValue": {"language": "en", "value": "Gym"}},
        "header": {"defaultValue": {"language": "en", "value": "Ada"}}
    })
}

#[test]
fn a_signed_assertion_gets_a_bearer_token_in_googles_shape() {
    let server = TestServer::start().unwrap();
    let account = server.new_service_account(EMAIL).unwrap();
    let answer = token_request(&server, JWT_BEARER, &sign(&account, &claims(&server)));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 3600);
    assert!(answer.body["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(server.tokens_issued(), 1);
}

#[test]
fn assertions_google_would_refuse_are_refused_with_oauth_errors() {
    let server = TestServer::start().unwrap();
    let account = server.new_service_account(EMAIL).unwrap();
    let stranger = TestServiceAccount::generate(EMAIL, server.token_url()).unwrap();
    let mut wrong_aud = claims(&server);
    wrong_aud["aud"] = json!("https://oauth2.googleapis.com/token");
    let mut too_long = claims(&server);
    too_long["exp"] = json!(now() + 7200);
    let mut expired = claims(&server);
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let mut no_scope = claims(&server);
    no_scope["scope"] = json!("https://www.googleapis.com/auth/cloud-platform");
    let mut unknown = claims(&server);
    unknown["iss"] = json!("nobody@example.iam.gserviceaccount.com");
    let cases = [
        (JWT_BEARER, sign(&stranger, &claims(&server)), "invalid_grant"),
        (JWT_BEARER, sign(&account, &wrong_aud), "invalid_grant"),
        (JWT_BEARER, sign(&account, &too_long), "invalid_grant"),
        (JWT_BEARER, sign(&account, &expired), "invalid_grant"),
        (JWT_BEARER, sign(&account, &no_scope), "invalid_scope"),
        (JWT_BEARER, sign(&account, &unknown), "invalid_grant"),
        (JWT_BEARER, "not.a.jwt".to_owned(), "invalid_grant"),
        (
            "client_credentials",
            sign(&account, &claims(&server)),
            "unsupported_grant_type",
        ),
    ];
    for (grant, assertion, error) in cases {
        let answer = token_request(&server, grant, &assertion);
        assert_eq!(
            (answer.status, answer.body["error"].as_str().unwrap()),
            (400, error),
            "{}",
            answer.body
        );
    }
    assert_eq!(server.tokens_issued(), 0);
}

#[test]
fn the_api_wants_a_token_it_issued() {
    let (server, _, _) = setup();
    for auth in [None, Some("Bearer made-up"), Some("Basic eA==")] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        let answer = call(
            &server,
            "GET",
            "/walletobjects/v1/genericClass/3388.c1",
            &headers,
            b"",
        );
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(answer.body["error"]["code"], 401);
    }
    let (server, _, token) = setup();
    server.revoke_tokens();
    assert_eq!(
        api(&server, &token, "GET", "genericClass/3388.c1", &Value::Null).status,
        401
    );
}

#[test]
fn classes_and_objects_are_inserted_read_updated_and_patched_with_googles_status_codes() {
    let (server, _, token) = setup();
    assert_eq!(
        api(&server, &token, "POST", "genericObject", &generic_object()).status,
        404,
        "class missing"
    );
    assert_eq!(
        api(&server, &token, "POST", "genericClass", &generic_class()).status,
        200
    );
    let again = api(&server, &token, "POST", "genericClass", &generic_class());
    assert_eq!(
        (again.status, again.body["error"]["status"].as_str()),
        (409, Some("ALREADY_EXISTS"))
    );
    assert_eq!(
        api(&server, &token, "POST", "genericObject", &generic_object()).status,
        200
    );
    let got = api(&server, &token, "GET", "genericObject/3388.o1", &Value::Null);
    assert_eq!((got.status, &got.body), (200, &generic_object()));
    assert_eq!(
        api(&server, &token, "GET", "genericObject/3388.none", &Value::Null).status,
        404
    );
    let mut changed = generic_object();
    changed["state"] = json!("INACTIVE");
    assert_eq!(
        api(&server, &token, "PUT", "genericObject/3388.o1", &changed).status,
        200
    );
    assert_eq!(
        api(&server, &token, "PUT", "genericObject/3388.o2", &changed).status,
        400,
        "id differs from the URL"
    );
    let mut missing = changed.clone();
    missing["id"] = json!("3388.o2");
    assert_eq!(
        api(&server, &token, "PUT", "genericObject/3388.o2", &missing).status,
        404
    );
    let patched = api(
        &server,
        &token,
        "PATCH",
        "genericObject/3388.o1",
        &json!({"state": "ACTIVE"}),
    );
    assert_eq!(patched.status, 200);
    assert_eq!(server.object("3388.o1").unwrap()["state"], "ACTIVE");
    assert_eq!(
        server.object("3388.o1").unwrap()["header"],
        generic_object()["header"]
    );
    assert_eq!(
        api(&server, &token, "GET", "nosuchClass/3388.c1", &Value::Null).status,
        404
    );
}

#[test]
fn json_that_does_not_fit_googles_schema_is_a_400_naming_the_field() {
    let (server, _, token) = setup();
    let answer = api(
        &server,
        &token,
        "POST",
        "genericClass",
        &json!({"id": "3388.c1", "colour": "red"}),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{}",
        answer.body
    );
    assert_eq!(
        api(&server, &token, "POST", "genericClass", &generic_class()).status,
        200
    );
    let mut object = generic_object();
    object.as_object_mut().unwrap().remove("cardTitle");
    let answer = api(&server, &token, "POST", "genericObject", &object);
    assert_eq!(answer.status, 400);
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cardTitle: is required"),
        "{}",
        answer.body
    );
    let answer = api(&server, &token, "POST", "genericClass", &json!({"id": "9999.c1"}));
    assert_eq!(answer.status, 400, "another issuer's id");
}

#[test]
fn scripted_faults_answer_with_googles_error_bodies_then_stop() {
    let (server, account, token) = setup();
    assert_eq!(
        api(&server, &token, "POST", "genericClass", &generic_class()).status,
        200
    );
    let expected = [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (409, "ALREADY_EXISTS"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
    ];
    for (status, canonical) in expected {
        server.inject(Fault::status(status).on("genericClass"));
        let answer = api(&server, &token, "GET", "genericClass/3388.c1", &Value::Null);
        assert_eq!(answer.status, status);
        assert_eq!(answer.body["error"]["status"], canonical);
        assert_eq!(answer.body["error"]["code"], status);
        assert!(answer.body["error"]["errors"][0]["reason"].is_string());
    }
    server.inject(Fault::status(503).times(2).retry_after(30).on_api());
    for _ in 0..2 {
        let answer = api(&server, &token, "GET", "genericClass/3388.c1", &Value::Null);
        assert_eq!((answer.status, answer.header("retry-after")), (503, Some("30")));
    }
    assert_eq!(
        api(&server, &token, "GET", "genericClass/3388.c1", &Value::Null).status,
        200
    );
    // A fault for the token endpoint leaves the API alone, and the other way round.
    server.inject(Fault::status(500).on_token());
    assert_eq!(
        api(&server, &token, "GET", "genericClass/3388.c1", &Value::Null).status,
        200
    );
    let answer = token_request(&server, JWT_BEARER, &sign(&account, &claims(&server)));
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (500, Some("internal_failure"))
    );
    let faulted: Vec<bool> = server.requests().iter().map(|r| r.faulted).collect();
    assert_eq!(faulted.iter().filter(|f| **f).count(), expected.len() + 3);
}

#[test]
fn every_request_is_recorded_with_its_answer() {
    let (server, _, token) = setup();
    api(&server, &token, "POST", "genericClass", &generic_class());
    let requests = server
        .wait_for_requests(2, std::time::Duration::from_secs(10))
        .unwrap();
    assert!(requests[0].is_token_request());
    assert_eq!(requests[0].form()[0].1, JWT_BEARER);
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].path, "/walletobjects/v1/genericClass");
    assert_eq!(requests[1].json(), Some(generic_class()));
    assert_eq!(requests[1].status, 200);
    assert!(
        requests[1]
            .header("Authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
}
