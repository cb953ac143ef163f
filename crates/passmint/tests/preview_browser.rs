//! The pass preview component in a real headless Chromium: it renders under a strict CSP
//! (`default-src 'none'`, styles by nonce and from the origin, images `data:`), and shows the
//! pass's values and barcode with nothing fetched from elsewhere.
mod common;

use std::collections::BTreeMap;

use axum::Router;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use common::browser::Browser;
use passmint::preview::{PassPreview, STYLESHEET};

const NONCE: &str = "dGVzdC1ub25jZQ";

fn example_preview() -> PassPreview {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/storecard.pass");
    let text = std::fs::read_to_string(format!("{dir}/pass.json"))
        .unwrap()
        .replace("{{ member.id }}", "M-0042")
        .replace("{{ points }}", "120")
        .replace("\"{{ balance }}\"", "12.5")
        .replace("{{ member.name }}", "Ada Lovelace")
        .replace("{{ member.tier }}", "Gold");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut files = BTreeMap::new();
    for name in ["logo.png", "logo@2x.png", "de.lproj/pass.strings"] {
        files.insert(name.to_string(), std::fs::read(format!("{dir}/{name}")).unwrap());
    }
    PassPreview::from_rendered(&json, &files, Some("de"), false)
}

async fn page() -> impl IntoResponse {
    let preview = example_preview();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"stylesheet\" href=\"/preview.css\">\
         <style nonce=\"{NONCE}\">{}</style></head><body>{}{}</body></html>",
        preview.css_rules(),
        preview.front_html(),
        preview.back_html()
    );
    (
        [(
            "content-security-policy",
            format!("default-src 'none'; style-src 'self' 'nonce-{NONCE}'; img-src 'self' data:"),
        )],
        Html(html),
    )
}

async fn stylesheet() -> impl IntoResponse {
    ([("content-type", "text/css")], STYLESHEET)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_renders_under_a_strict_csp_with_nothing_from_elsewhere() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/preview.css", get(stylesheet));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let page = browser.open(&format!("{origin}/")).await;
    assert_eq!(page.text(".pm-primary .pm-label").await, "GUTHABEN");
    assert_eq!(page.text(".pm-primary .pm-value").await, "$12.50");
    assert_eq!(page.text(".pm-header .pm-value").await, "120");
    assert_eq!(page.text(".pm-back-label").await, "Bedingungen");
    assert!(page.has(".pm-barcode svg[data-format=qr] path").await);
    let logo = page.attribute("img.pm-logo", "src").await.unwrap();
    assert!(logo.starts_with("data:image/png;base64,"));
    // The stylesheet and the nonce'd colours applied: the card has the pass's background.
    let background = page
        .inner
        .evaluate("getComputedStyle(document.querySelector('.pm-pass')).backgroundColor")
        .await
        .unwrap()
        .into_value::<String>()
        .unwrap();
    assert_eq!(background, "rgb(60, 65, 76)");
    assert_eq!(page.foreign_requests(&origin), Vec::<String>::new());
    assert!(page.requested_urls().iter().any(|u| u.ends_with("/preview.css")));
}
