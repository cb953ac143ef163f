//! The push worker against the test APNs server (real TLS + HTTP/2), on SQLite and PostgreSQL.
//! Passes and registrations are written straight into the store here; the HTTP end-to-end test
//! lives with the PassKit tests.
mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apns_testserver::{NodeStandIn, Reply, TestServer};
use common::db::TestDb;
use passmint::domain::crypto::MasterKey;
use passmint::domain::signer::seal_identity;
use passmint::metrics::Metrics;
use passmint::push::{Backoff, PushWorker, WorkerConfig, WorkerHandle};
use passmint::store::outbox::{self, PushResult};
use passmint::store::{Backend, NewTemplate, Store, now_millis};
use pkpass::SigningIdentity;
use pkpass::dev_certs::SignerOptions;
use serde_json::json;

const TOPIC: &str = "pass.com.example.test";
const WAIT: Duration = Duration::from_secs(20);

/// Runs one statement with string/integer binds on whichever backend is active.
macro_rules! exec {
    ($store:expr, $sql:expr $(, $bind:expr)*) => {
        match $store.backend() {
            Backend::Sqlite(pool) => {
                sqlx::query($sql)$(.bind($bind))*.execute(pool).await.unwrap();
            }
            Backend::Postgres(pool) => {
                sqlx::query($sql)$(.bind($bind))*.execute(pool).await.unwrap();
            }
        }
    };
}

macro_rules! scalar {
    ($store:expr, $ty:ty, $sql:expr $(, $bind:expr)*) => {
        match $store.backend() {
            Backend::Sqlite(pool) => sqlx::query_scalar::<_, $ty>($sql)$(.bind($bind))*.fetch_one(pool).await.unwrap(),
            Backend::Postgres(pool) => sqlx::query_scalar::<_, $ty>($sql)$(.bind($bind))*.fetch_one(pool).await.unwrap(),
        }
    };
}

fn token(n: u32) -> String {
    format!("{n:064x}")
}

struct Fixture {
    store: Store,
    master_key: MasterKey,
    template_id: String,
    cert_der: Vec<u8>,
    apns: TestServer,
    /// The independent APNs stand-in (Node), when the test uses it instead of `apns`.
    node: Option<NodeStandIn>,
    ca_file: tempfile::NamedTempFile,
    serial: std::sync::atomic::AtomicU32,
}

fn fast() -> WorkerConfig {
    WorkerConfig {
        poll_interval: Duration::from_millis(50),
        backoff: Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
        },
        ..WorkerConfig::default()
    }
}

fn new_template(id: &str, master_key: &MasterKey) -> (NewTemplate, Vec<u8>) {
    let chain = pkpass::dev_certs::generate(&SignerOptions::default()).unwrap();
    let identity = SigningIdentity::load(pkpass::SigningMaterial {
        signer_cert: &chain.signer_cert_pem,
        signer_key: &chain.signer_key_pkcs8_pem,
        passphrase: None,
        wwdr: &chain.wwdr_pem,
    })
    .unwrap();
    let sealed = seal_identity(master_key, id, &identity).unwrap();
    let cert = sealed.signer_cert_der.clone();
    let t = NewTemplate {
        id: id.to_string(),
        name: "push test".into(),
        file_name: "t.pkpass".into(),
        team_identifier: "TEAM123456".into(),
        pass_type_identifier: TOPIC.into(),
        template_zip: b"zip".to_vec(),
        signer_cert_der: sealed.signer_cert_der,
        wwdr_der: sealed.wwdr_der,
        signer_key_sealed: sealed.signer_key_sealed,
        certificate_expires_at: identity.expires_at().unwrap(),
    };
    (t, cert)
}

impl Fixture {
    async fn new(db: &TestDb) -> Self {
        let store = db.store().await;
        let master_key = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let template_id = uuid::Uuid::new_v4().to_string();
        let (t, cert_der) = new_template(&template_id, &master_key);
        store.insert_template(&t).await.unwrap();
        let apns = TestServer::builder()
            .accept_any_client_certificate()
            .start()
            .await
            .unwrap();
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), apns.ca_pem()).unwrap();
        Self {
            store,
            master_key,
            template_id,
            cert_der,
            apns,
            node: None,
            ca_file,
            serial: Default::default(),
        }
    }

    /// A fixture whose worker talks to the Node stand-in started with `options`.
    async fn with_node(db: &TestDb, options: serde_json::Value) -> Self {
        let mut f = Self::new(db).await;
        let node = NodeStandIn::start(&options, None).await.unwrap();
        std::fs::write(f.ca_file.path(), node.ca_pem()).unwrap();
        f.node = Some(node);
        f
    }

    fn node(&self) -> &NodeStandIn {
        self.node.as_ref().expect("a Node stand-in")
    }

    fn url(&self) -> String {
        self.node
            .as_ref()
            .map_or_else(|| self.apns.url(), NodeStandIn::url)
    }

    fn endpoint_for(&self, url: &str) -> apns::Endpoint {
        apns::Endpoint::new(url)
            .unwrap()
            .with_extra_roots_pem(&std::fs::read(self.ca_file.path()).unwrap())
            .unwrap()
    }

    fn worker_on(&self, store: &Store, url: &str, config: WorkerConfig) -> WorkerHandle {
        PushWorker::new(
            store.clone(),
            self.master_key.clone(),
            self.endpoint_for(url),
            Arc::new(Metrics::default()),
            config,
        )
        .spawn()
    }

    fn worker(&self) -> WorkerHandle {
        self.worker_on(&self.store, &self.url(), fast())
    }

    async fn add_pass(&self) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let serial = self.serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = now_millis();
        exec!(
            self.store,
            "INSERT INTO passes (id, template_id, pass_type_identifier, serial_number, auth_token, \
             payload, overrides, update_tag, last_modified, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'token-token-token-token-token-token', '{}', '{}', 1, 1, $5, $5)",
            &id,
            &self.template_id,
            TOPIC,
            format!("serial-{serial}-{id}"),
            now
        );
        id
    }

    async fn register(&self, pass_id: &str, device: &str, push_token: &str, updated_at: i64) {
        exec!(
            self.store,
            "INSERT INTO registrations (device_library_identifier, pass_id, pass_type_identifier, \
             push_token, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
            device,
            pass_id,
            TOPIC,
            push_token,
            updated_at
        );
    }

    async fn enqueue_pass(&self, pass_id: &str) -> u64 {
        let n = match self.store.backend() {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await.unwrap();
                let n = outbox::enqueue_for_pass(&mut *tx, pass_id, now_millis())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                n
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                let n = outbox::enqueue_for_pass(&mut *tx, pass_id, now_millis())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                n
            }
        };
        self.store.push_enqueued();
        n
    }

    async fn enqueue_template(&self) -> u64 {
        let n = match self.store.backend() {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await.unwrap();
                let n = outbox::enqueue_for_template(&mut *tx, &self.template_id, now_millis())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                n
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                let n = outbox::enqueue_for_template(&mut *tx, &self.template_id, now_millis())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                n
            }
        };
        self.store.push_enqueued();
        n
    }

    async fn registrations_for(&self, push_token: &str) -> i64 {
        scalar!(
            self.store,
            i64,
            "SELECT COUNT(*) FROM registrations WHERE push_token = $1",
            push_token
        )
    }

    /// Polls (bounded) until the outbox is empty.
    async fn wait_for_empty_queue(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let depth = self.store.push_queue_depth().await.unwrap();
            if depth == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{depth} pushes still queued after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_for<F: Fn(i64) -> bool>(&self, sql: &'static str, what: &str, ok: F) {
        let deadline = Instant::now() + WAIT;
        loop {
            let n = scalar!(self.store, i64, sql);
            if ok(n) {
                return;
            }
            assert!(Instant::now() < deadline, "still waiting for {what} (got {n})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The data of every event of `event_type`, once per occurrence: push outcomes are device
    /// records, where repeats of one failure share a record with a `count`.
    async fn events_of(&self, event_type: &str) -> Vec<serde_json::Value> {
        self.store
            .list_events(Some(event_type), None, 10_000)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|e| {
                let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                std::iter::repeat_n(data, usize::try_from(e.count).unwrap())
            })
            .collect()
    }
}

async fn sends_one_push_per_registered_token_with_topic_body_and_certificate(db: &TestDb) {
    let f = Fixture::new(db).await;
    let pass = f.add_pass().await;
    let now = now_millis();
    f.register(&pass, "device-a", &token(1), now).await;
    f.register(&pass, "device-b", &token(2), now).await;
    // A second device with the same token: still one push to that token.
    f.register(&pass, "device-c", &token(1), now).await;
    assert_eq!(f.enqueue_pass(&pass).await, 2);
    let worker = f.worker();
    f.apns.wait_for_requests(2, WAIT).await.unwrap();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;

    let requests = f.apns.requests();
    assert_eq!(requests.len(), 2, "exactly one push per token");
    let tokens: BTreeSet<_> = requests.iter().filter_map(|r| r.device_token.clone()).collect();
    assert_eq!(tokens, BTreeSet::from([token(1), token(2)]));
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("apns-topic"), Some(TOPIC));
        assert_eq!(r.header("apns-push-type"), Some("background"));
        assert_eq!(r.header("apns-priority"), Some("5"));
        assert_eq!(&r.body[..], b"{}");
        let cert = r.client_certificate.as_ref().expect("a client certificate");
        assert_eq!(
            cert.der, f.cert_der,
            "the template's pass type certificate is presented"
        );
    }
    // Successes are summed up per recorded batch, with token prefixes only.
    let successes = f.events_of("APNS_PUSH_SUCCESS").await;
    let delivered: u64 = successes.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(delivered, 2);
    for e in &successes {
        assert_eq!(e["passTypeIdentifier"], TOPIC);
        for prefix in e["tokenPrefixes"].as_array().unwrap() {
            let prefix = prefix.as_str().unwrap();
            assert!(
                prefix.chars().count() <= 9,
                "only a prefix of the token: {prefix}"
            );
        }
    }
}

async fn retries_after_500_503_429_and_a_dropped_connection(db: &TestDb) {
    let f = Fixture::new(db).await;
    let pass = f.add_pass().await;
    f.register(&pass, "device-a", &token(7), now_millis()).await;
    f.apns.reply(Reply::status(500, "InternalServerError"));
    f.apns.reply(Reply::status(503, "ServiceUnavailable"));
    f.apns.reply(Reply::status(429, "TooManyRequests"));
    // A connection dropped under a push is sent again at once; dropped twice, it is a failure.
    f.apns.reply(Reply::DropConnection);
    f.apns.reply(Reply::DropConnection);
    f.enqueue_pass(&pass).await;
    let worker = f.worker();
    let requests = f.apns.wait_for_requests(6, WAIT).await.unwrap();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;
    assert_eq!(f.apns.request_count(), 6, "four failures, then one delivery");
    assert_eq!(requests[5].reply, Reply::Success);
    assert!(f.apns.connection_count() >= 2, "reconnected after the drop");
    let fails = f.events_of("APNS_PUSH_FAIL").await;
    let reasons: BTreeSet<String> = fails
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "InternalServerError",
        "ServiceUnavailable",
        "TooManyRequests",
        "ConnectionError",
    ] {
        assert!(reasons.contains(expected), "{expected} in {reasons:?}");
    }
    assert!(fails.iter().all(|e| e["retrying"] == true));
    assert_eq!(f.events_of("APNS_PUSH_SUCCESS").await.len(), 1);
    assert_eq!(f.registrations_for(&token(7)).await, 1);
}

async fn removes_registrations_on_410_and_bad_device_token_but_keeps_a_later_registration(db: &TestDb) {
    let f = Fixture::new(db).await;
    let pass = f.add_pass().await;
    let other_pass = f.add_pass().await;
    let now = now_millis();
    f.register(&pass, "gone", &token(1), now - 60_000).await;
    f.register(&other_pass, "gone", &token(1), now - 60_000).await;
    f.register(&pass, "bad", &token(2), now).await;
    f.register(&pass, "came-back", &token(3), now).await;
    f.register(&pass, "fine", &token(4), now).await;
    // Token 1 became invalid after it registered; token 3 registered again after its 410 time.
    f.apns.reply_for(&token(1), Reply::unregistered(now - 1000));
    f.apns.reply_for(&token(2), Reply::status(400, "BadDeviceToken"));
    f.apns.reply_for(&token(3), Reply::unregistered(now - 30_000));
    f.enqueue_pass(&pass).await;
    let worker = f.worker();
    f.apns.wait_for_requests(4, WAIT).await.unwrap();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;
    assert_eq!(
        f.registrations_for(&token(1)).await,
        0,
        "410: every registration of the token goes"
    );
    assert_eq!(
        f.registrations_for(&token(2)).await,
        0,
        "BadDeviceToken removes it"
    );
    assert_eq!(
        f.registrations_for(&token(3)).await,
        1,
        "re-registered after the 410 timestamp"
    );
    assert_eq!(f.registrations_for(&token(4)).await, 1);
    assert_eq!(f.apns.request_count(), 4, "dead tokens are not retried");
}

async fn collapses_pending_pushes_to_one_token(db: &TestDb) {
    let f = Fixture::new(db).await;
    let a = f.add_pass().await;
    let b = f.add_pass().await;
    let now = now_millis();
    f.register(&a, "device", &token(9), now).await;
    f.register(&b, "device", &token(9), now).await;
    for _ in 0..5 {
        f.enqueue_pass(&a).await;
        f.enqueue_pass(&b).await;
    }
    f.enqueue_template().await;
    assert_eq!(f.store.push_queue_depth().await.unwrap(), 1);
    let worker = f.worker();
    f.apns.wait_for_requests(1, WAIT).await.unwrap();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;
    assert_eq!(f.apns.request_count(), 1);
}

async fn keeps_an_update_that_arrives_while_its_push_is_in_flight(db: &TestDb) {
    let f = Fixture::new(db).await;
    let pass = f.add_pass().await;
    f.register(&pass, "device", &token(5), now_millis()).await;
    f.enqueue_pass(&pass).await;
    let claimed = f.store.claim_pushes(now_millis(), 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // Nothing else can claim it while it is in flight.
    assert!(
        f.store
            .claim_pushes(now_millis(), 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The pass changes again while the push is on its way.
    f.enqueue_pass(&pass).await;
    let done = vec![(claimed[0].clone(), PushResult::Done)];
    f.store.record_push_results(&done, now_millis()).await.unwrap();
    assert_eq!(
        f.store.push_queue_depth().await.unwrap(),
        1,
        "the newer update stays queued"
    );
    let again = f.store.claim_pushes(now_millis(), 60_000, 10).await.unwrap();
    assert_eq!(again.len(), 1, "and is due at once");
    f.store
        .record_push_results(&[(again[0].clone(), PushResult::Done)], now_millis())
        .await
        .unwrap();
    assert_eq!(f.store.push_queue_depth().await.unwrap(), 0);
}

async fn a_crashed_claim_is_sent_after_its_lease_expires(db: &TestDb) {
    let f = Fixture::new(db).await;
    let pass = f.add_pass().await;
    f.register(&pass, "device", &token(6), now_millis()).await;
    f.enqueue_pass(&pass).await;
    // A worker claimed it with a short lease and died.
    assert_eq!(f.store.claim_pushes(now_millis(), 1, 10).await.unwrap().len(), 1);
    let worker = f.worker();
    f.apns.wait_for_requests(1, WAIT).await.unwrap();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;
}

async fn delivers_a_push_queued_while_apns_was_down_after_a_restart(db: &TestDb) {
    let f = Fixture::new(db).await;
    let pass = f.add_pass().await;
    f.register(&pass, "device", &token(8), now_millis()).await;
    f.enqueue_pass(&pass).await;
    // APNs is unreachable: a port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = f.worker_on(&f.store, &format!("https://localhost:{closed}"), fast());
    f.wait_for(
        "SELECT COALESCE(MAX(attempts), 0) FROM push_outbox",
        "a failed attempt",
        |n| n >= 1,
    )
    .await;
    down.shutdown().await;
    f.store.close().await;
    assert_eq!(f.apns.request_count(), 0);

    // The server restarts (a fresh store on the same database) and APNs is back.
    let store = db.store().await;
    assert_eq!(
        store.push_queue_depth().await.unwrap(),
        1,
        "the push survived the restart"
    );
    let mut config = fast();
    // The backoff may have pushed it a little into the future; that is fine.
    config.poll_interval = Duration::from_millis(20);
    let up = f.worker_on(&store, &f.apns.url(), config);
    let requests = f.apns.wait_for_requests(1, WAIT).await.unwrap();
    assert_eq!(requests[0].device_token.as_deref(), Some(token(8).as_str()));
    let deadline = Instant::now() + WAIT;
    while store.push_queue_depth().await.unwrap() != 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    up.shutdown().await;
}

async fn pauses_a_template_whose_certificate_apns_refuses_until_it_is_replaced(db: &TestDb) {
    let f = Fixture::new(db).await;
    let pass = f.add_pass().await;
    let now = now_millis();
    for n in 1..=3 {
        f.register(&pass, &format!("device-{n}"), &token(100 + n), now)
            .await;
    }
    f.apns.reply(Reply::status(403, "BadCertificate"));
    f.enqueue_pass(&pass).await;
    // One push at a time, so the refusal is known before the next push would go out.
    let mut config = fast();
    config.max_in_flight = 1;
    let worker = f.worker_on(&f.store, &f.apns.url(), config);
    f.apns.wait_for_requests(1, WAIT).await.unwrap();
    f.wait_for("SELECT COUNT(*) FROM push_pauses", "the pause", |n| n == 1)
        .await;
    assert!(f.store.template_pushes_paused(&f.template_id).await.unwrap());
    // Released claims wait, parked, for the template to be fixed: none is claimable.
    f.wait_for(
        "SELECT COUNT(*) FROM push_outbox WHERE claimed_until IS NULL",
        "released claims",
        |n| n == 3,
    )
    .await;
    f.store.refresh_push_pauses(now_millis()).await.unwrap();
    assert!(
        f.store
            .claim_pushes(now_millis(), 60_000, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // The worker releases its claims before it records the pause's event: wait for the event.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut paused = f.events_of("APNS_PUSH_PAUSED").await;
    while paused.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        paused = f.events_of("APNS_PUSH_PAUSED").await;
    }
    assert_eq!(paused.len(), 1, "one event, not one per push");
    assert_eq!(paused[0]["reason"], "BadCertificate");
    let refused_sends = f.apns.request_count();
    assert_eq!(refused_sends, 1, "no hammering with a refused certificate");

    // New signing material: the pushes resume with the new certificate.
    let (mut replacement, new_cert) = new_template(&f.template_id, &f.master_key);
    replacement.name = "fixed".into();
    f.store.replace_template(&replacement).await.unwrap();
    let requests = f.apns.wait_for_requests(refused_sends + 3, WAIT).await.unwrap();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;
    let resent = &requests[refused_sends..];
    assert_eq!(resent.len(), 3);
    for r in resent {
        assert_eq!(r.client_certificate.as_ref().unwrap().der, new_cert);
        assert_eq!(r.reply, Reply::Success);
    }
    assert_eq!(f.events_of("APNS_PUSH_RESUMED").await.len(), 1);
}

async fn two_workers_sharing_a_database_send_every_token_exactly_once(db: &TestDb) {
    let f = Fixture::new(db).await;
    let now = now_millis();
    for n in 0..500u32 {
        let pass = f.add_pass().await;
        f.register(&pass, &format!("device-{n}"), &token(1000 + n), now)
            .await;
    }
    assert_eq!(f.enqueue_template().await, 500);
    let second = db.store().await;
    let mut config = fast();
    config.batch_size = 50;
    config.max_in_flight = 40;
    let a = f.worker_on(&f.store, &f.apns.url(), config.clone());
    let b = f.worker_on(&second, &f.apns.url(), config);
    f.apns.wait_for_requests(500, WAIT).await.unwrap();
    f.wait_for_empty_queue().await;
    a.shutdown().await;
    b.shutdown().await;
    let mut per_token: HashMap<String, usize> = HashMap::new();
    for r in f.apns.requests() {
        *per_token.entry(r.device_token.unwrap()).or_default() += 1;
    }
    assert_eq!(per_token.len(), 500);
    assert!(per_token.values().all(|&n| n == 1), "a token was pushed twice");
}

async fn shutdown_leaves_unsent_pushes_queued(db: &TestDb) {
    let f = Fixture::new(db).await;
    let now = now_millis();
    for n in 0..200u32 {
        let pass = f.add_pass().await;
        f.register(&pass, &format!("device-{n}"), &token(5000 + n), now)
            .await;
    }
    f.enqueue_template().await;
    let mut config = fast();
    config.batch_size = 10;
    config.max_in_flight = 1;
    let worker = f.worker_on(&f.store, &f.apns.url(), config);
    f.apns.wait_for_requests(1, WAIT).await.unwrap();
    worker.shutdown().await;
    let sent = f.apns.request_count() as i64;
    // Every sent push is recorded; every other one is queued and claimable at once.
    assert_eq!(f.store.push_queue_depth().await.unwrap(), 200 - sent);
    let claimable = f.store.claim_pushes(now_millis(), 60_000, 1000).await.unwrap();
    assert_eq!(claimable.len() as i64, 200 - sent);
}

async fn honours_the_retry_after_of_a_429(db: &TestDb) {
    let f = Fixture::new(db).await;
    let pass = f.add_pass().await;
    f.register(&pass, "device", &token(11), now_millis()).await;
    f.apns.reply(Reply::Status {
        status: 429,
        reason: "TooManyRequests".into(),
        timestamp: None,
        retry_after: Some(3600),
    });
    let before = now_millis();
    f.enqueue_pass(&pass).await;
    let worker = f.worker();
    f.wait_for(
        "SELECT COALESCE(MAX(attempts), 0) FROM push_outbox",
        "the failed attempt recorded",
        |n| n >= 1,
    )
    .await;
    worker.shutdown().await;
    let due_at = scalar!(f.store, i64, "SELECT due_at FROM push_outbox");
    // The fast test backoff is at most 200 ms; APNs asked for an hour.
    assert!(
        due_at >= before + 3_600_000,
        "due {} ms after the push",
        due_at - before
    );
    assert_eq!(f.apns.request_count(), 1);
}

/// Failure events by reason.
fn failure_reasons(fails: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut reasons = HashMap::new();
    for e in fails {
        *reasons
            .entry(e["reason"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    reasons
}

/// Against the Node stand-in pushing back in every way at once: each token gets exactly one
/// accepted push, nothing fails for connection reasons, nothing waits in the outbox.
async fn a_fan_out_against_an_apns_that_pushes_back_sends_each_token_once(db: &TestDb) {
    let bad: Vec<String> = (0..5u32).map(|n| token(90_000 + n)).collect();
    let script: serde_json::Map<String, serde_json::Value> = bad
        .iter()
        .map(|t| (t.clone(), json!([{ "status": 400, "reason": "BadDeviceToken" }])))
        .collect();
    let f = Fixture::with_node(
        db,
        json!({
            "script": script,
            "dropOnReject": true,
            // Low enough that a session reaches it however the client spreads 1,205 pushes over
            // its (at most 4) connections.
            "goawayEvery": 150,
            "resetRate": 0.02,
            "calmAboveOpen": 300,
            "seed": 7,
        }),
    )
    .await;
    let now = now_millis();
    // 300 passes with 4 devices each, plus the five tokens APNs calls bad.
    let mut good = Vec::new();
    for p in 0..300u32 {
        let pass = f.add_pass().await;
        for d in 0..4u32 {
            let t = token(10_000 + p * 4 + d);
            f.register(&pass, &format!("device-{p}-{d}"), &t, now).await;
            good.push(t);
        }
        if let Some(t) = bad.get(p as usize) {
            f.register(&pass, &format!("bad-{p}"), t, now).await;
        }
    }
    assert_eq!(f.enqueue_template().await, 1205);
    let worker = f.worker();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;

    let records = f.node().records().await.unwrap();
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for r in records.iter().filter(|r| r.status == 200) {
        *accepted.entry(&r.token).or_default() += 1;
    }
    assert_eq!(accepted.len(), good.len(), "every device pushed");
    assert!(accepted.values().all(|&n| n == 1), "a token was pushed twice");
    assert!(
        records.iter().all(|r| r.client_certificate),
        "certificate authentication"
    );
    let stats = f.node().stats().await.unwrap();
    assert_eq!(stats.violations, 0, "over the stream limit: {stats:?}");
    assert_eq!(stats.received, 1205, "nothing processed twice: {stats:?}");
    assert!(
        stats.goaways >= 1 && stats.resets >= 1 && stats.limit_drops >= 1,
        "{stats:?}"
    );
    let reasons = failure_reasons(&f.events_of("APNS_PUSH_FAIL").await);
    assert_eq!(reasons.get("BadDeviceToken"), Some(&5), "{reasons:?}");
    assert_eq!(reasons.len(), 1, "no connection errors or timeouts: {reasons:?}");
    for t in &bad {
        assert_eq!(f.registrations_for(t).await, 0);
    }
}

/// A 429 for one token backs off that token only; the rest of the fan-out is not slowed or
/// failed, and the 429'd token is delivered once the server lets it through.
async fn a_429_for_one_token_is_retried_without_touching_the_others(db: &TestDb) {
    // One accepted push per token for as long as the test runs, until the limit is lifted.
    let f = Fixture::with_node(db, json!({ "tokenLimit": { "max": 1, "windowMs": 600_000 } })).await;
    let now = now_millis();
    let hot = f.add_pass().await;
    f.register(&hot, "hot", &token(1), now).await;
    for n in 0..200u32 {
        let pass = f.add_pass().await;
        f.register(&pass, &format!("device-{n}"), &token(100 + n), now)
            .await;
    }
    f.enqueue_pass(&hot).await;
    let worker = f.worker();
    f.wait_for_empty_queue().await;
    // The same token again, together with 200 others: only it meets the limit.
    f.enqueue_template().await;
    f.node()
        .wait_until(WAIT, "the 429 and the others", |s| s.received >= 202)
        .await
        .unwrap();
    f.node()
        .set_options(&json!({ "tokenLimit": { "max": 0, "windowMs": 0 } }))
        .await
        .unwrap();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;
    let records = f.node().records().await.unwrap();
    let hot_token = token(1);
    let hot_answers: Vec<u16> = records
        .iter()
        .filter(|r| r.token == hot_token)
        .map(|r| r.status)
        .collect();
    assert!(hot_answers.contains(&429), "{hot_answers:?}");
    assert_eq!(
        hot_answers.iter().filter(|s| **s == 200).count(),
        2,
        "one accepted push per update: {hot_answers:?}"
    );
    let others: Vec<_> = records.iter().filter(|r| r.token != hot_token).collect();
    assert_eq!(others.len(), 200, "each other token once");
    assert!(others.iter().all(|r| r.status == 200));
    let reasons = failure_reasons(&f.events_of("APNS_PUSH_FAIL").await);
    assert_eq!(
        reasons.keys().collect::<Vec<_>>(),
        ["TooManyRequests"],
        "{reasons:?}"
    );
}

/// Connections closed by the server for idleness (GOAWAY) cost no push a failure.
async fn an_idle_close_between_updates_costs_no_failure(db: &TestDb) {
    let f = Fixture::with_node(db, json!({ "idleTimeoutMs": 100 })).await;
    let pass = f.add_pass().await;
    f.register(&pass, "device", &token(3), now_millis()).await;
    f.enqueue_pass(&pass).await;
    let worker = f.worker();
    f.wait_for_empty_queue().await;
    f.node()
        .wait_until(WAIT, "the idle close", |s| {
            s.idle_closes >= 1 && s.sessions_closed >= 1
        })
        .await
        .unwrap();
    f.enqueue_pass(&pass).await;
    f.node()
        .wait_until(WAIT, "the second push", |s| s.accepted >= 2)
        .await
        .unwrap();
    f.wait_for_empty_queue().await;
    worker.shutdown().await;
    assert!(f.events_of("APNS_PUSH_FAIL").await.is_empty());
    assert_eq!(f.node().stats().await.unwrap().sessions, 2);
}

on_both_backends! {
    sends_one_push_per_registered_token_with_topic_body_and_certificate => sends_one_push_per_registered_token_with_topic_body_and_certificate;
    retries_after_500_503_429_and_a_dropped_connection => retries_after_500_503_429_and_a_dropped_connection;
    removes_registrations_on_410_and_bad_device_token_but_keeps_a_later_registration => removes_registrations_on_410_and_bad_device_token_but_keeps_a_later_registration;
    collapses_pending_pushes_to_one_token => collapses_pending_pushes_to_one_token;
    keeps_an_update_that_arrives_while_its_push_is_in_flight => keeps_an_update_that_arrives_while_its_push_is_in_flight;
    a_crashed_claim_is_sent_after_its_lease_expires => a_crashed_claim_is_sent_after_its_lease_expires;
    delivers_a_push_queued_while_apns_was_down_after_a_restart => delivers_a_push_queued_while_apns_was_down_after_a_restart;
    pauses_a_template_whose_certificate_apns_refuses_until_it_is_replaced => pauses_a_template_whose_certificate_apns_refuses_until_it_is_replaced;
    two_workers_sharing_a_database_send_every_token_exactly_once => two_workers_sharing_a_database_send_every_token_exactly_once;
    shutdown_leaves_unsent_pushes_queued => shutdown_leaves_unsent_pushes_queued;
    honours_the_retry_after_of_a_429 => honours_the_retry_after_of_a_429;
    a_fan_out_against_an_apns_that_pushes_back_sends_each_token_once => a_fan_out_against_an_apns_that_pushes_back_sends_each_token_once;
    a_429_for_one_token_is_retried_without_touching_the_others => a_429_for_one_token_is_retried_without_touching_the_others;
    an_idle_close_between_updates_costs_no_failure => an_idle_close_between_updates_costs_no_failure;
}
