//! The template upload form exactly as the server takes it: axum's multipart extractor over
//! the raw body, passmint's streaming form reader (`api::form::read`), then every field and
//! content check the domain runs before storing (`check_fields`, `check_content`: the zip,
//! the signing material, the certificate against the identifiers).
//!
//! Input: the request body, multipart with boundary `passmint_fuzz::BOUNDARY`.
//! A bad body must come back as a 4xx error, never a panic or a 5xx.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use libfuzzer_sys::fuzz_target;
use passmint::api::form;
use passmint::domain::{check_content, check_fields};
use pkpass::Limits;

/// The server's default `PASSMINT_MAX_TEMPLATE_BYTES`.
const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let request = http::Request::builder()
        .method("POST")
        .uri("/v2/credentials/compact/digital-pass/apple/templates")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={}", passmint_fuzz::BOUNDARY),
        )
        .body(Body::from(data.to_vec()))
        .expect("a valid request");
    runtime().block_on(async {
        let multipart = Multipart::from_request(request, &())
            .await
            .expect("the content type is multipart");
        match form::read(multipart, MAX_TEMPLATE_BYTES).await {
            Ok(upload) => {
                let _ = check_fields(&upload);
                let limits = Limits {
                    max_zip_bytes: MAX_TEMPLATE_BYTES,
                    ..Limits::default()
                };
                let _ = check_content(&upload, &limits);
            }
            Err(e) => assert!(e.status.is_client_error(), "status {} for a bad form", e.status),
        }
    });
});
