//! The dashboard over plain HTTP: signed out every page sends you to the sign-in page (keeping
//! the deep link), the session cookie is `HttpOnly; SameSite=Strict; Path=/dashboard`, forms
//! need the session's CSRF token and this site's `Origin`, and pages carry a strict CSP.
mod common;

use common::passes::Fixture;
use common::server::ADMIN_TOKEN;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in; returns the `Cookie` header value.
async fn sign_in(f: &Fixture, http: &reqwest::Client) -> String {
    let r = http
        .post(f.server.at("/dashboard/login"))
        .form(&[("token", ADMIN_TOKEN), ("next", "/dashboard/passes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/dashboard/passes");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    // Plain http:// public URL: no Secure.
    assert!(!cookie.contains("Secure"));
    cookie.split(';').next().unwrap().to_string()
}

/// The CSRF token of the forms on `path`.
async fn csrf(f: &Fixture, http: &reqwest::Client, cookie: &str, path: &str) -> String {
    let html = http
        .get(f.server.at(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn every_page_sends_a_signed_out_visitor_to_sign_in_and_back() {
    let f = Fixture::start().await;
    let http = client();
    for path in [
        "/dashboard/templates",
        &format!("/dashboard/templates/{}", f.template_id),
        "/dashboard/passes?serial=ABC",
        "/dashboard/passes/6f1c8a52-3a49-4c57-9d0e-1d0c5d2f3a10",
        "/dashboard/events",
        "/dashboard/webhooks",
        "/dashboard/push",
    ] {
        let r = http.get(f.server.at(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        let location = r.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with("/dashboard/login?next=/dashboard/"),
            "{path} → {location}"
        );
    }
    let login = http
        .get(f.server.at("/dashboard/login?next=/dashboard/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = login.text().await.unwrap();
    assert!(html.contains("name=\"token\""));
    assert!(html.contains("value=\"/dashboard/events\""));
    // A next that leaves the dashboard is not followed.
    let r = http
        .post(f.server.at("/dashboard/login"))
        .form(&[("token", ADMIN_TOKEN), ("next", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/dashboard/templates");
    f.stop().await;
}

#[tokio::test]
async fn a_wrong_token_or_a_cross_site_sign_in_opens_no_session() {
    let f = Fixture::start().await;
    let http = client();
    let r = http
        .post(f.server.at("/dashboard/login"))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let r = http
        .post(f.server.at("/dashboard/login"))
        .header("origin", "https://evil.example")
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    // A made-up session cookie is no session.
    let r = http
        .get(f.server.at("/dashboard/templates"))
        .header("cookie", "passmint_session=made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    f.stop().await;
}

#[tokio::test]
async fn a_form_needs_the_sessions_csrf_token_and_this_sites_origin() {
    let f = Fixture::start().await;
    let http = client();
    let pass = f.issue(None).await;
    let cookie = sign_in(&f, &http).await;
    let page = format!("/dashboard/passes/{}", pass.id);
    let token = csrf(&f, &http, &cookie, &page).await;
    let void = f.server.at(&format!("/dashboard/passes/{}/void", pass.id));
    let voided = |f: &Fixture| {
        let id = pass.id.clone();
        let store = f.server.state.store.clone();
        async move { store.get_pass(&id).await.unwrap().unwrap().voided }
    };

    // No token, a wrong one, or the right one from another site: refused, nothing changes.
    for (form, origin) in [
        (vec![("voided", "true")], None),
        (vec![("voided", "true"), ("csrf", "forged")], None),
        (
            vec![("voided", "true"), ("csrf", token.as_str())],
            Some("https://evil.example"),
        ),
    ] {
        let mut request = http.post(&void).header("cookie", &cookie).form(&form);
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(!voided(&f).await);
    }
    // Without the session cookie: to the sign-in page.
    let r = http
        .post(&void)
        .form(&[("voided", "true"), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(!voided(&f).await);

    // The real form, from this site.
    let r = http
        .post(&void)
        .header("cookie", &cookie)
        .header("origin", &f.server.url)
        .form(&[("voided", "true"), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], page.as_str());
    assert!(voided(&f).await);

    // Signing out ends the session for good.
    let r = http
        .post(f.server.at("/dashboard/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let r = http
        .get(f.server.at(&page))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    f.stop().await;
}

#[tokio::test]
async fn a_pass_page_shows_its_preview_payload_devices_and_timeline_under_a_strict_csp() {
    let f = Fixture::start().await;
    let http = client();
    let pass = f.issue(Some("DASH-1")).await;
    assert_eq!(f.register("device-7", &pass, "dash").await, 201);
    let cookie = sign_in(&f, &http).await;
    let r = http
        .get(f.server.at(&format!("/dashboard/passes/{}", pass.id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("class=\"pm-pass"), "no preview");
    assert!(html.contains("Ada Lovelace"), "no payload");
    assert!(html.contains("device-7"), "no registration");
    assert!(
        html.contains("tl-installed") && html.contains("tl-created"),
        "no timeline"
    );
    // Search by serial finds it (and goes straight to it).
    let r = http
        .get(f.server.at("/dashboard/passes?serial=DASH-1"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/dashboard/passes/{}", pass.id)
    );
    // The .pkpass downloads with the session.
    let r = http
        .get(f.server.at(&format!("/dashboard/passes/{}/pass.pkpass", pass.id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.pkpass");
    f.stop().await;
}
