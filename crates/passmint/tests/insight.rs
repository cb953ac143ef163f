//! Insight (SPEC 11), on SQLite and PostgreSQL: a pass's timeline answers "what happened to
//! it" (created, downloads, registrations, serials asked, fetches, updates, pushes with APNs's
//! answer, log lines, void, unregistration), newest first and capped; a template's statistics
//! count passes, installs, devices, pushes and days; `/metrics` shows certificate expiry.
mod common;

use std::time::Duration;

use common::db::TestDb;
use common::passes::{Fixture, Issued};
use common::server::BASE;
use serde_json::{Value, json};

/// The pass's whole timeline (every page of `limit`), newest first.
async fn timeline(f: &Fixture, pass: &Issued, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{BASE}/passes/{}/timeline?limit={limit}", pass.id);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = f.server.get(&path).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let page = body["data"].as_array().unwrap();
        assert!(page.len() <= limit);
        out.extend(page.iter().cloned());
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

fn types(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// Polls the timeline until `done` holds (the notes of reads are written a moment later).
async fn timeline_until(
    f: &Fixture,
    pass: &Issued,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let entries = timeline(f, pass, 1000).await;
        if done(&entries) {
            return entries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timeline never showed {what}: {:?}",
            types(&entries)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stats(f: &Fixture, query: &str) -> (u16, Value) {
    let r = f
        .server
        .get(&format!("{BASE}/templates/{}/stats{query}", f.template_id))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn stats_until(f: &Fixture, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = stats(f, "").await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats never showed {what}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn device_log(f: &Fixture, message: &str) {
    let r = f
        .server
        .client
        .post(f.server.at("/passkit/v1/log"))
        .json(&json!({ "logs": [message] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn has(entries: &[Value], kind: &str, ok: impl Fn(&Value) -> bool) -> bool {
    entries.iter().any(|e| e["type"] == kind && ok(&e["detail"]))
}

async fn tells_everything_that_happened_to_a_pass_newest_first(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let pass = f.issue(Some("TL-1")).await;
    let other = f.issue(Some("TL-2")).await;

    let download = f
        .server
        .get(&format!("{}/pkpass", pass.location))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(f.register("device-1", &pass, "tl-a").await, 201);
    assert_eq!(f.register("device-1", &pass, "tl-b").await, 200);
    let (status, serials, _) = f.serials("device-1", &pass.pass_type, None).await;
    assert_eq!((status, serials), (200, vec![pass.serial.clone()]));
    let (last_modified, _) = f.fetch_pass_json(&pass).await;
    assert_eq!(f.fetch(&pass, Some(&last_modified)).await.status(), 304);
    device_log(
        &f,
        &format!(
            "Get pass task (pass type {}, serial number {}, if-modified-since (null)) encountered error",
            pass.pass_type, pass.serial
        ),
    )
    .await;
    device_log(&f, "Register task failed for a pass we know nothing about").await;

    let mut payload = common::passes::example_payload();
    payload["points"] = json!(999);
    let (status, body) = f.patch(&pass.id, &json!({ "payload": payload })).await;
    assert_eq!(status, 200, "{body}");
    f.wait_for_pushes("tl-b", 1).await;
    let (status, _) = f.patch(&pass.id, &json!({ "voided": true })).await;
    assert_eq!(status, 200);
    assert_eq!(f.unregister("device-1", &pass).await, 200);

    let entries = timeline_until(&f, &pass, "every step", |e| {
        has(e, "downloaded", |d| d["via"] == "api")
            && has(e, "serials", |d| d["deviceLibraryIdentifier"] == "device-1")
            && has(e, "fetched", |d| d["status"] == 200)
            && has(e, "fetched", |d| d["status"] == 304)
            && has(e, "log", |d| {
                d["message"].as_str().is_some_and(|m| m.contains("TL-1"))
            })
            && has(e, "push", |d| d["result"] == "sent" && d["status"] == 200)
    })
    .await;
    let kinds = types(&entries);
    for kind in [
        "created",
        "registered",
        "reregistered",
        "installed",
        "updated",
        "voided",
        "unregistered",
        "uninstalled",
    ] {
        assert!(kinds.contains(&kind.to_string()), "no {kind} in {kinds:?}");
    }
    assert!(has(&entries, "registered", |d| d["deviceLibraryIdentifier"]
        == "device-1"));
    assert!(has(&entries, "reregistered", |d| d["pushTokenChanged"] == true));
    assert!(has(&entries, "updated", |d| d["tag"].is_string()));
    // Newest first: the creation is the oldest entry, and times never go up down the list.
    assert_eq!(kinds.last().map(String::as_str), Some("created"), "{kinds:?}");
    assert!(
        entries.last().unwrap()["detail"]["tag"]
            .as_str()
            .is_some_and(|t| t != "0")
    );
    // What was written with its change is in time order; a read's note (serials, fetched, log,
    // downloaded) is appended a moment after the read, so it may sit above a later change.
    let noted = ["serials", "fetched", "log", "downloaded"];
    let times: Vec<time::OffsetDateTime> = entries
        .iter()
        .filter(|e| !noted.contains(&e["type"].as_str().unwrap()))
        .map(|e| {
            let at = e["at"].as_str().unwrap();
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    // Paging walks the same entries.
    assert_eq!(timeline(&f, &pass, 3).await, entries);
    // Nothing of this pass is in the other pass's timeline.
    assert_eq!(types(&timeline(&f, &other, 100).await), ["created"]);

    // A pass that isn't there, or an id that isn't one.
    let r = f
        .server
        .get(&format!("{BASE}/passes/{}/timeline", uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = f
        .server
        .get(&format!("{BASE}/passes/nope/timeline"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = f
        .server
        .get(&format!("{BASE}/passes/{}/timeline?limit=0", pass.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    f.stop().await;
}

async fn keeps_each_pass_timeline_to_its_cap(db: &TestDb) {
    let f = Fixture::start_configured(&db.url, |s| s.timeline_cap = 5).await;
    let pass = f.issue(None).await;
    let mut last = Value::Null;
    for points in 1..=8 {
        let mut payload = common::passes::example_payload();
        payload["points"] = json!(points);
        let (status, body) = f.patch(&pass.id, &json!({ "payload": payload })).await;
        assert_eq!(status, 200, "{body}");
        last = body;
    }
    let entries = timeline(&f, &pass, 100).await;
    assert_eq!(types(&entries), ["updated"; 5], "{entries:?}");
    assert_eq!(last["payload"]["points"], 8);
    // The newest update is kept: its tag is the highest.
    let tags: Vec<i64> = entries
        .iter()
        .map(|e| e["detail"]["tag"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(tags.windows(2).all(|w| w[0] > w[1]), "{tags:?}");
    f.stop().await;
}

async fn counts_a_templates_passes_installs_devices_pushes_and_days(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let a = f.issue(None).await;
    let b = f.issue(None).await;
    let c = f.issue(None).await;
    assert_eq!(f.patch(&c.id, &json!({ "voided": true })).await.0, 200);
    assert_eq!(f.register("device-1", &a, "st-1").await, 201);
    assert_eq!(f.register("device-1", &b, "st-1").await, 201);
    assert_eq!(f.register("device-2", &a, "st-2").await, 201);
    let download = f
        .server
        .get(&format!("{}/pkpass", a.location))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let mut payload = common::passes::example_payload();
    payload["points"] = json!(5);
    assert_eq!(f.patch(&a.id, &json!({ "payload": payload })).await.0, 200);
    f.wait_for_pushes("st-1", 1).await;
    f.wait_for_pushes("st-2", 1).await;

    let body = stats_until(&f, "two pushes and a download", |s| {
        s["pushes"]["sent"] == 2 && s["daily"][29]["downloads"] == 1
    })
    .await;
    assert_eq!(body["passes"], 3);
    assert_eq!(body["voided"], 1);
    assert_eq!(body["installed"], 2);
    assert_eq!(body["devices"], 2);
    assert_eq!(body["pushes"]["failed"], 0);
    let daily = body["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    let today = &daily[29];
    let expected_date = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(today["date"], expected_date.as_str());
    assert_eq!(today["issued"], 3);
    assert_eq!(today["installed"], 2);
    assert_eq!(today["uninstalled"], 0);
    // Two updates: the void and the payload change each gave a new tag.
    assert_eq!(today["updated"], 2);
    assert!(
        daily[..29]
            .iter()
            .all(|d| d["issued"] == 0 && d["downloads"] == 0)
    );

    // device-1 leaves b: b is uninstalled, device-1 still holds a.
    assert_eq!(f.unregister("device-1", &b).await, 200);
    let (_, body) = stats(&f, "").await;
    assert_eq!(
        (body["installed"].clone(), body["devices"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(body["daily"][29]["uninstalled"], 1);
    // device-2 leaves a: one device left.
    assert_eq!(f.unregister("device-2", &a).await, 200);
    let (_, body) = stats(&f, "").await;
    assert_eq!(body["devices"], 1);
    // Deleting a takes its last device and install with it.
    let r = f
        .server
        .delete(&format!("{BASE}/passes/{}", a.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, body) = stats(&f, "").await;
    assert_eq!(
        (
            &body["passes"],
            &body["voided"],
            &body["installed"],
            &body["devices"]
        ),
        (&json!(2), &json!(1), &json!(0), &json!(0))
    );

    // A chosen range; a bad one; a template that isn't there.
    let (status, body) = stats(&f, &format!("?from={expected_date}&to={expected_date}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["daily"].as_array().unwrap().len(), 1);
    let (status, body) = stats(&f, "?from=2026-02-30").await;
    assert_eq!(status, 400);
    assert_eq!(body["details"][0]["param"], "from");
    // A range longer than 366 days answers its last 366; a reversed one answers no days.
    let (status, body) = stats(&f, "?from=2000-01-01").await;
    assert_eq!(status, 200);
    assert_eq!(body["daily"].as_array().unwrap().len(), 366);
    let (status, body) = stats(&f, "?from=2026-12-05&to=2026-12-01").await;
    assert_eq!(status, 200);
    assert_eq!(body["daily"], json!([]));
    let r = f
        .server
        .get(&format!("{BASE}/templates/{}/stats", uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    f.stop().await;
}

async fn shows_each_templates_certificate_expiry_in_metrics(db: &TestDb) {
    let f = Fixture::start_on(&db.url).await;
    let template: Value = f
        .server
        .get(&format!("{BASE}/templates/{}", f.template_id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expires = time::OffsetDateTime::parse(
        template["metadata"]["certificateExpiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    let text = f
        .server
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!(
        "passmint_template_certificate_expiry_seconds{{template=\"{}\"}} {expires}",
        f.template_id
    );
    assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    f.stop().await;
}

on_both_backends! {
    tells_everything_that_happened_to_a_pass_newest_first => tells_everything_that_happened_to_a_pass_newest_first;
    keeps_each_pass_timeline_to_its_cap => keeps_each_pass_timeline_to_its_cap;
    counts_a_templates_passes_installs_devices_pushes_and_days => counts_a_templates_passes_installs_devices_pushes_and_days;
    shows_each_templates_certificate_expiry_in_metrics => shows_each_templates_certificate_expiry_in_metrics;
}
