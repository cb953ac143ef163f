//! Template rollouts (SPEC 7, issue 10): a PUT answers at once and a durable background rollout
//! brings every pass up to date (new tag, pushes), whatever happens to the client or the
//! process; PATCHes racing it are never lost; a newer PUT supersedes it; identifiers of a
//! template with passes can't change. Each behaviour runs on SQLite and, when
//! `PASSMINT_TEST_POSTGRES_URL` is set, on PostgreSQL.
mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::db::TestDb;
use common::passes::{Fixture, example_payload, unzip};
use common::server::{ADMIN_TOKEN, BASE, Upload, params, settings, template_zip, zip_entries};
use passmint::store::{Backend, Store};
use serde_json::{Value, json};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(90);

/// Runs `test` on SQLite, then on PostgreSQL when it is configured.
async fn on_both<F, Fut>(name: &str, test: F)
where
    F: Fn(Option<String>) -> Fut,
    Fut: Future<Output = ()>,
{
    test(None).await;
    if let Some(db) = TestDb::postgres(name).await {
        test(Some(db.url.clone())).await;
        db.drop_db().await;
    }
}

/// A fixture on `url` (SQLite when `None`), rolling out `batch` passes per transaction, with
/// or without this process's rollout worker.
async fn fixture(url: Option<&str>, batch: u64, worker: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    if let Some(url) = url {
        s.database_url = passmint::config::Secret::new(url);
    }
    s.rollout_batch = batch;
    s.rollout_worker = worker;
    Fixture::start_with(s, dir).await
}

/// The example template with `organizationName` = `org`: every pass renders differently.
fn template_with_org(org: &str) -> Vec<u8> {
    let entries: Vec<(String, Vec<u8>)> = unzip(&template_zip())
        .into_iter()
        .map(|(name, bytes)| {
            if name.ends_with("pass.json") {
                let mut json: Value = serde_json::from_slice(&bytes).unwrap();
                json["organizationName"] = json!(org);
                (name, serde_json::to_vec_pretty(&json).unwrap())
            } else {
                (name, bytes)
            }
        })
        .collect();
    zip_entries(&entries)
}

fn upload_with_org(f: &Fixture, org: &str) -> Upload {
    let mut upload = Upload::valid(&f.chain);
    upload.template = Some(template_with_org(org));
    upload
}

/// Runs one statement returning a number on the store's database.
async fn scalar(store: &Store, sql: &str, bind: &str) -> i64 {
    match store.backend() {
        Backend::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(bind.to_string())
            .fetch_one(pool)
            .await
            .unwrap(),
        Backend::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(bind.to_string())
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

/// Issues `n` passes of template `template_id` through `POST B/passes/batch` at `base`.
async fn issue_batch(client: &reqwest::Client, base: &str, template_id: &str, n: usize) {
    for start in (0..n).step_by(500) {
        let items: Vec<Value> = (start..(start + 500).min(n))
            .map(|i| json!({ "payload": example_payload(), "serialNumber": format!("R-{i}") }))
            .collect();
        let r = client
            .post(format!("{base}{BASE}/passes/batch"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "templateId": template_id, "items": items }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
}

/// Registers one device with its own push token for every pass of `template_id`, straight
/// into the database (what many iPhones registering would leave), and returns the tokens.
async fn register_every_pass(store: &Store, template_id: &str) -> BTreeSet<String> {
    let token = match store.backend() {
        Backend::Sqlite(_) => "lower(hex(randomblob(32)))",
        Backend::Postgres(_) => "md5(p.id) || md5(p.id || 'x')",
    };
    let insert = format!(
        "INSERT INTO registrations (device_library_identifier, pass_id, pass_type_identifier, \
         push_token, created_at, updated_at) \
         SELECT 'device-' || p.serial_number, p.id, p.pass_type_identifier, {token}, 0, 0 \
         FROM passes p WHERE p.template_id = $1"
    );
    let select = "SELECT push_token FROM registrations r JOIN passes p ON p.id = r.pass_id \
                  WHERE p.template_id = $1";
    let tokens: Vec<String> = match store.backend() {
        Backend::Sqlite(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(insert))
                .bind(template_id)
                .execute(pool)
                .await
                .unwrap();
            sqlx::query_scalar(select)
                .bind(template_id)
                .fetch_all(pool)
                .await
                .unwrap()
        }
        Backend::Postgres(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(insert))
                .bind(template_id)
                .execute(pool)
                .await
                .unwrap();
            sqlx::query_scalar(select)
                .bind(template_id)
                .fetch_all(pool)
                .await
                .unwrap()
        }
    };
    tokens.into_iter().collect()
}

/// GET `url` as the admin, as JSON.
async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let r = client.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}

/// Waits until the template's latest rollout is `done`; returns it.
async fn wait_for_done(client: &reqwest::Client, base: &str, template_id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let t = get_json(client, &format!("{base}{BASE}/templates/{template_id}")).await;
        if t["rollout"]["status"] == "done" {
            return t["rollout"].clone();
        }
        assert!(Instant::now() < deadline, "rollout not done: {}", t["rollout"]);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the APNs test server has received a push for every token in `tokens`.
async fn wait_for_tokens(apns: &apns_testserver::TestServer, tokens: &BTreeSet<String>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let pushed: BTreeSet<String> = apns
            .requests()
            .into_iter()
            .filter_map(|r| r.device_token)
            .collect();
        let missing = tokens.difference(&pushed).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} tokens never pushed",
            tokens.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Passes of `template_id` whose tag is not after `tag`: not (yet) updated.
async fn passes_not_after(store: &Store, template_id: &str, tag: i64) -> i64 {
    scalar(
        store,
        &format!("SELECT COUNT(*) FROM passes WHERE template_id = $1 AND update_tag <= {tag}"),
        template_id,
    )
    .await
}

/// A multipart body of `upload`, built by hand for a raw socket.
fn multipart_body(upload: &Upload, boundary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    let text = |name: &str, value: &str, body: &mut Vec<u8>| {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    };
    for (name, value) in [
        ("name", &upload.name),
        ("fileName", &upload.file_name),
        ("teamIdentifier", &upload.team_identifier),
        ("passTypeIdentifier", &upload.pass_type_identifier),
        ("wwdr", &upload.wwdr),
        ("signerCert", &upload.signer_cert),
        ("signerKey", &upload.signer_key),
        ("signerKeyPassphrase", &upload.signer_key_passphrase),
    ] {
        text(name, value.as_deref().unwrap(), &mut body);
    }
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"template\"; filename=\"t.zip\"\r\n\
         Content-Type: application/zip\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(upload.template.as_deref().unwrap());
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_whose_client_hangs_up_still_retags_and_pushes_every_pass() {
    on_both("client_hangs_up", |url| async move {
        let f = fixture(url.as_deref(), 25, true).await;
        let store = f.server.state.store.clone();
        issue_batch(&f.server.client, &f.server.url, &f.template_id, 400).await;
        let tokens = register_every_pass(&store, &f.template_id).await;
        let before = store.current_update_tag().await.unwrap();

        // The PUT over a raw socket, closed as soon as the new revision is live (what a proxy
        // timing out does): the rollout must not depend on the request.
        let upload = upload_with_org(&f, "Hung Up Coffee");
        let body = multipart_body(&upload, "XyZzY");
        let addr = f.server.url.trim_start_matches("http://").to_string();
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "PUT {BASE}/templates/{} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: multipart/form-data; boundary=XyZzY\r\nContent-Length: {}\r\n\r\n",
            f.template_id,
            body.len()
        );
        tokio::io::AsyncWriteExt::write_all(&mut socket, head.as_bytes())
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut socket, &body)
            .await
            .unwrap();
        let deadline = Instant::now() + WAIT;
        let template_url = format!("{}{BASE}/templates/{}", f.server.url, f.template_id);
        while get_json(&f.server.client, &template_url).await["rollout"].is_null() {
            assert!(Instant::now() < deadline, "the PUT never committed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(socket);

        let rollout = wait_for_done(&f.server.client, &f.server.url, &f.template_id).await;
        assert_eq!(rollout["passesTotal"], 400, "{rollout}");
        assert_eq!(rollout["passesChecked"], 400, "{rollout}");
        assert_eq!(rollout["passesUpdated"], 400, "{rollout}");
        assert_eq!(rollout["passesFailed"], 0, "{rollout}");
        assert!(rollout["finishedAt"].is_string(), "{rollout}");
        assert_eq!(passes_not_after(&store, &f.template_id, before).await, 0);
        wait_for_tokens(&f.apns, &tokens).await;

        // It is visible at its own URL and ended with one SUCCESS event naming it.
        let id = rollout["id"].as_str().unwrap();
        let one = get_json(&f.server.client, &format!("{template_url}/rollouts/{id}")).await;
        assert_eq!(one, rollout);
        let events = get_json(
            &f.server.client,
            &format!(
                "{}/v2/events?type=CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_ROLLOUT_SUCCESS",
                f.server.url
            ),
        )
        .await;
        let data = events["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{events}");
        assert_eq!(data[0]["data"]["rolloutId"], id);
        assert_eq!(data[0]["data"]["templateId"], f.template_id.as_str());
        assert_eq!(data[0]["data"]["passesUpdated"], 400);
        f.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_racing_a_rollout_are_never_lost() {
    on_both("patches_race", |url| async move {
        let f = fixture(url.as_deref(), 10, true).await;
        let store = f.server.state.store.clone();
        issue_batch(&f.server.client, &f.server.url, &f.template_id, 300).await;
        let listed = get_json(
            &f.server.client,
            &format!(
                "{}{BASE}/passes?templateId={}&limit=1000",
                f.server.url, f.template_id
            ),
        )
        .await;
        let ids: Vec<String> = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 300);
        let before = store.current_update_tag().await.unwrap();

        let r = f
            .server
            .put_form(
                &format!("{BASE}/templates/{}", f.template_id),
                upload_with_org(&f, "Racing Coffee").form(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Every tenth pass: PATCHed away and (every other one) back, while the rollout runs.
        let mut changed = example_payload();
        changed["points"] = json!(999);
        let mut racers = tokio::task::JoinSet::new();
        for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 10 == 0) {
            let (client, base, id, changed) = (
                f.server.client.clone(),
                f.server.url.clone(),
                id.clone(),
                changed.clone(),
            );
            racers.spawn(async move {
                let patch = |payload: Value| {
                    client
                        .patch(format!("{base}{BASE}/passes/{id}"))
                        .bearer_auth(ADMIN_TOKEN)
                        .json(&json!({ "payload": payload }))
                        .send()
                };
                assert_eq!(patch(changed).await.unwrap().status(), 200);
                if i % 20 == 0 {
                    assert_eq!(patch(example_payload()).await.unwrap().status(), 200);
                }
            });
        }
        racers.join_all().await;
        let rollout = wait_for_done(&f.server.client, &f.server.url, &f.template_id).await;
        assert_eq!(rollout["passesChecked"], 300, "{rollout}");

        // Every pass has a tag after the PUT, serves the new template with its latest payload,
        // and its stored fingerprint is that content's: sending the same payload again is no
        // update (no new tag, same Last-Modified).
        assert_eq!(passes_not_after(&store, &f.template_id, before).await, 0);
        for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 10 == 0) {
            let expected_points = if i % 20 == 0 { 120 } else { 999 };
            let pkpass = f
                .server
                .get(&format!("{BASE}/passes/{id}/pkpass"))
                .send()
                .await
                .unwrap();
            assert_eq!(pkpass.status(), 200);
            let last_modified = pkpass.headers()["last-modified"].to_str().unwrap().to_string();
            let files = unzip(&pkpass.bytes().await.unwrap());
            let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
            assert_eq!(pass_json["organizationName"], "Racing Coffee", "pass {i}");
            let text = pass_json.to_string();
            assert!(text.contains(&expected_points.to_string()), "pass {i}: {text}");

            let tag_sql = "SELECT update_tag FROM passes WHERE id = $1";
            let tag = scalar(&store, tag_sql, id).await;
            let mut same = example_payload();
            same["points"] = json!(expected_points);
            let (status, _) = f.patch(id, &json!({ "payload": same })).await;
            assert_eq!(status, 200);
            assert_eq!(
                scalar(&store, tag_sql, id).await,
                tag,
                "pass {i}: its fingerprint was stale"
            );
            let again = f
                .server
                .get(&format!("{BASE}/passes/{id}/pkpass"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                again.headers()["last-modified"].to_str().unwrap(),
                last_modified,
                "pass {i}"
            );
        }
        f.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_put_supersedes_a_running_rollout_and_covers_every_pass() {
    on_both("newer_put_supersedes", |url| async move {
        // No rollout worker in the server: the first rollout is still running for certain when
        // the second PUT arrives. A worker is started by hand afterwards.
        let f = fixture(url.as_deref(), 20, false).await;
        let store = f.server.state.store.clone();
        issue_batch(&f.server.client, &f.server.url, &f.template_id, 120).await;
        let tokens = register_every_pass(&store, &f.template_id).await;
        let before = store.current_update_tag().await.unwrap();
        let path = format!("{BASE}/templates/{}", f.template_id);
        let put = |org: &'static str| {
            let form = upload_with_org(&f, org).form();
            async { f.server.put_form(&path, form).send().await.unwrap() }
        };
        let first: Value = put("First Coffee").await.json().await.unwrap();
        assert_eq!(first["rollout"]["status"], "running", "{first}");
        assert_eq!(first["rollout"]["passesTotal"], 120);
        assert_eq!(first["rollout"]["passesChecked"], 0);
        let second: Value = put("Second Coffee").await.json().await.unwrap();
        assert_eq!(second["rollout"]["status"], "running");
        assert_eq!(
            second["rollout"]["revision"].as_i64().unwrap(),
            first["rollout"]["revision"].as_i64().unwrap() + 1
        );
        let first_url = format!(
            "{}{path}/rollouts/{}",
            f.server.url,
            first["rollout"]["id"].as_str().unwrap()
        );
        let superseded = get_json(&f.server.client, &first_url).await;
        assert_eq!(superseded["status"], "superseded", "{superseded}");
        assert!(superseded["finishedAt"].is_string());

        let worker = passmint::rollout::RolloutWorker::new(
            f.server.state.domain.clone(),
            passmint::rollout::RolloutWorkerConfig {
                batch_size: 20,
                ..Default::default()
            },
        )
        .spawn();
        let done = wait_for_done(&f.server.client, &f.server.url, &f.template_id).await;
        assert_eq!(done["id"], second["rollout"]["id"]);
        assert_eq!(done["passesUpdated"], 120, "{done}");
        // The superseded one never resumes.
        assert_eq!(
            get_json(&f.server.client, &first_url).await["status"],
            "superseded"
        );
        assert_eq!(passes_not_after(&store, &f.template_id, before).await, 0);
        wait_for_tokens(&f.apns, &tokens).await;
        let any = get_json(
            &f.server.client,
            &format!("{}{BASE}/passes?limit=1", f.server.url),
        )
        .await;
        let id = any["data"][0]["id"].as_str().unwrap();
        let pkpass = f
            .server
            .get(&format!("{BASE}/passes/{id}/pkpass"))
            .send()
            .await
            .unwrap();
        let files = unzip(&pkpass.bytes().await.unwrap());
        let pass_json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
        assert_eq!(pass_json["organizationName"], "Second Coffee");
        worker.shutdown().await;
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_put_changing_the_identifiers_of_a_template_with_passes_is_a_409_naming_the_field() {
    on_both("identifier_change_409", |url| async move {
        let f = fixture(url.as_deref(), 500, true).await;
        let path = format!("{BASE}/templates/{}", f.template_id);
        let other = common::server::chain_for("pass.com.example.other", "OTHERTEAM1");
        let mut upload = Upload::valid(&other);
        upload.pass_type_identifier = Some("pass.com.example.other".into());
        upload.team_identifier = Some("OTHERTEAM1".into());

        // Without passes it is allowed.
        let r = f.server.put_form(&path, upload.form()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        // Back to the original identifiers, then with a pass: refused, nothing changes.
        let r = f
            .server
            .put_form(&path, Upload::valid(&f.chain).form())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        f.issue(Some("ID-1")).await;
        // The last PUT's rollout ends in the background; compare once it has.
        wait_for_done(&f.server.client, &f.server.url, &f.template_id).await;
        let before = get_json(&f.server.client, &format!("{}{path}", f.server.url)).await;
        let r = f.server.put_form(&path, upload.form()).send().await.unwrap();
        assert_eq!(r.status(), 409);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "ConflictError", "{body}");
        assert_eq!(
            params(&body),
            vec!["passTypeIdentifier", "teamIdentifier"],
            "{body}"
        );
        let mut only_team = Upload::valid(&f.chain);
        only_team.team_identifier = Some("OTHERTEAM1".into());
        let same_type_other_team = common::server::chain_for("pass.com.example.test", "OTHERTEAM1");
        only_team.wwdr = Upload::valid(&same_type_other_team).wwdr;
        only_team.signer_cert = Upload::valid(&same_type_other_team).signer_cert;
        only_team.signer_key = Upload::valid(&same_type_other_team).signer_key;
        only_team.signer_key_passphrase = Upload::valid(&same_type_other_team).signer_key_passphrase;
        let r = f.server.put_form(&path, only_team.form()).send().await.unwrap();
        assert_eq!(r.status(), 409);
        let body: Value = r.json().await.unwrap();
        assert_eq!(params(&body), vec!["teamIdentifier"], "{body}");
        let after = get_json(&f.server.client, &format!("{}{path}", f.server.url)).await;
        assert_eq!(after, before, "a refused PUT changes nothing");
        f.stop().await;
    })
    .await;
}

// ---- the real binary, killed with SIGKILL mid-rollout ----

/// Starts `passmint serve` on `url` (SQLite file or PostgreSQL) with `data_dir`, pushing to
/// `apns`; returns the child and its base URL.
fn spawn_serve(
    data_dir: &std::path::Path,
    url: &str,
    apns: &apns_testserver::TestServer,
    ca: &std::path::Path,
) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passmint"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PASSMINT_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("PASSMINT_DATA_DIR", data_dir)
        .env("PASSMINT_DATABASE_URL", url)
        .env("PASSMINT_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PASSMINT_APNS_URL", apns.url())
        .env("PASSMINT_APNS_CA_FILE", ca)
        .env("PASSMINT_ROLLOUT_BATCH", "10")
        .env("PASSMINT_ROLLOUT_LEASE_SECONDS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut address = None;
    for _ in 0..5 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.trim().strip_prefix("passmint listening on ") {
            address = Some(rest.to_string());
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    let address = address.expect("serve printed its address");
    let base = if address.starts_with("http") {
        address
    } else {
        format!("http://{address}")
    };
    (child, base)
}

/// Waits until `serve` at `base` answers.
async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + WAIT;
    while !client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "serve never became healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_killed_with_sigkill_resumes_after_a_restart_and_pushes_every_token() {
    let pg = TestDb::postgres("rollout_sigkill").await;
    let sqlite = tempfile::tempdir().unwrap();
    let mut targets = vec![format!(
        "sqlite://{}",
        sqlite.path().join("passmint.db").display()
    )];
    if let Some(db) = &pg {
        targets.push(db.url.clone());
    }
    for url in targets {
        let apns = apns_testserver::TestServer::builder()
            .accept_any_client_certificate()
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("apns-ca.pem");
        std::fs::write(&ca, apns.ca_pem()).unwrap();
        let data = dir.path().join("data");
        let client = reqwest::Client::new();
        let (mut child, base) = spawn_serve(&data, &url, &apns, &ca);
        wait_healthy(&client, &base).await;

        let chain = common::server::chain();
        let created = client
            .post(format!("{base}{BASE}/templates"))
            .bearer_auth(ADMIN_TOKEN)
            .multipart(Upload::valid(&chain).form())
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let template_id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        issue_batch(&client, &base, &template_id, 2000).await;
        let store = Store::connect_without_migrating(&url).await.unwrap();
        let tokens = register_every_pass(&store, &template_id).await;
        let before = store.current_update_tag().await.unwrap();

        let mut upload = Upload::valid(&chain);
        upload.template = Some(template_with_org("Killed Coffee"));
        let put = client
            .put(format!("{base}{BASE}/templates/{template_id}"))
            .bearer_auth(ADMIN_TOKEN)
            .multipart(upload.form())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        let rollout_id = put.json::<Value>().await.unwrap()["rollout"]["id"]
            .as_str()
            .unwrap()
            .to_string();

        // Once some batches are in, SIGKILL: no shutdown, no release of the lease.
        let checked_sql = "SELECT passes_checked FROM rollouts WHERE id = $1";
        let deadline = Instant::now() + WAIT;
        while scalar(&store, checked_sql, &rollout_id).await == 0 {
            assert!(Instant::now() < deadline, "the rollout never started");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let at_kill = scalar(&store, checked_sql, &rollout_id).await;
        let done_sql = "SELECT COUNT(*) FROM rollouts WHERE id = $1 AND status = 'done'";
        assert_eq!(
            scalar(&store, done_sql, &rollout_id).await,
            0,
            "the rollout finished before the kill ({at_kill} checked): make it bigger"
        );
        assert!(at_kill < 2000);

        let (mut child, base) = spawn_serve(&data, &url, &apns, &ca);
        wait_healthy(&client, &base).await;
        let rollout = wait_for_done(&client, &base, &template_id).await;
        // Each batch counted once: no batch was done twice across the crash.
        assert_eq!(rollout["passesChecked"], 2000, "{rollout}");
        assert_eq!(rollout["passesUpdated"], 2000, "{rollout}");
        assert_eq!(passes_not_after(&store, &template_id, before).await, 0);
        wait_for_tokens(&apns, &tokens).await;
        child.kill().unwrap();
        child.wait().unwrap();
        store.close().await;
    }
    if let Some(db) = pg {
        db.drop_db().await;
    }
}

#[tokio::test]
async fn a_rollout_tells_webhooks_of_each_retagged_pass_and_of_its_end() {
    on_both("rollout_webhooks", |url| async move {
        let f = fixture(url.as_deref(), 7, true).await;
        let receiver = common::receiver::Receiver::start().await;
        let created = f
            .server
            .client
            .post(f.server.at("/v2/webhooks"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({
                "url": receiver.url,
                "events": ["pass.updated", "template.rollout.completed"],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        issue_batch(&f.server.client, &f.server.url, &f.template_id, 30).await;
        let path = format!("{BASE}/templates/{}", f.template_id);
        let form = upload_with_org(&f, "Rolled Coffee").form();
        let put = f.server.put_form(&path, form).send().await.unwrap();
        assert_eq!(put.status(), 200);
        let rollout = wait_for_done(&f.server.client, &f.server.url, &f.template_id).await;
        assert_eq!(rollout["passesUpdated"], 30, "{rollout}");
        let got = receiver
            .wait_until("30 pass.updated and the rollout's end", |d| {
                d.iter().filter(|d| d.event_type() == "pass.updated").count() == 30
                    && d.iter().any(|d| d.event_type() == "template.rollout.completed")
            })
            .await;
        let passes: BTreeSet<String> = got
            .iter()
            .filter(|d| d.event_type() == "pass.updated")
            .map(|d| d.body["data"]["passId"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(passes.len(), 30, "one pass.updated per retagged pass");
        let end = got
            .iter()
            .find(|d| d.event_type() == "template.rollout.completed")
            .unwrap();
        assert_eq!(
            end.body["data"]["templateId"],
            f.template_id.as_str(),
            "{}",
            end.body
        );
        receiver.stop();
    })
    .await;
}

#[tokio::test]
async fn a_rollout_over_passes_that_no_longer_render_ends_with_a_fail_event() {
    on_both("rollout_fail_event", |url| async move {
        let f = fixture(url.as_deref(), 500, true).await;
        issue_batch(&f.server.client, &f.server.url, &f.template_id, 30).await;
        // A placeholder no pass's payload has a value for.
        let r = f
            .server
            .put_form(
                &format!("{BASE}/templates/{}", f.template_id),
                upload_with_org(&f, "{{ brand.name }}").form(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let rollout = wait_for_done(&f.server.client, &f.server.url, &f.template_id).await;
        assert_eq!(rollout["passesChecked"], 30, "{rollout}");
        assert_eq!(rollout["passesFailed"], 30, "{rollout}");
        let events = get_json(
            &f.server.client,
            &format!(
                "{}/v2/events?type=CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_ROLLOUT_FAIL",
                f.server.url
            ),
        )
        .await;
        let data = events["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{events}");
        assert_eq!(data[0]["data"]["rolloutId"], rollout["id"]);
        assert_eq!(data[0]["data"]["passesFailed"], 30);
        f.stop().await;
    })
    .await;
}
