//! Black-box tests of the template API (SPEC 2.1) over HTTP against the real server.
mod common;

use common::server::{
    ADMIN_TOKEN, BASE, TestServer, Upload, ca, chain, params, settings, template_zip, zip_entries,
};
use pkpass::dev_certs::SignerOptions;
use serde_json::Value;

fn templates() -> String {
    format!("{BASE}/templates")
}

async fn start() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (TestServer::start(settings(dir.path())).await, dir)
}

async fn post(server: &TestServer, upload: &Upload) -> (u16, Value) {
    let r = server
        .post_form(&templates(), upload.form())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert!(body["details"].is_array(), "{body}");
}

#[tokio::test]
async fn creates_a_template_and_shows_it_without_key_material() {
    let (server, _dir) = start().await;
    let chain = chain();
    let body = server.create(&Upload::valid(&chain)).await;
    let id = body["id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(body["passType"], "apple");
    assert_eq!(body["name"], "Example Coffee card");
    assert_eq!(body["metadata"]["fileName"], "coffee-card.pkpass");
    assert_eq!(body["metadata"]["teamIdentifier"], "TEAM123456");
    assert_eq!(body["metadata"]["passTypeIdentifier"], "pass.com.example.test");
    assert!(body["metadata"]["certificateExpiresAt"].is_string());
    assert!(body["createdAt"].is_string() && body["updatedAt"].is_string());
    assert_eq!(body["warnings"], serde_json::json!([]), "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("CERTIFICATE"),
        "{text}"
    );

    let r = server.get(&format!("{}/{id}", templates())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["id"], body["id"]);
    assert_eq!(got["metadata"], body["metadata"]);
    assert!(got.get("warnings").is_none(), "{got}");
    server.stop().await;
}

#[tokio::test]
async fn accepts_the_signer_key_in_every_pem_format() {
    let (server, _dir) = start().await;
    let chain = chain();
    let formats = [
        ("encrypted PKCS#8", &chain.signer_key_encrypted_pkcs8_pem),
        ("legacy DES3", &chain.signer_key_legacy_des3_pem),
        ("legacy AES", &chain.signer_key_legacy_aes_pem),
        ("plain PKCS#8", &chain.signer_key_pkcs8_pem),
        ("plain PKCS#1", &chain.signer_key_pkcs1_pem),
    ];
    for (label, key) in formats {
        let mut upload = Upload::valid(&chain);
        upload.signer_key = Some(String::from_utf8(key.clone()).unwrap());
        if label.starts_with("plain") {
            // Required by the form, ignored for an unencrypted key.
            upload.signer_key_passphrase = Some(String::new());
        }
        let (status, body) = post(&server, &upload).await;
        assert_eq!(status, 201, "{label}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn rejects_a_wrong_passphrase() {
    let (server, _dir) = start().await;
    let chain = chain();
    for key in [
        &chain.signer_key_encrypted_pkcs8_pem,
        &chain.signer_key_legacy_des3_pem,
    ] {
        let mut upload = Upload::valid(&chain);
        upload.signer_key = Some(String::from_utf8(key.clone()).unwrap());
        upload.signer_key_passphrase = Some("not the passphrase".into());
        let (status, body) = post(&server, &upload).await;
        assert_error(status, &body, 400, "BadRequestError");
        assert_eq!(params(&body), vec!["signerKeyPassphrase"], "{body}");
        assert_eq!(body["details"][0]["location"], "body");
    }
    server.stop().await;
}

#[tokio::test]
async fn rejects_a_key_that_is_not_the_certificates() {
    let (server, _dir) = start().await;
    let chain = chain();
    let other = common::server::chain();
    let mut upload = Upload::valid(&chain);
    upload.signer_key = Some(String::from_utf8(other.signer_key_pkcs8_pem.clone()).unwrap());
    let (status, body) = post(&server, &upload).await;
    assert_error(status, &body, 400, "BadRequestError");
    assert!(params(&body).contains(&"signerKey".to_string()), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn rejects_a_certificate_whose_uid_or_ou_differs_from_the_form() {
    let (server, _dir) = start().await;
    let chain = chain();
    let mut upload = Upload::valid(&chain);
    upload.pass_type_identifier = Some("pass.com.example.other".into());
    upload.team_identifier = Some("OTHERTEAM1".into());
    let (status, body) = post(&server, &upload).await;
    assert_error(status, &body, 400, "BadRequestError");
    let p = params(&body);
    assert!(p.contains(&"passTypeIdentifier".to_string()), "{body}");
    assert!(p.contains(&"teamIdentifier".to_string()), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn rejects_a_signer_certificate_from_another_wwdr() {
    let (server, _dir) = start().await;
    let chain = chain();
    let foreign = ca().issue(&SignerOptions::default()).unwrap();
    let mut upload = Upload::valid(&chain);
    upload.wwdr = Some(String::from_utf8(foreign.wwdr_pem).unwrap());
    let (status, body) = post(&server, &upload).await;
    assert_error(status, &body, 400, "BadRequestError");
    assert!(
        params(&body).iter().any(|p| p == "wwdr" || p == "signerCert"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn rejects_an_expired_signer_certificate() {
    let (server, _dir) = start().await;
    let expired = pkpass::dev_certs::generate(&SignerOptions {
        not_before_offset_secs: -10 * 86_400,
        not_after_offset_secs: -86_400,
        ..SignerOptions::default()
    })
    .unwrap();
    let (status, body) = post(&server, &Upload::valid(&expired)).await;
    assert_error(status, &body, 400, "BadRequestError");
    assert_eq!(params(&body), vec!["signerCert"], "{body}");
    server.stop().await;
}

#[tokio::test]
async fn rejects_bad_file_names_and_names_out_of_range() {
    let (server, _dir) = start().await;
    let chain = chain();
    for bad in [
        "card.zip",
        "my card.pkpass",
        "../card.pkpass",
        ".pkpass",
        &format!("{}.pkpass", "a".repeat(95)),
    ] {
        let mut upload = Upload::valid(&chain);
        upload.file_name = Some(bad.to_string());
        let (status, body) = post(&server, &upload).await;
        assert_error(status, &body, 400, "BadRequestError");
        assert_eq!(params(&body), vec!["fileName"], "{bad}: {body}");
        assert_eq!(body["details"][0]["value"], bad);
    }
    for bad in [String::new(), "n".repeat(1025)] {
        let mut upload = Upload::valid(&chain);
        upload.name = Some(bad);
        let (status, body) = post(&server, &upload).await;
        assert_error(status, &body, 400, "BadRequestError");
        assert_eq!(params(&body), vec!["name"], "{body}");
    }
    let mut upload = Upload::valid(&chain);
    upload.name = Some("é".repeat(1024));
    let (status, body) = post(&server, &upload).await;
    assert_eq!(status, 201, "1024 characters are fine: {body}");
    server.stop().await;
}

#[tokio::test]
async fn names_each_missing_field() {
    let (server, _dir) = start().await;
    let chain = chain();
    type Remove = fn(&mut Upload);
    let fields: [(&str, Remove); 9] = [
        ("template", |u| u.template = None),
        ("name", |u| u.name = None),
        ("fileName", |u| u.file_name = None),
        ("teamIdentifier", |u| u.team_identifier = None),
        ("passTypeIdentifier", |u| u.pass_type_identifier = None),
        ("wwdr", |u| u.wwdr = None),
        ("signerCert", |u| u.signer_cert = None),
        ("signerKey", |u| u.signer_key = None),
        ("signerKeyPassphrase", |u| u.signer_key_passphrase = None),
    ];
    for (param, remove) in fields {
        let mut upload = Upload::valid(&chain);
        remove(&mut upload);
        let (status, body) = post(&server, &upload).await;
        assert_error(status, &body, 400, "BadRequestError");
        let p = params(&body);
        assert!(p.contains(&param.to_string()), "{param}: {body}");
        let detail = &body["details"][p.iter().position(|x| x == param).unwrap()];
        assert_eq!(detail["location"], "body");
        assert!(detail["msg"].as_str().unwrap().contains("required"), "{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn reports_every_problem_at_once() {
    let (server, _dir) = start().await;
    let chain = chain();
    let mut upload = Upload::valid(&chain);
    upload.name = None;
    upload.template = Some(b"this is not a zip".to_vec());
    upload.signer_key_passphrase = Some("wrong".into());
    upload.file_name = Some("bad name".into());
    upload.team_identifier = Some("OTHERTEAM1".into());
    let (status, body) = post(&server, &upload).await;
    assert_error(status, &body, 400, "BadRequestError");
    let p = params(&body);
    // The team mismatch is found from the certificate alone, although the key can't be opened.
    for expected in [
        "name",
        "fileName",
        "template",
        "signerKeyPassphrase",
        "teamIdentifier",
    ] {
        assert!(p.contains(&expected.to_string()), "{expected}: {body}");
    }
    let empty = server
        .post_form(&templates(), reqwest::multipart::Form::new().text("x", "y"))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(params(&body).len(), 9, "{body}");
    let json = server
        .client
        .post(server.at(&templates()))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    let status = json.status().as_u16();
    let body: Value = json.json().await.unwrap();
    assert_error(status, &body, 400, "BadRequestError");
    server.stop().await;
}

#[tokio::test]
async fn refuses_hostile_and_broken_zips_naming_the_template_field() {
    let (server, _dir) = start().await;
    let chain = chain();
    let good = std::fs::read_dir(common::server::examples_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            p.is_file().then(|| {
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read(&p).unwrap(),
                )
            })
        })
        .collect::<Vec<_>>();
    let with = |extra: (&str, &[u8])| {
        let mut entries: Vec<_> = good.iter().filter(|(n, _)| n != extra.0).cloned().collect();
        entries.push((extra.0.to_string(), extra.1.to_vec()));
        zip_entries(&entries)
    };
    let bomb = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pkpass/tests/data/hostile/bomb.zip"),
    )
    .unwrap();
    let no_pass_json = zip_entries(
        &good
            .iter()
            .filter(|(n, _)| n != "pass.json")
            .cloned()
            .collect::<Vec<_>>(),
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not a zip", b"PK\x03\x04 garbage".to_vec()),
        ("parent path", with(("../evil.txt", b"x"))),
        ("absolute path", with(("/etc/evil", b"x"))),
        ("zip bomb", bomb),
        ("no pass.json", no_pass_json),
        ("bad pass.json", with(("pass.json", b"{ not json"))),
    ];
    for (label, zip) in cases {
        let mut upload = Upload::valid(&chain);
        upload.template = Some(zip);
        let (status, body) = post(&server, &upload).await;
        assert_error(status, &body, 400, "BadRequestError");
        let p = params(&body);
        assert!(
            !p.is_empty() && p.iter().all(|p| p == "template"),
            "{label}: {body}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn answers_413_for_a_template_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_template_bytes = 64 * 1024;
    let server = TestServer::start(s).await;
    let chain = chain();
    let mut upload = Upload::valid(&chain);
    let mut big = template_zip();
    big.resize(100 * 1024, 0);
    upload.template = Some(big);
    let (status, body) = post(&server, &upload).await;
    assert_error(status, &body, 413, "PayloadTooLargeError");
    // The answer names the limit and the setting that raises it.
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("65536 bytes"), "{body}");
    assert!(message.contains("PASSMINT_MAX_TEMPLATE_BYTES"), "{body}");
    // Within the limit it is judged on its content, not its size.
    let (status, _) = post(&server, &Upload::valid(&chain)).await;
    assert_eq!(status, 201);
    server.stop().await;
}

#[tokio::test]
async fn checks_the_id_is_a_uuid_before_looking_it_up() {
    let (server, _dir) = start().await;
    let chain = chain();
    let unknown = uuid::Uuid::new_v4();
    for id in ["not-a-uuid", "123"] {
        let path = format!("{}/{id}", templates());
        let r = server.get(&path).send().await.unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_error(400, &body, 400, "BadRequestError");
        assert_eq!(params(&body), vec!["id"]);
        let r = server.delete(&path).send().await.unwrap();
        assert_eq!(r.status(), 400);
        let r = server
            .put_form(&path, Upload::valid(&chain).form())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    let path = format!("{}/{unknown}", templates());
    let r = server.get(&path).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_error(404, &body, 404, "NotFoundError");
    assert_eq!(server.delete(&path).send().await.unwrap().status(), 404);
    let r = server
        .put_form(&path, Upload::valid(&chain).form())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn replaces_a_template_with_a_full_upload_and_revalidates_it() {
    let (server, _dir) = start().await;
    let chain = chain();
    let created = server.create(&Upload::valid(&chain)).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("{}/{id}", templates());

    let mut upload = Upload::valid(&chain);
    upload.name = Some("Renamed".into());
    upload.file_name = Some("renamed.pkpass".into());
    upload.signer_key = Some(String::from_utf8(chain.signer_key_legacy_des3_pem.clone()).unwrap());
    let r = server.put_form(&path, upload.form()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["name"], "Renamed");
    assert_eq!(body["metadata"]["fileName"], "renamed.pkpass");
    assert_eq!(body["createdAt"], created["createdAt"]);
    assert!(body["warnings"].is_array());

    let mut bad = Upload::valid(&chain);
    bad.signer_key_passphrase = Some("wrong".into());
    bad.template = None;
    let r = server.put_form(&path, bad.form()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(params(&body), vec!["template", "signerKeyPassphrase"], "{body}");

    let got: Value = server.get(&path).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["name"], "Renamed", "a refused PUT changes nothing");
    server.stop().await;
}

#[tokio::test]
async fn deletes_a_template() {
    let (server, _dir) = start().await;
    let chain = chain();
    let created = server.create(&Upload::valid(&chain)).await;
    let path = format!("{}/{}", templates(), created["id"].as_str().unwrap());
    let r = server.delete(&path).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(server.get(&path).send().await.unwrap().status(), 404);
    assert_eq!(server.delete(&path).send().await.unwrap().status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn pages_through_250_templates_created_concurrently_each_exactly_once() {
    let (server, _dir) = start().await;
    let chain = chain();
    let upload = Upload::valid(&chain);
    let mut created = std::collections::HashSet::new();
    let mut tasks = tokio::task::JoinSet::new();
    let server = std::sync::Arc::new(server);
    for i in 0..250 {
        let server = server.clone();
        let mut upload = upload.clone();
        upload.name = Some(format!("template {i}"));
        tasks.spawn(async move { server.create(&upload).await["id"].as_str().unwrap().to_string() });
        if tasks.len() >= 8 {
            created.insert(tasks.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(id) = tasks.join_next().await {
        created.insert(id.unwrap());
    }
    assert_eq!(created.len(), 250);

    let mut orders = Vec::new();
    for limit in [7usize, 100, 1000] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("{}?limit={limit}", templates());
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = server.get(&path).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let page: Value = r.json().await.unwrap();
            let data = page["data"].as_array().unwrap();
            assert!(data.len() <= limit);
            for t in data {
                seen.push(t["id"].as_str().unwrap().to_string());
            }
            match page.get("nextCursor") {
                Some(c) => {
                    assert_eq!(data.len(), limit, "a cursor only when more follow");
                    cursor = Some(c.as_str().unwrap().to_string());
                }
                None => break,
            }
        }
        let unique: std::collections::HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), 250, "limit {limit}");
        assert_eq!(unique, created, "limit {limit}");
        orders.push(seen);
    }
    // One creation order, whatever the page size.
    assert!(orders.windows(2).all(|w| w[0] == w[1]));
    // Exactly 250 with limit 250: the last page has no cursor.
    let page: Value = server
        .get(&format!("{}?limit=250", templates()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(page.get("nextCursor").is_none(), "{}", page["nextCursor"]);
    let default: Value = server
        .get(&templates())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(default["data"].as_array().unwrap().len(), 100);
    std::sync::Arc::try_unwrap(server).ok().unwrap().stop().await;
}

#[tokio::test]
async fn rejects_bad_limits_and_forged_cursors() {
    let (server, _dir) = start().await;
    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-5",
        "limit=1.5",
        "cursor=forged",
        "cursor=AAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let r = server
            .get(&format!("{}?{query}", templates()))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_error(status, &body, 400, "BadRequestError");
        assert_eq!(body["details"][0]["location"], "query", "{query}: {body}");
    }
    // A cursor from the events list is not a template cursor.
    let chain = chain();
    server.create(&Upload::valid(&chain)).await;
    let events: Value = server
        .get("/v2/events?limit=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = events["nextCursor"].as_str().unwrap();
    let r = server
        .get(&format!("{}?cursor={cursor}", templates()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn answers_401_on_every_route_without_a_valid_token() {
    let (server, _dir) = start().await;
    let chain = chain();
    let id = uuid::Uuid::new_v4();
    let item = format!("{}/{id}", templates());
    let client = &server.client;
    for auth in [
        None,
        Some("Bearer wrong-token"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer "),
    ] {
        let with = |rb: reqwest::RequestBuilder| match auth {
            Some(a) => rb.header("authorization", a),
            None => rb,
        };
        let requests = vec![
            with(client.post(server.at(&templates()))).multipart(Upload::valid(&chain).form()),
            with(client.get(server.at(&templates()))),
            with(client.get(server.at(&item))),
            with(client.put(server.at(&item))).multipart(Upload::valid(&chain).form()),
            with(client.delete(server.at(&item))),
            with(client.get(server.at("/v2/events"))),
        ];
        for request in requests {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            assert_error(status, &body, 401, "UnauthorizedError");
        }
    }
    // A token made by `passmint token create` works, and the admin token is not needed for it.
    let (token, hash) = passmint::tokens::generate();
    server
        .state
        .store
        .insert_api_token("t", &hash, None)
        .await
        .unwrap();
    let r = client
        .get(server.at(&templates()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(server.at(&templates()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn answers_413_for_a_body_over_the_whole_form_limit() {
    let (server, _dir) = start().await;
    let chain = chain();
    let mut upload = Upload::valid(&chain);
    upload.template = Some(vec![7u8; 3 * 1024 * 1024]);
    let (status, body) = post(&server, &upload).await;
    assert_error(status, &body, 413, "PayloadTooLargeError");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("1048576 bytes"), "{body}");
    assert!(message.contains("PASSMINT_MAX_TEMPLATE_BYTES"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn uses_the_form_identifiers_over_pass_json_and_warns_about_it() {
    let (server, _dir) = start().await;
    let options = SignerOptions {
        pass_type_identifier: "pass.com.example.other".into(),
        team_identifier: "OTHERTEAM9".into(),
        ..SignerOptions::default()
    };
    let chain = pkpass::dev_certs::generate(&options).unwrap();
    let mut upload = Upload::valid(&chain);
    upload.pass_type_identifier = Some(options.pass_type_identifier.clone());
    upload.team_identifier = Some(options.team_identifier.clone());
    let body = server.create(&upload).await;
    assert_eq!(body["metadata"]["passTypeIdentifier"], "pass.com.example.other");
    assert_eq!(body["metadata"]["teamIdentifier"], "OTHERTEAM9");
    let warnings = body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{body}");
    assert!(warnings.iter().all(|w| w["param"] == "template"));
    assert!(
        warnings[0]["msg"]
            .as_str()
            .unwrap()
            .contains("passTypeIdentifier")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_refused_template_answers_with_its_warnings_too_like_the_files_left_out() {
    let (server, _dir) = start().await;
    let chain = chain();
    let mut upload = Upload::valid(&chain);
    // No icon (an error), and a picture in a folder Wallet doesn't read (left out: a warning).
    let pass = std::fs::read(common::server::examples_dir().join("pass.json")).unwrap();
    upload.template = Some(zip_entries(&[
        ("pass.json".to_owned(), pass),
        ("images/extra/logo.png".to_owned(), b"not read".to_vec()),
    ]));
    let (status, body) = post(&server, &upload).await;
    assert_error(status, &body, 400, "BadRequestError");
    let msgs: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["msg"].as_str().unwrap())
        .collect();
    assert!(msgs.iter().any(|m| m.starts_with("icon.png")), "{body}");
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("warning: images/extra/logo.png") && m.contains("left out")),
        "{body}"
    );
    server.stop().await;
}
