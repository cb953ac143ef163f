//! The client against an APNs that pushes back, played by the independent Node stand-in
//! (`apns-testserver/node/standin.mjs`, nghttp2) and by `apns-testserver`'s own behaviours.
//! Every test counts what the server processed: no push answered twice, none lost.

use std::collections::HashMap;
use std::time::Duration;

use apns::{Client, Credential, DeviceToken, Endpoint, Notification, Outcome, Reason, RetryReason};
use apns_testserver::{NodeStandIn, ResetReason, TestCa, TestServer};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const TOPIC: &str = "pass.com.example.test";

fn token(n: u32) -> DeviceToken {
    DeviceToken::parse(&format!("{n:08x}{}", "cd".repeat(28))).unwrap()
}

fn wallet() -> Notification {
    Notification::wallet(TOPIC).unwrap()
}

struct Node {
    standin: NodeStandIn,
    client: Client,
}

async fn node_with(options: serde_json::Value, tune: impl FnOnce(Endpoint) -> Endpoint) -> Node {
    let pass_ca = TestCa::generate("Test WWDR").unwrap();
    let pass = pass_ca.issue_client(&format!("Pass Type ID: {TOPIC}")).unwrap();
    let standin = NodeStandIn::start(&options, Some(pass_ca.certificate_pem()))
        .await
        .unwrap();
    let endpoint = Endpoint::new(&standin.url())
        .unwrap()
        .with_extra_roots_pem(standin.ca_pem().as_bytes())
        .unwrap()
        .with_request_timeout(WAIT);
    let credential =
        Credential::from_pem(pass.certificate_pem.as_bytes(), pass.private_key_pem.as_bytes()).unwrap();
    let client = Client::new(&tune(endpoint), &credential).unwrap();
    Node { standin, client }
}

/// Sends one push per token in `tokens`, all at once; returns the outcomes by token.
async fn fan_out(client: &Client, tokens: impl IntoIterator<Item = u32>) -> HashMap<u32, Outcome> {
    let mut tasks = tokio::task::JoinSet::new();
    for n in tokens {
        let client = client.clone();
        tasks.spawn(async move { (n, client.send(&token(n), &wallet()).await) });
    }
    let mut outcomes = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let (n, outcome) = done.unwrap();
        outcomes.insert(n, outcome);
    }
    outcomes
}

fn assert_all_delivered(outcomes: &HashMap<u32, Outcome>) {
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Delivered { .. }))
        .take(5)
        .collect();
    assert!(failed.is_empty(), "not delivered: {failed:?}");
}

/// Each token the stand-in answered 200 exactly once, and it processed nothing else.
async fn assert_each_accepted_once(standin: &NodeStandIn, tokens: usize) {
    let records = standin.records().await.unwrap();
    let mut per_token: HashMap<&str, usize> = HashMap::new();
    for r in records.iter().filter(|r| r.status == 200) {
        *per_token.entry(&r.token).or_default() += 1;
    }
    assert_eq!(per_token.len(), tokens, "tokens accepted");
    let twice: Vec<_> = per_token.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "pushed twice: {twice:?}");
}

#[tokio::test]
async fn follows_the_stream_limit_down_to_one_after_a_rejection_and_back_up() {
    // Every 100th token is refused (400), and each refusal drops the limit to 1 until the next
    // success on that connection: the client must never open a stream over the limit.
    let script: serde_json::Map<String, serde_json::Value> = (0..2000u32)
        .filter(|n| n % 100 == 7)
        .map(|n| {
            (
                token(n).to_string(),
                json!([{ "status": 400, "reason": "BadTopic" }]),
            )
        })
        .collect();
    let node = node_with(json!({ "script": script, "dropOnReject": true }), |e| e).await;
    let outcomes = fan_out(&node.client, 0..2000).await;
    let rejected: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Rejected { .. }))
        .map(|(n, _)| *n)
        .collect();
    let odd: Vec<_> = outcomes
        .iter()
        .filter(|(n, o)| *n % 100 == 7 && !matches!(o, Outcome::Rejected { .. }))
        .collect();
    assert!(
        odd.is_empty(),
        "scripted refusals answered otherwise: {odd:?}; {:?}",
        node.standin.stats().await
    );
    assert_eq!(rejected.len(), 20, "the scripted refusals");
    let delivered = outcomes
        .values()
        .filter(|o| matches!(o, Outcome::Delivered { .. }))
        .count();
    assert_eq!(delivered, 1980);
    assert_each_accepted_once(&node.standin, 1980).await;
    let stats = node.standin.stats().await.unwrap();
    assert!(stats.limit_drops >= 1, "{stats:?}");
    assert_eq!(
        stats.violations, 0,
        "a stream over the acknowledged limit: {stats:?}"
    );
    assert_eq!(stats.session_errors, 0, "{stats:?}");
    assert_eq!(stats.received, 2000, "nothing sent twice: {stats:?}");
}

#[tokio::test]
async fn streams_above_a_goaway_are_resent_at_once_and_those_below_are_not() {
    for code in ["NO_ERROR", "ENHANCE_YOUR_CALM"] {
        // One connection at a time, so pushes are waiting for (or crossing on the wire) each
        // GOAWAY rather than spread over a second connection from the start.
        let node = node_with(json!({ "goawayEvery": 300, "goawayCode": code }), |e| {
            e.with_max_connections(1)
        })
        .await;
        let outcomes = fan_out(&node.client, 0..1500).await;
        assert_all_delivered(&outcomes);
        assert_each_accepted_once(&node.standin, 1500).await;
        let stats = node.standin.stats().await.unwrap();
        assert!(stats.goaways >= 2, "{code}: {stats:?}");
        assert_eq!(stats.received, 1500, "{code}: nothing processed twice: {stats:?}");
        assert!(
            node.client.connections_opened() >= 2,
            "{code}: moved to new connections"
        );
        assert_eq!(stats.session_errors, 0, "{code}: {stats:?}");
    }
}

#[tokio::test]
async fn resets_and_enhance_your_calm_are_resent_without_duplicates() {
    let node = node_with(
        json!({ "resetRate": 0.05, "calmAboveOpen": 150, "seed": 42 }),
        |e| e,
    )
    .await;
    let outcomes = fan_out(&node.client, 0..2000).await;
    assert_all_delivered(&outcomes);
    assert_each_accepted_once(&node.standin, 2000).await;
    let stats = node.standin.stats().await.unwrap();
    assert!(stats.resets > 20, "{stats:?}");
    assert_eq!(
        node.client.resends(),
        stats.resets + stats.calm_resets,
        "each reset sent again once"
    );
    assert!(stats.calm_resets > 0, "{stats:?}");
    assert_eq!(stats.received, 2000, "{stats:?}");
    assert_eq!(stats.session_errors, 0, "{stats:?}");
}

#[tokio::test]
async fn a_session_memory_limit_is_lived_with() {
    // Node's own overload protection: over maxSessionMemory it refuses new streams.
    let node = node_with(json!({ "maxSessionMemory": 1 }), |e| e).await;
    let outcomes = fan_out(&node.client, 0..3000).await;
    assert_all_delivered(&outcomes);
    assert_each_accepted_once(&node.standin, 3000).await;
}

#[tokio::test]
async fn a_large_fan_out_uses_several_connections_within_their_limits() {
    let node = node_with(json!({ "maxConcurrentStreams": 100 }), |e| {
        e.with_max_connections(4)
    })
    .await;
    let outcomes = fan_out(&node.client, 0..2000).await;
    assert_all_delivered(&outcomes);
    assert_each_accepted_once(&node.standin, 2000).await;
    let stats = node.standin.stats().await.unwrap();
    assert!(
        (2..=4).contains(&stats.sessions),
        "between two connections and the cap: {stats:?}"
    );
    assert!(stats.peak_open <= 100, "{stats:?}");
    assert_eq!(stats.violations, 0, "{stats:?}");
    let records = node.standin.records().await.unwrap();
    let mut sessions: Vec<u64> = records.iter().map(|r| r.session).collect();
    sessions.sort_unstable();
    sessions.dedup();
    assert!(sessions.len() >= 2, "pushes went over several connections");
}

#[tokio::test]
async fn a_429_for_one_token_leaves_the_others_alone() {
    let node = node_with(json!({ "tokenLimit": { "max": 1, "windowMs": 600_000 } }), |e| e).await;
    assert!(matches!(
        node.client.send(&token(1), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    let again = node.client.send(&token(1), &wallet()).await;
    assert_eq!(
        again,
        Outcome::Retry {
            reason: RetryReason::Apns {
                status: 429,
                reason: Reason::TooManyRequests
            },
            retry_after: None
        }
    );
    // The refusal dropped the limit to 1; everyone else still gets through, once each.
    let outcomes = fan_out(&node.client, 2..500).await;
    assert_all_delivered(&outcomes);
    let stats = node.standin.stats().await.unwrap();
    assert_eq!(stats.violations, 0, "{stats:?}");
    assert_eq!(stats.received, 500, "{stats:?}");
    assert_eq!(stats.duplicates, 0);
}

#[tokio::test]
async fn an_idle_connection_is_closed_by_the_client_before_the_server_does() {
    let node = node_with(json!({ "idleTimeoutMs": 60_000 }), |e| {
        e.with_idle_timeout(Duration::from_millis(200))
    })
    .await;
    assert!(matches!(
        node.client.send(&token(1), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    node.standin
        .wait_until(WAIT, "the client to close its idle connection", |s| {
            s.sessions_closed >= 1
        })
        .await
        .unwrap();
    assert_eq!(node.client.open_connections(), 0);
    assert!(matches!(
        node.client.send(&token(2), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    let stats = node.standin.stats().await.unwrap();
    assert_eq!(
        stats.idle_closes, 0,
        "the server never had to close it: {stats:?}"
    );
    assert_eq!(stats.sessions, 2);
}

#[tokio::test]
async fn a_connection_the_server_closed_for_idleness_is_replaced_without_a_failure() {
    let node = node_with(json!({ "idleTimeoutMs": 100 }), |e| e).await;
    assert!(matches!(
        node.client.send(&token(1), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    node.standin
        .wait_until(WAIT, "the idle close", |s| {
            s.idle_closes >= 1 && s.sessions_closed >= 1
        })
        .await
        .unwrap();
    assert!(matches!(
        node.client.send(&token(2), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    let stats = node.standin.stats().await.unwrap();
    assert_eq!(stats.received, 2, "{stats:?}");
}

#[tokio::test]
async fn pings_keep_a_connection_alive_while_it_waits() {
    let node = node_with(json!({}), |e| {
        e.with_ping(Duration::from_millis(50), Duration::from_secs(5))
    })
    .await;
    assert!(matches!(
        node.client.send(&token(1), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    // One PING checks the SETTINGS at connect; the keepalive sends more.
    node.standin
        .wait_until(WAIT, "keepalive PINGs", |s| s.pings >= 3)
        .await
        .unwrap();
    assert_eq!(node.client.open_connections(), 1);
}

// The same behaviours from the project's own test server (h2-based).

async fn own_server(builder: apns_testserver::Builder) -> (TestServer, Client) {
    let server = builder.start().await.unwrap();
    let endpoint = Endpoint::new(&server.url())
        .unwrap()
        .with_extra_roots_pem(server.ca_pem().as_bytes())
        .unwrap()
        .with_request_timeout(WAIT);
    let credential = Credential::token(
        &openssl::pkey::PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
            )
            .unwrap(),
        )
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap(),
        "ABC123DEFG",
        "DEF123GHIJ",
    )
    .unwrap();
    let client = Client::new(&endpoint, &credential).unwrap();
    (server, client)
}

fn accepted_once(server: &TestServer, tokens: usize) {
    let mut per_token: HashMap<String, usize> = HashMap::new();
    for r in server.requests() {
        if r.reply == apns_testserver::Reply::Success {
            *per_token.entry(r.device_token.unwrap()).or_default() += 1;
        }
    }
    assert_eq!(per_token.len(), tokens);
    assert!(per_token.values().all(|n| *n == 1), "a token was pushed twice");
}

#[tokio::test]
async fn own_server_resets_and_calm_are_resent_without_duplicates() {
    let (server, client) = own_server(
        TestServer::builder()
            .reset_every(17, ResetReason::REFUSED_STREAM)
            .calm_above_open_streams(100),
    )
    .await;
    let outcomes = fan_out(&client, 0..1500).await;
    assert_all_delivered(&outcomes);
    accepted_once(&server, 1500);
    assert!(server.reset_count() > 50);
    assert_eq!(server.request_count(), 1500, "nothing processed twice");
}

#[tokio::test]
async fn own_server_429_per_token_and_idle_close() {
    let (server, client) = own_server(
        TestServer::builder()
            .too_many_requests_per_token(1, Duration::from_secs(600))
            .idle_timeout(Duration::from_millis(100)),
    )
    .await;
    assert!(matches!(
        client.send(&token(1), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    assert!(matches!(
        client.send(&token(1), &wallet()).await,
        Outcome::Retry {
            reason: RetryReason::Apns { status: 429, .. },
            ..
        }
    ));
    server.wait_for_closed_connections(1, WAIT).await.unwrap();
    assert_eq!(server.idle_close_count(), 1);
    assert!(matches!(
        client.send(&token(2), &wallet()).await,
        Outcome::Delivered { .. }
    ));
    assert_eq!(server.connection_count(), 2);
}
