//! The REST client and token source against the Google test server (a real HTTP server on
//! another HTTP stack): writes land, faults map to outcomes, tokens are cached and refreshed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, payload};
use gwallet::{Client, Fetched, GiveUpReason, Outcome, PassKind, RetryReason, ServiceAccount, Settings};
use gwallet_testserver::{Builder, Fault, TestServer, TestServiceAccount, verify_rs256};
use serde_json::{Value, json};
use tokio::task::JoinSet;

const EMAIL: &str = "passmint@test-project.iam.gserviceaccount.com";
const WAIT: Duration = Duration::from_secs(20);

struct Env {
    server: TestServer,
    account: TestServiceAccount,
    client: Client,
}

fn settings(server: &TestServer) -> Settings {
    Settings {
        api_url: server.url(),
        timeout: Duration::from_secs(20),
        ..Settings::default()
    }
}

fn env_with(builder: Builder) -> Env {
    let server = builder.issuer_id(common::ISSUER).start().unwrap();
    let account = server.new_service_account(EMAIL).unwrap();
    let client = Client::new(
        ServiceAccount::from_json(account.key_json.as_bytes()).unwrap(),
        &settings(&server),
    )
    .unwrap();
    Env {
        server,
        account,
        client,
    }
}

fn env() -> Env {
    env_with(TestServer::builder())
}

/// The event template's class, and a pass's object (voided or not).
fn event(voided: bool) -> (Value, Value) {
    let fixture = Fixture::load("event");
    let object = fixture.object(&payload("event"), voided);
    (fixture.google.class_json().clone(), object.json)
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn calls(server: &TestServer) -> Vec<(String, u16)> {
    server
        .api_requests()
        .iter()
        .map(|r| {
            (
                format!("{} {}", r.method, r.path.trim_start_matches("/walletobjects/v1/")),
                r.status,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_new_class_and_object_are_inserted_and_stored_as_sent() {
    let env = env();
    let (class, object) = event(false);
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    assert_eq!(
        env.client.insert_object(PassKind::EventTicket, &object).await,
        Outcome::Done
    );
    assert_eq!(env.server.class(id(&class)), Some(class.clone()));
    assert_eq!(env.server.object(id(&object)), Some(object.clone()));
    assert_eq!(
        calls(&env.server),
        [
            ("POST eventTicketClass".to_owned(), 200),
            ("POST eventTicketObject".to_owned(), 200)
        ]
    );
    let request = &env.server.api_requests()[1];
    assert!(
        request
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ya29.test-")
    );
    assert!(
        request
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(env.server.tokens_issued(), 1);
}

#[tokio::test]
async fn inserting_what_exists_becomes_an_update_and_updating_what_is_missing_an_insert() {
    let env = env();
    let (class, object) = event(false);
    assert_eq!(
        env.client.update_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    assert_eq!(
        env.client.insert_object(PassKind::EventTicket, &object).await,
        Outcome::Done
    );
    let (_, voided) = event(true);
    assert_eq!(
        env.client.insert_object(PassKind::EventTicket, &voided).await,
        Outcome::Done
    );
    assert_eq!(env.server.object(id(&object)).unwrap()["state"], "INACTIVE");
    let object_id = id(&object);
    let class_id = id(&class);
    assert_eq!(
        calls(&env.server),
        [
            (format!("PUT eventTicketClass/{class_id}"), 404),
            ("POST eventTicketClass".to_owned(), 200),
            ("POST eventTicketObject".to_owned(), 200),
            ("POST eventTicketObject".to_owned(), 409),
            (format!("PUT eventTicketObject/{object_id}"), 200),
        ]
    );
}

#[tokio::test]
async fn an_object_whose_class_is_missing_is_retried_once_the_class_is_written() {
    let env = env();
    let (class, object) = event(false);
    assert_eq!(
        env.client.update_object(PassKind::EventTicket, &object).await,
        Outcome::Retry {
            reason: RetryReason::ClassNotFound,
            after: None
        }
    );
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    assert_eq!(
        env.client.update_object(PassKind::EventTicket, &object).await,
        Outcome::Done
    );
    assert!(env.server.object(id(&object)).is_some());
}

#[tokio::test]
async fn updates_and_voids_reach_the_server_after_503s_and_429s() {
    let env = env();
    let (class, object) = event(false);
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    assert_eq!(
        env.client.insert_object(PassKind::EventTicket, &object).await,
        Outcome::Done
    );

    env.server
        .inject(Fault::status(503).times(2).on("eventTicketObject"));
    env.server
        .inject(Fault::status(429).retry_after(7).on("eventTicketObject"));
    let (_, voided) = event(true);
    let mut outcomes = Vec::new();
    loop {
        let outcome = env.client.update_object(PassKind::EventTicket, &voided).await;
        let done = outcome == Outcome::Done;
        outcomes.push(outcome);
        if done || outcomes.len() > 5 {
            break;
        }
    }
    assert_eq!(
        outcomes,
        [
            Outcome::Retry {
                reason: RetryReason::Status(503),
                after: None
            },
            Outcome::Retry {
                reason: RetryReason::Status(503),
                after: None
            },
            Outcome::Retry {
                reason: RetryReason::RateLimited,
                after: Some(Duration::from_secs(7))
            },
            Outcome::Done,
        ]
    );
    assert_eq!(env.server.object(id(&object)).unwrap()["state"], "INACTIVE");
}

#[tokio::test]
async fn each_google_error_maps_to_done_retry_or_give_up() {
    let env = env();
    let (class, object) = event(false);
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    assert_eq!(
        env.client.insert_object(PassKind::EventTicket, &object).await,
        Outcome::Done
    );
    let give_up = |reason, message: &str| Outcome::GiveUp {
        reason,
        message: message.to_owned(),
    };
    let cases = [
        (
            Fault::status(400),
            give_up(GiveUpReason::BadRequest, "Request contains an invalid argument."),
        ),
        (
            Fault::status(403),
            give_up(
                GiveUpReason::PermissionDenied,
                "The caller does not have permission",
            ),
        ),
        (
            Fault::rate_limit_403(),
            Outcome::Retry {
                reason: RetryReason::RateLimited,
                after: None,
            },
        ),
        (
            Fault::status(404),
            give_up(GiveUpReason::NotFound, "Requested entity was not found."),
        ),
        (
            Fault::status(409),
            give_up(GiveUpReason::Conflict, "Requested entity already exists"),
        ),
        (
            Fault::aborted(),
            Outcome::Retry {
                reason: RetryReason::Status(409),
                after: None,
            },
        ),
        (
            Fault::status(429),
            Outcome::Retry {
                reason: RetryReason::RateLimited,
                after: None,
            },
        ),
        (
            Fault::status(500),
            Outcome::Retry {
                reason: RetryReason::Status(500),
                after: None,
            },
        ),
        (
            Fault::status(503),
            Outcome::Retry {
                reason: RetryReason::Status(503),
                after: None,
            },
        ),
    ];
    for (fault, expected) in cases {
        env.server.inject(fault.on_api());
        let outcome = env
            .client
            .patch_object(PassKind::EventTicket, id(&object), &json!({"state": "ACTIVE"}))
            .await;
        assert_eq!(outcome, expected);
    }
    assert_eq!(
        env.client
            .patch_object(PassKind::EventTicket, id(&object), &json!({"state": "INACTIVE"}))
            .await,
        Outcome::Done
    );
    assert_eq!(env.server.object(id(&object)).unwrap()["state"], "INACTIVE");
}

#[tokio::test]
async fn json_google_does_not_know_is_refused_with_googles_400_and_message() {
    let env = env();
    let (mut class, _) = event(false);
    class["colour"] = json!("red");
    let Outcome::GiveUp { reason, message } = env.client.insert_class(PassKind::EventTicket, &class).await
    else {
        panic!("expected a give-up");
    };
    assert_eq!(reason, GiveUpReason::BadRequest);
    assert!(message.contains("colour: is not a field"), "{message}");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_the_call_goes_through() {
    let env = env();
    let (class, _) = event(false);
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    env.server.revoke_tokens();
    assert_eq!(
        env.client.update_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    assert_eq!(env.server.tokens_issued(), 2);
    let statuses: Vec<u16> = env.server.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn a_401_that_persists_with_a_fresh_token_gives_up() {
    let env = env();
    env.server.inject(Fault::status(401).times(2).on_api());
    let (class, _) = event(false);
    let outcome = env.client.insert_class(PassKind::EventTicket, &class).await;
    assert!(
        matches!(
            outcome,
            Outcome::GiveUp {
                reason: GiveUpReason::Unauthorized,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(env.server.tokens_issued(), 2);
}

#[tokio::test]
async fn one_token_serves_many_concurrent_calls() {
    let env = env();
    let (class, _) = event(false);
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    // A cold client: every call starts at once, and they share one token request.
    let client = Arc::new(
        Client::new(
            ServiceAccount::from_json(env.account.key_json.as_bytes()).unwrap(),
            &settings(&env.server),
        )
        .unwrap(),
    );
    let mut calls = JoinSet::new();
    for _ in 0..20 {
        let (client, id) = (client.clone(), id(&class).to_owned());
        calls.spawn(async move { client.get_class(PassKind::EventTicket, &id).await });
    }
    while let Some(fetched) = calls.join_next().await {
        assert_eq!(fetched.unwrap(), Fetched::Found(class.clone()));
    }
    assert_eq!(client.tokens().fetches(), 1);
    assert_eq!(env.server.tokens_issued(), 2);
}

#[tokio::test]
async fn a_token_within_five_minutes_of_expiry_is_refreshed_before_use() {
    // Tokens that live one minute are always inside the refresh margin.
    let env = env_with(TestServer::builder().token_lifetime(60));
    let (class, _) = event(false);
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    assert!(matches!(
        env.client.get_class(PassKind::EventTicket, id(&class)).await,
        Fetched::Found(_)
    ));
    assert!(matches!(
        env.client
            .get_class(PassKind::EventTicket, "3388000000012345678.none")
            .await,
        Fetched::Missing
    ));
    assert_eq!(env.server.tokens_issued(), 3);
}

#[tokio::test]
async fn the_token_request_is_a_jwt_bearer_grant_with_an_assertion_google_would_accept() {
    let env = env();
    let (class, _) = event(false);
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    let token_request = env
        .server
        .requests()
        .into_iter()
        .find(|r| r.is_token_request())
        .unwrap();
    let form = token_request.form();
    assert_eq!(
        form[0],
        (
            "grant_type".into(),
            "urn:ietf:params:oauth:grant-type:jwt-bearer".into()
        )
    );
    assert_eq!(form[1].0, "assertion");
    let verified = verify_rs256(&form[1].1, &env.account.public_key_pem).unwrap();
    assert_eq!(verified.header["kid"], env.account.private_key_id.as_str());
    let claims = verified.claims;
    assert_eq!(claims["iss"], EMAIL);
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/wallet_object.issuer"
    );
    assert_eq!(claims["aud"], env.server.token_url());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_refused_and_writes_give_up() {
    let env = env();
    // Same e-mail, another key: the server only trusts the first key.
    let impostor = TestServiceAccount::generate(EMAIL, env.server.token_url()).unwrap();
    let client = Client::new(
        ServiceAccount::from_json(impostor.key_json.as_bytes()).unwrap(),
        &settings(&env.server),
    )
    .unwrap();
    let (class, _) = event(false);
    let outcome = client.insert_class(PassKind::EventTicket, &class).await;
    let Outcome::GiveUp { reason, message } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(reason, GiveUpReason::CredentialsRefused);
    assert!(message.contains("invalid_grant"), "{message}");
    assert!(
        env.server.api_requests().is_empty(),
        "nothing reaches the API without a token"
    );
}

#[tokio::test]
async fn a_token_endpoint_that_fails_is_a_retry_and_the_next_attempt_goes_through() {
    let env = env();
    env.server.inject(Fault::status(503).on_token());
    let (class, _) = event(false);
    let outcome = env.client.insert_class(PassKind::EventTicket, &class).await;
    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                reason: RetryReason::TokenUnavailable(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
}

#[tokio::test]
async fn a_request_google_never_answers_times_out_as_a_retry() {
    let env = env();
    let (class, _) = event(false);
    assert_eq!(
        env.client.insert_class(PassKind::EventTicket, &class).await,
        Outcome::Done
    );
    env.server.inject(Fault::hang().on_api());
    let client = Client::new(
        ServiceAccount::from_json(env.account.key_json.as_bytes()).unwrap(),
        &Settings {
            timeout: Duration::from_millis(500),
            ..settings(&env.server)
        },
    )
    .unwrap();
    let outcome = client.update_class(PassKind::EventTicket, &class).await;
    assert_eq!(
        outcome,
        Outcome::Retry {
            reason: RetryReason::Timeout,
            after: None
        }
    );
    env.server.wait_for_requests(4, WAIT).unwrap();
}

#[tokio::test]
async fn an_unreachable_api_is_a_retry() {
    let env = env();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = Client::new(
        ServiceAccount::from_json(env.account.key_json.as_bytes()).unwrap(),
        &Settings {
            api_url: url,
            ..settings(&env.server)
        },
    )
    .unwrap();
    let (class, _) = event(false);
    let outcome = client.insert_class(PassKind::EventTicket, &class).await;
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
}

#[tokio::test]
async fn every_type_s_class_and_object_are_accepted_by_the_test_server() {
    let env = env();
    for template in [
        "event",
        "flight",
        "train",
        "coupon",
        "generic",
        "examples/storecard.pass",
    ] {
        let fixture = Fixture::load(template);
        let kind = fixture.google.kind();
        assert_eq!(
            env.client.insert_class(kind, fixture.google.class_json()).await,
            Outcome::Done,
            "{template}"
        );
        let object = fixture.object(&payload(template), false);
        assert_eq!(
            env.client.insert_object(kind, &object.json).await,
            Outcome::Done,
            "{template}"
        );
        assert_eq!(
            env.server.resource(kind.object_resource(), &object.id),
            Some(object.json)
        );
    }
}
