//! The management API's JSON bodies (create a pass, a batch, change a pass): what carries the
//! payload values the render step later sees. Each is checked against the schema `/openapi.json`
//! publishes, then deserialized: a bad body is a 4xx, and a body the schema accepts must
//! deserialize (the schema and the type never disagree).
//!
//! Input: first byte picks the body type, the rest is the body.
#![no_main]

use std::sync::OnceLock;

use axum::body::Bytes;
use libfuzzer_sys::fuzz_target;
use passmint::api::body::Schemas;
use passmint::api::passes::{ChangePass, CreatePass, CreatePassBatch};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        Schemas::compile(&passmint::api::openapi::document(), passmint::api::BODY_SCHEMAS)
            .expect("the schemas compile")
    })
}

fn check<T: DeserializeOwned>(name: &str, body: &[u8]) {
    let s = schemas();
    if let Err(e) = s.parse::<T>(name, Ok(Bytes::copy_from_slice(body)), usize::MAX) {
        assert!(e.status.is_client_error(), "status {}", e.status);
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let details = s.validate(name, &value).expect("the schema is compiled");
    if details.is_empty()
        && let Err(e) = serde_json::from_value::<T>(value)
    {
        panic!("{name}: valid against its schema but doesn't deserialize: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 3 {
        0 => check::<CreatePass>("CreatePass", body),
        1 => check::<CreatePassBatch>("CreatePassBatch", body),
        _ => check::<ChangePass>("ChangePass", body),
    }
});
