//! The holder and bundle pages in a real headless Chromium (SPEC 9): they render a pass of
//! every style with its values, the button links the pass, the page runs no script and makes
//! no request that leaves the origin, on a phone and on a desktop. The screenshots it takes
//! are kept in `docs/screenshots/` so a reader sees what a holder sees.
mod common;

use std::path::{Path, PathBuf};

use common::browser::{Browser, Page};
use common::passes::{Fixture, verify_pass};
use common::server::{BASE, Upload, zip_dir};
use serde_json::{Value, json};

const STYLES: [&str; 5] = ["boardingPass", "coupon", "eventTicket", "generic", "storeCard"];

fn style_dir(style: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/styles/{style}.pass"))
}

fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/screenshots/{name}.png"))
}

/// Uploads the style's template and issues one pass for `name`; its id and share URL.
async fn issue(fx: &Fixture, style: &str, name: &str) -> (String, String) {
    let upload = Upload {
        template: Some(zip_dir(&style_dir(style))),
        name: Some(format!("{style} sample")),
        file_name: Some(format!("{style}.pkpass")),
        ..Upload::valid(&fx.chain)
    };
    let template = fx.server.create(&upload).await;
    let body = json!({
        "templateId": template["id"],
        "payload": { "holder": { "name": name, "ticket": format!("{}-0001", style.to_uppercase()) } },
    });
    let response = fx.post_pass(&body).await;
    assert_eq!(response.status(), 201);
    let id = response.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let pass: Value = fx
        .server
        .get(&format!("{BASE}/passes/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (id, pass["shareUrl"].as_str().unwrap().to_string())
}

async fn property(page: &Page, script: &str) -> Value {
    page.inner
        .evaluate(script)
        .await
        .unwrap()
        .into_value::<Value>()
        .unwrap_or(Value::Null)
}

async fn assert_self_contained(page: &Page, origin: &str) {
    assert_eq!(
        page.foreign_requests(origin),
        Vec::<String>::new(),
        "a request left the origin"
    );
    assert!(
        page.requested_urls()
            .iter()
            .any(|u| u.ends_with("/share/style.css")),
        "the stylesheet came from the origin: {:?}",
        page.requested_urls()
    );
    assert_eq!(
        property(page, "document.scripts.length").await,
        json!(0),
        "no script"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_page_shows_a_pass_of_every_style_and_links_it() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let fx = Fixture::start().await;
    let origin = fx.server.url.clone();
    for style in STYLES {
        let name = format!("Ada {style}");
        let (_, url) = issue(&fx, style, &name).await;
        let page = browser.open_phone(&url).await;
        assert_eq!(
            page.attribute(".pm-pass", "data-style").await.as_deref(),
            Some(style)
        );
        let texts = page.texts(".pm-pass .pm-value").await.join(" | ");
        assert!(texts.contains(&name), "{style}: {texts}");
        assert!(
            page.has(".pm-barcode svg path").await,
            "{style}: the barcode is drawn"
        );
        assert!(page.has(".pm-logo").await, "{style}: the logo");
        // The button links the pass: its resolved href is the share link's .pkpass, and that
        // answers with the signed pass.
        let href = property(&page, "document.querySelector('a.add-to-wallet').href").await;
        assert_eq!(href, json!(format!("{url}/pass.pkpass")), "{style}");
        let pkpass = fx.server.client.get(href.as_str().unwrap()).send().await.unwrap();
        assert_eq!(pkpass.headers()["content-type"], "application/vnd.apple.pkpass");
        verify_pass(&pkpass.bytes().await.unwrap(), &fx.chain.root_pem);
        // On a phone the QR code (for desktop visitors) is out of the way.
        assert_eq!(
            property(
                &page,
                "getComputedStyle(document.querySelector('.desktop-qr')).display"
            )
            .await,
            json!("none")
        );
        // Fits the phone's width: nothing scrolls sideways.
        assert_eq!(
            property(&page, "document.documentElement.scrollWidth <= window.innerWidth").await,
            json!(true),
            "{style}"
        );
        assert_self_contained(&page, &origin).await;
        page.screenshot(screenshot_path(&format!("holder-{style}"))).await;
    }
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_desktop_the_holder_page_offers_a_qr_code_of_itself() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let fx = Fixture::start().await;
    let (_, url) = issue(&fx, "eventTicket", "Grace Hopper").await;
    let page = browser.open(&url).await;
    assert_eq!(page.text(".page-url").await, url);
    assert!(page.has(".page-qr svg[data-format=qr] path").await);
    assert_ne!(
        property(
            &page,
            "getComputedStyle(document.querySelector('.desktop-qr')).display"
        )
        .await,
        json!("none")
    );
    // The back of the pass opens without a script (a <details>).
    page.click(".pass-back > summary").await;
    assert_eq!(page.text(".pm-back-value").await, "No re-entry.");
    assert_self_contained(&page, &fx.server.url).await;
    page.screenshot(screenshot_path("holder-desktop")).await;
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_page_previews_each_pass_and_links_the_pkpasses() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let fx = Fixture::start().await;
    let mut ids = Vec::new();
    for name in ["Ada", "Charles", "Augusta"] {
        ids.push(issue(&fx, "eventTicket", name).await.0);
    }
    let response = fx
        .server
        .client
        .post(fx.server.at(&format!("{BASE}/bundles")))
        .bearer_auth(common::server::ADMIN_TOKEN)
        .json(&json!({ "passIds": ids }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let bundle: Value = response.json().await.unwrap();
    let url = bundle["shareUrl"].as_str().unwrap();
    let page = browser.open_phone(url).await;
    let values = page.texts(".pm-pass .pm-value").await.join(" | ");
    for name in ["Ada", "Charles", "Augusta"] {
        assert!(values.contains(name), "{values}");
    }
    assert_eq!(page.texts(".pm-pass").await.len(), 3);
    let href = property(&page, "document.querySelector('a.add-all').href").await;
    assert_eq!(href, json!(format!("{url}/passes.pkpasses")));
    assert_self_contained(&page, &fx.server.url).await;
    page.screenshot(screenshot_path("bundle")).await;
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_link_shows_the_404_page_in_the_browser() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let fx = Fixture::start().await;
    let page = browser
        .open(&fx.server.at(&format!("/p/{}", "A".repeat(43))))
        .await;
    assert_eq!(page.text("h1").await, "This link leads to no pass");
    assert_eq!(page.foreign_requests(&fx.server.url), Vec::<String>::new());
    fx.stop().await;
}
