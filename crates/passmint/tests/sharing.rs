//! SPEC 9 through HTTP: share links, the holder page, downloads, bundles, and hostile input,
//! on SQLite and (when `PASSMINT_TEST_POSTGRES_URL` is set) PostgreSQL.
mod common;

use common::db::TestDb;
use common::passes::{Fixture, unzip, verify_pass};
use common::server::BASE;
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

impl_helpers!();

/// Helpers on the fixture (a macro so each test file's `common` stays its own).
macro_rules! impl_helpers {
    () => {
        async fn pass_json(fx: &Fixture, id: &str) -> Value {
            let (status, body) = json_of(
                fx.server
                    .get(&format!("{BASE}/passes/{id}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body
        }

        async fn share_url(fx: &Fixture, id: &str) -> String {
            pass_json(fx, id).await["shareUrl"]
                .as_str()
                .unwrap()
                .to_string()
        }

        async fn public_get(fx: &Fixture, url: &str, language: Option<&str>) -> reqwest::Response {
            let mut request = fx.server.client.get(url);
            if let Some(l) = language {
                request = request.header("accept-language", l);
            }
            request.send().await.unwrap()
        }

        async fn post_json(fx: &Fixture, path: &str, body: &Value) -> (u16, Value) {
            json_of(
                fx.server
                    .client
                    .post(fx.server.at(path))
                    .bearer_auth(common::server::ADMIN_TOKEN)
                    .json(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }

        async fn events(fx: &Fixture, kind: &str) -> Vec<Value> {
            let (_, body) = json_of(
                fx.server
                    .get(&format!("/v2/events?type={kind}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            body["data"].as_array().cloned().unwrap_or_default()
        }
    };
}
use impl_helpers;

fn token_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

fn assert_strict_headers(response: &reqwest::Response) {
    let h = response.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no script is ever allowed: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
}

async fn on_both(test: &str, scenario: impl AsyncFn(&Fixture)) {
    let fx = Fixture::start().await;
    scenario(&fx).await;
    fx.stop().await;
    if let Some(db) = TestDb::postgres(test).await {
        let fx = Fixture::start_on(&db.url).await;
        scenario(&fx).await;
        fx.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn every_pass_has_a_stable_share_url_that_opens_its_holder_page() {
    on_both("share_url", async |fx: &Fixture| {
        let pass = fx.issue(None).await;
        let url = share_url(fx, &pass.id).await;
        assert!(url.starts_with(&format!("{}/p/", fx.server.url)), "{url}");
        let token = token_of(&url);
        assert_eq!(token.len(), 43, "256 random bits as base64url");
        assert_ne!(token, pass.token, "not the PassKit token");
        assert_eq!(share_url(fx, &pass.id).await, url, "stable while the pass exists");
        let (_, list) = json_of(fx.server.get(&format!("{BASE}/passes")).send().await.unwrap()).await;
        assert_eq!(list["data"][0]["shareUrl"], json!(url));

        let other = fx.issue(None).await;
        assert_ne!(share_url(fx, &other.id).await, url, "each pass its own token");

        let page = public_get(fx, &url, None).await;
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert_strict_headers(&page);
        let html = page.text().await.unwrap();
        assert!(html.contains("Ada Lovelace"), "the pass's values");
        assert!(
            html.contains(&format!("href=\"{token}/pass.pkpass\"")),
            "the button links the pass"
        );
        assert!(html.contains("aria-label=\"Add to Apple Wallet\""));
        assert!(
            html.contains("class=\"page-qr\"><svg"),
            "a QR code for desktop visitors"
        );
        assert!(html.contains("data-message=\"M-0042\""), "the pass's barcode");
        assert!(!html.to_lowercase().contains("<script"), "no JavaScript");
        assert!(
            !html.contains("save-to-google"),
            "no Google button while Google Wallet is off"
        );
        assert!(
            !html.contains(&pass.token),
            "the PassKit token never reaches the page"
        );
    })
    .await;
}

#[tokio::test]
async fn a_share_download_is_the_signed_pass_for_wallet_and_records_an_event() {
    on_both("share_download", async |fx: &Fixture| {
        let pass = fx.issue(None).await;
        let url = share_url(fx, &pass.id).await;
        let response = public_get(fx, &format!("{url}/pass.pkpass"), None).await;
        assert_eq!(response.status(), 200);
        let h = response.headers().clone();
        assert_eq!(h["content-type"], "application/vnd.apple.pkpass");
        assert_eq!(
            h["content-disposition"],
            "attachment; filename=\"coffee-card.pkpass\""
        );
        assert_eq!(h["cache-control"], "no-store");
        let files = verify_pass(&response.bytes().await.unwrap(), &fx.chain.root_pem);
        let json: Value = serde_json::from_slice(&files["pass.json"]).unwrap();
        assert_eq!(json["serialNumber"], json!(pass.serial));

        let downloads = events(fx, "PASS_SHARE_DOWNLOAD").await;
        assert_eq!(downloads.len(), 1, "{downloads:?}");
        assert_eq!(downloads[0]["data"]["passId"], json!(pass.id));
        assert!(
            !downloads[0].to_string().contains(token_of(&url)),
            "never the token"
        );
        // Viewing the page is not a download.
        public_get(fx, &url, None).await;
        assert_eq!(events(fx, "PASS_SHARE_DOWNLOAD").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn replacing_a_share_link_makes_the_old_one_answer_404() {
    on_both("share_replace", async |fx: &Fixture| {
        let pass = fx.issue(None).await;
        let old = share_url(fx, &pass.id).await;
        let (status, body) = post_json(fx, &format!("{BASE}/passes/{}/share", pass.id), &json!({})).await;
        assert_eq!(status, 200, "{body}");
        let new = body["shareUrl"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        assert_eq!(body["id"], json!(pass.id));
        assert_eq!(share_url(fx, &pass.id).await, new);
        for gone in [old.clone(), format!("{old}/pass.pkpass")] {
            let response = public_get(fx, &gone, None).await;
            assert_eq!(response.status(), 404, "{gone}");
            assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
            assert_strict_headers(&response);
            assert!(
                response
                    .text()
                    .await
                    .unwrap()
                    .contains("This link leads to no pass")
            );
        }
        assert_eq!(public_get(fx, &new, None).await.status(), 200);
        let (status, _) = post_json(
            fx,
            &format!("{BASE}/passes/{}/share", uuid::Uuid::new_v4()),
            &json!({}),
        )
        .await;
        assert_eq!(status, 404);
        let (status, _) = post_json(fx, &format!("{BASE}/passes/not-a-uuid/share"), &json!({})).await;
        assert_eq!(status, 400);
        let unauthenticated = fx
            .server
            .client
            .post(fx.server.at(&format!("{BASE}/passes/{}/share", pass.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(unauthenticated.status(), 401);
    })
    .await;
}

#[tokio::test]
async fn the_holder_page_speaks_the_browsers_language_and_marks_a_voided_pass() {
    let fx = Fixture::start().await;
    let pass = fx.issue(None).await;
    let url = share_url(&fx, &pass.id).await;
    let german = public_get(&fx, &url, Some("de-DE,de;q=0.9,en;q=0.5"))
        .await
        .text()
        .await
        .unwrap();
    assert!(german.contains(">Guthaben<"), "pass.strings of de");
    assert!(german.contains("<html lang=\"de\">"));
    let english = public_get(&fx, &url, Some("en-US,en;q=0.9"))
        .await
        .text()
        .await
        .unwrap();
    assert!(english.contains(">Balance<"));
    let default = public_get(&fx, &url, Some("fr")).await.text().await.unwrap();
    assert!(default.contains(">BALANCE<"), "no match: pass.json's own texts");
    assert!(!default.contains("voided"));

    let (status, _) = fx.patch(&pass.id, &json!({ "voided": true })).await;
    assert_eq!(status, 200);
    let voided = public_get(&fx, &url, None).await.text().await.unwrap();
    assert!(voided.contains("This pass has been voided"));
    assert!(voided.contains("pm-voided"));
    fx.stop().await;
}

#[tokio::test]
async fn a_deleted_pass_link_answers_404_and_the_pass_drops_out_of_its_bundles() {
    on_both("share_delete", async |fx: &Fixture| {
        let a = fx.issue(None).await;
        let b = fx.issue(None).await;
        let url = share_url(fx, &a.id).await;
        let (status, bundle) = post_json(
            fx,
            &format!("{BASE}/bundles"),
            &json!({ "passIds": [a.id, b.id] }),
        )
        .await;
        assert_eq!(status, 201, "{bundle}");
        let deleted = fx
            .server
            .delete(&format!("{BASE}/passes/{}", a.id))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        assert_eq!(public_get(fx, &url, None).await.status(), 404);
        assert_eq!(
            public_get(fx, &format!("{url}/pass.pkpass"), None).await.status(),
            404
        );
        let (status, body) = json_of(
            fx.server
                .get(&format!("{BASE}/bundles/{}", bundle["id"].as_str().unwrap()))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["passIds"], json!([b.id]));
        let zip = public_get(
            fx,
            &format!("{}/passes.pkpasses", bundle["shareUrl"].as_str().unwrap()),
            None,
        )
        .await
        .bytes()
        .await
        .unwrap();
        assert_eq!(
            unzip(&zip).keys().cloned().collect::<Vec<_>>(),
            vec![format!("{}.pkpass", b.serial)]
        );
        // With its last pass gone, the bundle page is gone too.
        fx.server
            .delete(&format!("{BASE}/passes/{}", b.id))
            .send()
            .await
            .unwrap();
        assert_eq!(
            public_get(fx, bundle["shareUrl"].as_str().unwrap(), None)
                .await
                .status(),
            404
        );
    })
    .await;
}

#[tokio::test]
async fn a_bundle_is_created_shown_downloaded_as_pkpasses_and_deleted() {
    on_both("bundles", async |fx: &Fixture| {
        let passes = [
            fx.issue(Some("FAMILY-1")).await,
            fx.issue(Some("FAMILY-2")).await,
            fx.issue(Some("FAMILY-3")).await,
        ];
        let ids: Vec<&str> = passes.iter().map(|p| p.id.as_str()).collect();
        let (status, bundle) = post_json(fx, &format!("{BASE}/bundles"), &json!({ "passIds": ids })).await;
        assert_eq!(status, 201, "{bundle}");
        assert_eq!(bundle["passIds"], json!(ids));
        let id = bundle["id"].as_str().unwrap();
        let url = bundle["shareUrl"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/b/", fx.server.url)));
        assert_eq!(token_of(url).len(), 43);
        assert!(bundle["createdAt"].as_str().unwrap().ends_with('Z'));
        let (status, again) = json_of(
            fx.server
                .get(&format!("{BASE}/bundles/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(again, bundle);

        let page = public_get(fx, url, None).await;
        assert_eq!(page.status(), 200);
        assert_strict_headers(&page);
        let html = page.text().await.unwrap();
        assert_eq!(html.matches("class=\"pm-pass ").count(), 3, "each pass previewed");
        assert!(html.contains(&format!("href=\"{}/passes.pkpasses\"", token_of(url))));
        assert!(html.contains("Add all to Apple Wallet"));

        let download = public_get(fx, &format!("{url}/passes.pkpasses"), None).await;
        assert_eq!(download.status(), 200);
        assert_eq!(
            download.headers()["content-type"],
            "application/vnd.apple.pkpasses"
        );
        let files = unzip(&download.bytes().await.unwrap());
        assert_eq!(
            files.keys().cloned().collect::<Vec<_>>(),
            vec!["FAMILY-1.pkpass", "FAMILY-2.pkpass", "FAMILY-3.pkpass"]
        );
        for bytes in files.values() {
            verify_pass(bytes, &fx.chain.root_pem);
        }
        assert_eq!(events(fx, "PASS_SHARE_DOWNLOAD").await.len(), 3, "one per pass");

        let deleted = fx
            .server
            .delete(&format!("{BASE}/bundles/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        assert_eq!(
            fx.server
                .get(&format!("{BASE}/bundles/{id}"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            fx.server
                .delete(&format!("{BASE}/bundles/{id}"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(public_get(fx, url, None).await.status(), 404);
        // The passes themselves stay.
        pass_json(fx, &passes[0].id).await;
    })
    .await;
}

#[tokio::test]
async fn hostile_bundles_get_a_400_naming_the_offending_id() {
    on_both("bundle_hostile", async |fx: &Fixture| {
        let a = fx.issue(None).await;
        let gone = fx.issue(None).await;
        fx.server
            .delete(&format!("{BASE}/passes/{}", gone.id))
            .send()
            .await
            .unwrap();
        let foreign = uuid::Uuid::new_v4().to_string();
        let eleven: Vec<String> = (0..11).map(|_| a.id.clone()).collect();
        let cases: Vec<(Value, &str)> = vec![
            (json!({ "passIds": [a.id, a.id] }), "passIds[1]"),
            (json!({ "passIds": [a.id, a.id.to_uppercase()] }), "passIds[1]"),
            (json!({ "passIds": [gone.id] }), "passIds[0]"),
            (json!({ "passIds": [a.id, foreign] }), "passIds[1]"),
            (json!({ "passIds": [fx.template_id] }), "passIds[0]"),
            (json!({ "passIds": ["not-a-uuid"] }), "passIds[0]"),
            (json!({ "passIds": ["x".repeat(5000)] }), "passIds[0]"),
            (json!({ "passIds": eleven }), "passIds"),
            (json!({ "passIds": [] }), "passIds"),
            (json!({ "passIds": [1, 2] }), "passIds"),
            (json!({}), "passIds"),
            (json!({ "passIds": [a.id], "extra": true }), "extra"),
        ];
        for (body, param) in cases {
            let (status, error) = post_json(fx, &format!("{BASE}/bundles"), &body).await;
            assert_eq!(status, 400, "{body}: {error}");
            let params: Vec<String> = error["details"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["param"].as_str().unwrap_or_default().to_string())
                .collect();
            assert!(
                params.iter().any(|p| p.starts_with(param)),
                "{body}: {params:?} lacks {param}"
            );
        }
        let (status, _) = json_of(
            fx.server
                .get(&format!("{BASE}/bundles/not-a-uuid"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = json_of(
            fx.server
                .get(&format!("{BASE}/bundles/{}", uuid::Uuid::new_v4()))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 404);
        // Nothing half-made was left behind by the refused bundles.
        let (status, ok) = post_json(fx, &format!("{BASE}/bundles"), &json!({ "passIds": [a.id] })).await;
        assert_eq!(status, 201, "{ok}");
    })
    .await;
}

#[tokio::test]
async fn tokens_of_every_length_and_shape_get_a_404_or_400_never_a_500() {
    let fx = Fixture::start().await;
    let pass = fx.issue(None).await;
    let real = share_url(&fx, &pass.id).await;
    let real = token_of(&real).to_string();
    let mut tokens: Vec<String> = (0..=100).map(|n| "A".repeat(n)).collect();
    tokens.extend(["a".repeat(1000), "b".repeat(8000)]);
    tokens.extend(
        [
            "%FF%FE",
            "%00",
            "..",
            "%2e%2e%2f",
            "ä".repeat(43).as_str(),
            "☃",
            "%E2%98%83",
            "+/=",
            "%20",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%",
            "<script>",
            "p?x=1",
            pass.token.as_str(),
            pass.id.as_str(),
        ]
        .map(str::to_string),
    );
    // The real token with one character changed, cut short or made longer.
    let mut flipped = real.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    tokens.extend([
        String::from_utf8(flipped).unwrap(),
        real[..42].to_string(),
        format!("{real}A"),
        real.to_lowercase(),
    ]);
    for token in &tokens {
        for path in [
            format!("/p/{token}"),
            format!("/p/{token}/pass.pkpass"),
            format!("/b/{token}"),
            format!("/b/{token}/passes.pkpasses"),
        ] {
            let response = fx.server.client.get(fx.server.at(&path)).send().await.unwrap();
            let status = response.status().as_u16();
            assert!(
                status == 404 || status == 400 || status == 414 || status == 431,
                "{path}: {status}"
            );
        }
    }
    assert_eq!(
        public_get(&fx, &format!("{}/p/{real}", fx.server.url), None)
            .await
            .status(),
        200
    );
    fx.stop().await;
}

#[tokio::test]
async fn the_stylesheet_is_served_from_the_origin() {
    let fx = Fixture::start().await;
    let response = fx
        .server
        .client
        .get(fx.server.at("/share/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/css; charset=utf-8");
    let css = response.text().await.unwrap();
    assert!(css.contains(".pm-pass") && css.contains(".add-to-wallet"));
    fx.stop().await;
}

#[tokio::test]
async fn a_share_download_fires_the_pass_downloaded_webhook() {
    let fx = Fixture::start().await;
    let receiver = common::receiver::Receiver::start().await;
    let (status, webhook) = post_json(
        &fx,
        "/v2/webhooks",
        &json!({ "url": receiver.url, "events": ["pass.downloaded"] }),
    )
    .await;
    assert_eq!(status, 201, "{webhook}");
    let pass = fx.issue(None).await;
    let url = share_url(&fx, &pass.id).await;
    assert_eq!(
        public_get(&fx, &format!("{url}/pass.pkpass"), None)
            .await
            .status(),
        200
    );
    let deliveries = receiver
        .wait_until("pass.downloaded", |d| {
            d.iter().any(|d| d.event_type() == "pass.downloaded")
        })
        .await;
    let delivery = deliveries
        .iter()
        .find(|d| d.event_type() == "pass.downloaded")
        .unwrap();
    let body = delivery.body.to_string();
    assert!(body.contains(&pass.id), "{body}");
    assert!(!body.contains(token_of(&url)), "never the token");
    receiver.stop();
    fx.stop().await;
}

/// The holder pages take no credentials but the token, so the per-client limit is what stops
/// one client guessing or hammering: beyond the burst, 429, on pages and downloads alike.
#[tokio::test]
async fn the_holder_pages_are_under_the_public_rate_limit() {
    let db = TestDb::sqlite().await;
    let fx = Fixture::start_configured(&db.url, |s| {
        s.public_rate_limit = Some(passmint::config::RateLimit {
            per_second: 0.01,
            burst: 5,
        });
    })
    .await;
    let mut statuses = Vec::new();
    for path in ["/p/", "/b/", "/p/", "/b/", "/p/"] {
        statuses.push(
            public_get(&fx, &fx.server.at(&format!("{path}{}", "A".repeat(43))), None)
                .await
                .status()
                .as_u16(),
        );
    }
    for path in ["/p/x/pass.pkpass", "/b/x/passes.pkpasses", "/p/x"] {
        statuses.push(public_get(&fx, &fx.server.at(path), None).await.status().as_u16());
    }
    assert_eq!(statuses[..5], [404; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    fx.stop().await;
}
