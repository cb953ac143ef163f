//! The store suite: the same cases on SQLite and on PostgreSQL.
mod common;

use common::db::TestDb;
use passmint::store::{
    DeviceLimits, NewEvent, NewRegistration, NewTemplate, RegisterOutcome, Store, StoreError,
};

fn template(id: &str, name: &str) -> NewTemplate {
    NewTemplate {
        id: id.to_string(),
        name: name.to_string(),
        file_name: "pass.pkpass".into(),
        team_identifier: "TEAM123456".into(),
        pass_type_identifier: "pass.example.test".into(),
        template_zip: b"zip bytes".to_vec(),
        signer_cert_der: b"cert".to_vec(),
        wwdr_der: b"wwdr".to_vec(),
        signer_key_sealed: vec![1, 2, 3, 0, 255],
        certificate_expires_at: 1_900_000_000,
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn stores_and_reads_back_a_template(db: &TestDb) {
    let store = db.store().await;
    let id = new_id();
    let created = store.insert_template(&template(&id, "first")).await.unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.revision, 1);
    let got = store.get_template(&id).await.unwrap().unwrap();
    assert_eq!(got, created);
    let material = store.get_template_material(&id).await.unwrap().unwrap();
    assert_eq!(material.signer_key_sealed, vec![1, 2, 3, 0, 255]);
    assert_eq!(material.template_zip, b"zip bytes");
    assert_eq!(store.count_templates().await.unwrap(), 1);
}

async fn answers_none_for_an_unknown_template(db: &TestDb) {
    let store = db.store().await;
    let id = new_id();
    assert!(store.get_template(&id).await.unwrap().is_none());
    assert!(store.get_template_material(&id).await.unwrap().is_none());
    assert!(
        store
            .replace_template(&template(&id, "x"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.delete_template(&id).await.unwrap());
}

async fn replaces_a_template_and_bumps_its_revision(db: &TestDb) {
    let store = db.store().await;
    let id = new_id();
    store.insert_template(&template(&id, "before")).await.unwrap();
    let mut t = template(&id, "after");
    t.template_zip = b"new zip".to_vec();
    let replaced = store.replace_template(&t).await.unwrap().unwrap();
    assert_eq!(replaced.name, "after");
    assert_eq!(replaced.revision, 2);
    let material = store.get_template_material(&id).await.unwrap().unwrap();
    assert_eq!(material.template_zip, b"new zip");
    assert_eq!(material.revision, 2);
}

async fn lists_templates_in_creation_order_page_by_page(db: &TestDb) {
    let store = db.store().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let id = new_id();
        store
            .insert_template(&template(&id, &format!("t{i}")))
            .await
            .unwrap();
        ids.push(id);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_templates(after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().seq);
        seen.extend(page.into_iter().map(|t| t.id));
    }
    assert_eq!(seen, ids);
}

async fn deletes_a_template_and_what_was_issued_from_it(db: &TestDb) {
    let store = db.store().await;
    let id = new_id();
    store.insert_template(&template(&id, "doomed")).await.unwrap();
    // A pass and a registration written with plain SQL: the passes API comes later, but the
    // cascade is the schema's job and is checked here.
    let pass_id = new_id();
    exec(
        &store,
        &format!(
            "INSERT INTO passes (id, template_id, pass_type_identifier, serial_number, auth_token, \
             payload, overrides, voided, update_tag, last_modified, created_at, updated_at) \
             VALUES ('{pass_id}', '{id}', 'pass.example.test', 's1', 'tok', '{{}}', '{{}}', FALSE, 1, 1, 1, 1)"
        ),
    )
    .await;
    exec(
        &store,
        &format!(
            "INSERT INTO registrations (device_library_identifier, pass_id, pass_type_identifier, \
             push_token, created_at, updated_at) VALUES ('dev1', '{pass_id}', 'pass.example.test', 'pt', 1, 1)"
        ),
    )
    .await;
    assert!(store.delete_template(&id).await.unwrap());
    assert!(store.get_template(&id).await.unwrap().is_none());
    assert_eq!(count(&store, "SELECT COUNT(*) FROM passes").await, 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM registrations").await, 0);
}

async fn exec(store: &Store, sql: &str) {
    match store.backend() {
        passmint::store::Backend::Sqlite(p) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .unwrap();
        }
        passmint::store::Backend::Postgres(p) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .unwrap();
        }
    }
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    match store.backend() {
        passmint::store::Backend::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        passmint::store::Backend::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

fn event(kind: &str, n: i64) -> NewEvent {
    NewEvent {
        id: new_id(),
        event_type: kind.to_string(),
        category: "template".into(),
        timestamp: n,
        request_id: format!("req-{n}"),
        data: format!("{{\"n\":{n}}}"),
    }
}

async fn lists_events_newest_first_filtered_by_type(db: &TestDb) {
    let store = db.store().await;
    for n in 0..6 {
        let kind = if n % 2 == 0 { "A" } else { "B" };
        store.insert_events(&[event(kind, n)], 1000).await.unwrap();
    }
    let all = store.list_events(None, None, 100).await.unwrap();
    let order: Vec<i64> = all.iter().map(|e| e.timestamp).collect();
    assert_eq!(order, vec![5, 4, 3, 2, 1, 0]);
    let only_a = store.list_events(Some("A"), None, 2).await.unwrap();
    assert_eq!(only_a.iter().map(|e| e.timestamp).collect::<Vec<_>>(), vec![4, 2]);
    let rest = store
        .list_events(Some("A"), Some(only_a[1].seq), 2)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|e| e.timestamp).collect::<Vec<_>>(), vec![0]);
}

async fn keeps_only_the_newest_events(db: &TestDb) {
    let store = db.store().await;
    for n in 0..30 {
        store.insert_events(&[event("A", n)], 10).await.unwrap();
    }
    assert_eq!(store.count_events().await.unwrap(), 10);
    let newest = store.list_events(None, None, 1).await.unwrap();
    assert_eq!(newest[0].timestamp, 29);
}

fn device_event(kind: &str, n: i64, data: &str) -> NewEvent {
    NewEvent {
        category: "passkit".into(),
        data: data.to_string(),
        ..event(kind, n)
    }
}

/// Device-side records live apart from management events: a flood of them leaves every
/// management event in place, is capped by count and by bytes, and repeats share a row.
async fn keeps_device_records_apart_capped_and_aggregated(db: &TestDb) {
    let store = db.store().await.with_device_limits(DeviceLimits {
        records: 5,
        bytes: 1_000_000,
    });
    store
        .insert_events(&[event("A", 0), event("A", 1)], 2)
        .await
        .unwrap();
    for n in 0..40 {
        let data = format!("{{\"message\":\"log {n}\"}}");
        store
            .insert_events(&[device_event("PASSKIT_DEVICE_LOG", 100 + n, &data)], 2)
            .await
            .unwrap();
    }
    assert_eq!(
        store.count_events().await.unwrap(),
        2,
        "management events all kept"
    );
    let logs = store
        .list_events(Some("PASSKIT_DEVICE_LOG"), None, 100)
        .await
        .unwrap();
    assert_eq!(logs.len(), 5);
    assert_eq!(logs[0].data, "{\"message\":\"log 39\"}");
    assert_eq!(store.device_record_totals().await.unwrap().0, 5);

    // By bytes: 300-byte records under a 2,000-byte cap.
    let store = store.with_device_limits(DeviceLimits {
        records: 1000,
        bytes: 2000,
    });
    let big = format!("{{\"message\":\"{}\"}}", "x".repeat(280));
    for n in 0..30 {
        let data = big.replace('x', &(n % 10).to_string());
        let e = device_event("PASSKIT_DEVICE_LOG", 200 + n, &format!("{data}{n}"));
        store.insert_events(&[e], 2).await.unwrap();
    }
    let (rows, bytes) = store.device_record_totals().await.unwrap();
    assert!(bytes <= 2000, "{bytes}");
    assert!(rows >= 4, "{rows}");
    let kept = store
        .list_events(Some("PASSKIT_DEVICE_LOG"), None, 100)
        .await
        .unwrap();
    assert_eq!(kept.len() as i64, rows);

    // Repeats of one failure: one row, counted, latest time and request id.
    let fail = r#"{"reason":"unauthorized","status":401}"#;
    store
        .insert_events(
            &(0..50)
                .map(|n| device_event("PASSKIT_DEVICE_REGISTER_FAIL", 1000 + n, fail))
                .collect::<Vec<_>>(),
            2,
        )
        .await
        .unwrap();
    for n in 50..100 {
        store
            .insert_events(&[device_event("PASSKIT_DEVICE_REGISTER_FAIL", 1000 + n, fail)], 2)
            .await
            .unwrap();
    }
    let fails = store
        .list_events(Some("PASSKIT_DEVICE_REGISTER_FAIL"), None, 100)
        .await
        .unwrap();
    assert_eq!(fails.len(), 1);
    assert_eq!(fails[0].count, 100);
    assert_eq!(fails[0].first_seen, 1000);
    assert_eq!(fails[0].timestamp, 1099);
    assert_eq!(fails[0].request_id, "req-1099");
    assert_eq!(store.count_events().await.unwrap(), 2);
    // One push failing attempt after attempt (an APNs outage) is one row too.
    for attempt in 1..=20 {
        let data = format!(r#"{{"attempt":{attempt},"reason":"ServiceUnavailable","status":503}}"#);
        let mut e = device_event("APNS_PUSH_FAIL", 2000 + attempt, &data);
        e.category = "push".into();
        store.insert_events(&[e], 2).await.unwrap();
    }
    let outage = store
        .list_events(Some("APNS_PUSH_FAIL"), None, 100)
        .await
        .unwrap();
    assert_eq!(outage.len(), 1);
    assert_eq!(outage[0].count, 20);
    // Unfiltered, the list is the management trail.
    assert!(
        store
            .list_events(None, None, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.event_type == "A")
    );
}

/// A registration batch naming a pass deleted meanwhile: the others are written, that one is
/// reported as gone (it used to fail the whole batch on the foreign key: a 500 for everyone).
async fn a_registration_batch_survives_a_pass_deleted_mid_batch(db: &TestDb) {
    let store = db.store().await;
    let id = new_id();
    store.insert_template(&template(&id, "t")).await.unwrap();
    let pass_id = new_id();
    exec(
        &store,
        &format!(
            "INSERT INTO passes (id, template_id, pass_type_identifier, serial_number, auth_token, \
             payload, overrides, voided, update_tag, last_modified, created_at, updated_at) \
             VALUES ('{pass_id}', '{id}', 'pass.example.test', 's1', 'tok', '{{}}', '{{}}', FALSE, 1, 1, 1, 1)"
        ),
    )
    .await;
    let registration = |device: &str, pass: &str| NewRegistration {
        device: device.into(),
        pass_id: pass.into(),
        pass_type_identifier: "pass.example.test".into(),
        push_token: "ab".repeat(32),
    };
    let gone = new_id();
    let batch = [
        registration("dev-1", &pass_id),
        registration("dev-2", &gone),
        registration("dev-3", &pass_id),
    ];
    let outcomes = store
        .register_devices(&batch, 1000, |_, _| None, 100, passmint::store::now_millis())
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            RegisterOutcome::Created,
            RegisterOutcome::PassGone,
            RegisterOutcome::Created
        ]
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM registrations").await, 2);
    let single = store
        .register_device("dev-4", &gone, "pass.example.test", &"cd".repeat(32), 1000)
        .await
        .unwrap();
    assert_eq!(single, RegisterOutcome::PassGone);
}

async fn finds_api_tokens_by_hash_only(db: &TestDb) {
    let store = db.store().await;
    store
        .insert_api_token("t1", &[9u8; 32], Some("ci"))
        .await
        .unwrap();
    assert!(store.api_token_exists(&[9u8; 32]).await.unwrap());
    assert!(!store.api_token_exists(&[8u8; 32]).await.unwrap());
}

async fn reports_a_duplicate_id_as_a_conflict(db: &TestDb) {
    let store = db.store().await;
    let id = new_id();
    store.insert_template(&template(&id, "a")).await.unwrap();
    let err = store.insert_template(&template(&id, "b")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn reports_an_outage_as_unavailable_never_as_missing(db: &TestDb) {
    let store = db.store().await;
    let id = new_id();
    store.insert_template(&template(&id, "a")).await.unwrap();
    store.close().await;
    let err = store.get_template(&id).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(store.ping().await.unwrap_err().is_unavailable());
}

async fn applies_migrations_again_without_harm(db: &TestDb) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    let again = Store::connect(&db.url).await.unwrap();
    again.ping().await.unwrap();
}

async fn hands_out_strictly_increasing_update_tags(db: &TestDb) {
    let store = db.store().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move { store.next_update_tag().await.unwrap() });
    }
    let mut tags = Vec::new();
    while let Some(tag) = tasks.join_next().await {
        tags.push(tag.unwrap());
    }
    tags.sort_unstable();
    assert_eq!(tags, (1..=20).collect::<Vec<i64>>());
}

on_both_backends! {
    hands_out_strictly_increasing_update_tags => hands_out_strictly_increasing_update_tags;
    stores_and_reads_back_a_template => stores_and_reads_back_a_template;
    answers_none_for_an_unknown_template => answers_none_for_an_unknown_template;
    replaces_a_template_and_bumps_its_revision => replaces_a_template_and_bumps_its_revision;
    lists_templates_in_creation_order_page_by_page => lists_templates_in_creation_order_page_by_page;
    deletes_a_template_and_what_was_issued_from_it => deletes_a_template_and_what_was_issued_from_it;
    lists_events_newest_first_filtered_by_type => lists_events_newest_first_filtered_by_type;
    keeps_only_the_newest_events => keeps_only_the_newest_events;
    keeps_device_records_apart_capped_and_aggregated => keeps_device_records_apart_capped_and_aggregated;
    a_registration_batch_survives_a_pass_deleted_mid_batch => a_registration_batch_survives_a_pass_deleted_mid_batch;
    finds_api_tokens_by_hash_only => finds_api_tokens_by_hash_only;
    reports_a_duplicate_id_as_a_conflict => reports_a_duplicate_id_as_a_conflict;
    reports_an_outage_as_unavailable_never_as_missing => reports_an_outage_as_unavailable_never_as_missing;
    applies_migrations_again_without_harm => applies_migrations_again_without_harm;
}
