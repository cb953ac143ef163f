//! The dashboard in a real headless Chromium, as someone who never read the API would use it:
//! a deep link signed out goes to the sign-in page and back; upload a template (file inputs)
//! and see its preview; issue a pass, see it, void it; read its timeline (a device installing
//! it shows up); sign out, follow a pass's deep link, sign in, land on it. No page requests
//! anything from another origin. Each page's screenshot goes to `docs/screenshots/`.
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::dom::SetFileInputFilesParams;
use common::browser::{Browser, Page};
use common::server::{ADMIN_TOKEN, TestServer, Upload, chain, settings};
use serde_json::json;

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// Chooses `path` in the file input matching `selector` (as picking a file would).
async fn choose_file(page: &Page, selector: &str, path: &Path) {
    let input = page.inner.find_element(selector).await.unwrap();
    page.inner
        .execute(
            SetFileInputFilesParams::builder()
                .files(vec![path.display().to_string()])
                .backend_node_id(input.backend_node_id)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
}

/// Replaces the value of the field matching `selector` (a textarea's prefilled text).
async fn set_value(page: &Page, selector: &str, value: &str) {
    let script = format!(
        "document.querySelector({}).value = {}",
        serde_json::to_string(selector).unwrap(),
        serde_json::to_string(value).unwrap()
    );
    page.inner.evaluate(script).await.unwrap();
}

/// Clicks `selector` (a form's submit button or a link) and waits until the next document has
/// loaded: the old document is marked first, so its own "complete" state doesn't count.
async fn submit(page: &Page, selector: &str) {
    page.inner.evaluate("window.__pmOld = true").await.unwrap();
    page.inner
        .find_element(selector)
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let loaded = page
            .inner
            .evaluate("window.__pmOld !== true && document.readyState === 'complete'")
            .await
            .ok()
            .and_then(|r| r.into_value::<bool>().ok())
            .unwrap_or(false);
        if loaded {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "clicking {selector} loaded no page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_same_origin(page: &Page, origin: &str, what: &str) {
    let foreign = page.foreign_requests(origin);
    assert!(foreign.is_empty(), "{what} requested other origins: {foreign:?}");
}

/// Reloads `page` until its text contains `needle` (a device's request is noted a moment later).
async fn reload_until(page: &Page, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if page.html().await.contains(needle) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page never showed {needle:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        page.inner.reload().await.unwrap();
        let _ = page.inner.wait_for_navigation().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_new_uploads_a_template_issues_voids_and_follows_a_pass_from_the_dashboard() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(settings(dir.path())).await;
    let origin = server.url.clone();
    let shots = screenshots();

    // Signed out, a deep link goes to the sign-in page, and back after signing in.
    let page = browser
        .open(&format!("{origin}/dashboard/passes?serial=NO-SUCH"))
        .await;
    assert!(
        page.url().await.contains("/dashboard/login?next="),
        "{}",
        page.url().await
    );
    assert!(page.has("input[name=token]").await);
    page.screenshot(shots.join("dashboard-login.png")).await;
    assert_same_origin(&page, &origin, "the sign-in page");
    page.fill("#token", "not-the-token").await;
    submit(&page, "#sign-in").await;
    assert!(page.html().await.contains("not an admin token"));
    page.fill("#token", ADMIN_TOKEN).await;
    submit(&page, "#sign-in").await;
    assert_eq!(
        page.url().await,
        format!("{origin}/dashboard/passes?serial=NO-SUCH")
    );
    assert!(page.text("#no-match").await.contains("NO-SUCH"));

    // Upload a template through the form's file inputs.
    let chain = chain();
    let upload = Upload::valid(&chain);
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = files.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let zip = write("coffee.zip", upload.template.as_ref().unwrap());
    let wwdr = write("wwdr.pem", &chain.wwdr_pem);
    let cert = write("pass.pem", &chain.signer_cert_pem);
    let key = write("key.pem", &chain.signer_key_encrypted_pkcs8_pem);
    page.inner
        .goto(format!("{origin}/dashboard/templates"))
        .await
        .unwrap();
    let _ = page.inner.wait_for_navigation().await;
    assert!(page.html().await.contains("No templates yet"));
    choose_file(&page, "form.upload input[name=template]", &zip).await;
    page.fill("form.upload input[name=name]", "Coffee card").await;
    page.fill("form.upload input[name=fileName]", "coffee-card.pkpass")
        .await;
    page.fill(
        "form.upload input[name=teamIdentifier]",
        upload.team_identifier.as_deref().unwrap(),
    )
    .await;
    page.fill(
        "form.upload input[name=passTypeIdentifier]",
        upload.pass_type_identifier.as_deref().unwrap(),
    )
    .await;
    choose_file(&page, "form.upload input[name=wwdr]", &wwdr).await;
    choose_file(&page, "form.upload input[name=signerCert]", &cert).await;
    choose_file(&page, "form.upload input[name=signerKey]", &key).await;
    page.fill("form.upload input[name=signerKeyPassphrase]", &chain.passphrase)
        .await;
    submit(&page, "form.upload button[type=submit]").await;
    let template_url = page.url().await;
    assert!(
        template_url.starts_with(&format!("{origin}/dashboard/templates/")),
        "{template_url}"
    );
    assert_eq!(page.text("#template-name").await, "Coffee card");
    // Its preview, front and back, is the holder page's component.
    assert!(page.has("#preview-front .pm-pass").await);
    assert!(page.has("#preview-back .pm-back").await);
    assert!(page.has("#stats-chart svg").await);
    assert!(page.text("#certificate-expiry").await.contains("in "));
    // The issue form offers the placeholders to fill in.
    let prefilled: String = page
        .inner
        .evaluate("document.querySelector('#payload').value")
        .await
        .unwrap()
        .into_value()
        .unwrap();
    assert!(
        prefilled.contains("\"member\"") && prefilled.contains("\"points\""),
        "{prefilled}"
    );
    page.screenshot(shots.join("dashboard-template.png")).await;
    assert_same_origin(&page, &origin, "the template page");

    // Issue a pass from it.
    let payload = json!({
        "member": { "id": "M-0042", "name": "Ada Lovelace", "tier": "Gold" },
        "points": 120,
        "balance": 21.75
    });
    set_value(&page, "#payload", &payload.to_string()).await;
    page.fill("#serial", "ADA-0042").await;
    submit(&page, "#issue-pass").await;
    let pass_url = page.url().await;
    assert!(
        pass_url.starts_with(&format!("{origin}/dashboard/passes/")),
        "{pass_url}"
    );
    assert_eq!(page.text("#pass-serial").await, "ADA-0042");
    assert!(page.text("#preview-front").await.contains("120"));
    assert!(page.has("#timeline tr.tl-created").await);
    assert!(page.has("#no-devices").await);
    // Its share link, with the QR code, to send to the holder.
    let share = page.attribute("#share-link", "href").await.unwrap();
    assert!(share.starts_with(&format!("{origin}/p/")), "{share}");
    assert!(page.has("#share-qr svg").await);

    // A phone installs it: the timeline says so.
    let pass_id = pass_url.rsplit('/').next().unwrap().to_string();
    let pass: serde_json::Value = server
        .get(&format!("{}/passes/{pass_id}", common::server::BASE))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored = server.state.store.get_pass(&pass_id).await.unwrap().unwrap();
    let registered = server
        .client
        .post(server.at(&format!(
            "/passkit/v1/devices/phone-1/registrations/{}/ADA-0042",
            pass["passTypeIdentifier"].as_str().unwrap()
        )))
        .header("authorization", format!("ApplePass {}", stored.auth_token))
        .json(&json!({ "pushToken": "ab".repeat(32) }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    reload_until(&page, "Installed (first device)").await;
    assert!(page.text("#registrations").await.contains("phone-1"));

    // Void it.
    submit(&page, "#void").await;
    assert!(page.has("#voided-badge").await);
    assert!(page.has("#timeline tr.tl-voided").await);
    assert!(page.has("#unvoid").await);
    page.screenshot(shots.join("dashboard-pass.png")).await;
    assert_same_origin(&page, &origin, "the pass page");

    // The other pages, each from its deep link.
    for (path, name) in [
        ("/dashboard/templates", "templates"),
        ("/dashboard/passes", "passes"),
        ("/dashboard/events", "events"),
        ("/dashboard/webhooks", "webhooks"),
        ("/dashboard/push", "push"),
    ] {
        page.inner.goto(format!("{origin}{path}")).await.unwrap();
        let _ = page.inner.wait_for_navigation().await;
        assert_eq!(page.url().await, format!("{origin}{path}"));
        page.screenshot(shots.join(format!("dashboard-{name}.png"))).await;
        assert_same_origin(&page, &origin, path);
    }
    assert!(page.has("#push-depth").await);

    // Sign out; the pass's deep link asks for the token again, then shows the pass.
    submit(&page, ".signout button").await;
    assert!(page.url().await.contains("/dashboard/login"));
    page.inner.goto(pass_url.clone()).await.unwrap();
    let _ = page.inner.wait_for_navigation().await;
    assert!(page.url().await.contains("/dashboard/login?next="));
    page.fill("#token", ADMIN_TOKEN).await;
    submit(&page, "#sign-in").await;
    assert_eq!(page.url().await, pass_url);
    assert_eq!(page.text("#pass-serial").await, "ADA-0042");
    assert_same_origin(&page, &origin, "the sign-in round trip");
    drop(page);
    server.stop().await;
}

/// Polls until an element matches `selector` (a script-built page renders after load).
async fn wait_for(page: &Page, selector: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !page.has(selector).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing matched {selector:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_is_interactive_and_entirely_served_by_passmint() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(settings(dir.path())).await;
    let page = browser.open(&format!("{}/docs", server.url)).await;
    // Swagger UI ran (under the page's CSP) and listed the operations of /openapi.json.
    wait_for(&page, ".swagger-ui .opblock").await;
    let html = page.html().await;
    for operation in [
        "/passes/{passId}/timeline",
        "/templates/{id}/stats",
        "/v2/webhooks",
    ] {
        assert!(html.contains(operation), "{operation} is not in the reference");
    }
    assert!(page.has(".swagger-ui .authorize").await, "no way to give a token");
    assert!(page.requested_urls().iter().any(|u| u.ends_with("/openapi.json")));
    assert_same_origin(&page, &server.url, "/docs");
    page.screenshot(screenshots().join("docs-api-reference.png"))
        .await;
    drop(page);
    server.stop().await;
}
