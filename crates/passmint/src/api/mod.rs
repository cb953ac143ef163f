//! The management API (SPEC 2, 8): templates, passes and events. Each module owns its request
//! and response types (the same types `/openapi.json` documents); errors map to the wire in
//! `error.rs` only. Handlers parse, call the domain, and shape the answer.
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::app::{AppState, RequestId};
use crate::domain::events::failure_data;
use crate::domain::{Audit, Operation};

pub mod auth;
pub mod body;
pub mod bundles;
pub mod error;
pub mod events;
pub mod form;
pub mod insight;
pub mod openapi;
pub mod pagination;
pub mod passes;
pub mod templates;
pub mod webhooks;

/// Base path of the pass API.
pub const BASE: &str = "/v2/credentials/compact/digital-pass/apple";

/// Room for the PEM fields, name, and multipart framing around the template .zip.
const FORM_OVERHEAD_BYTES: u64 = 512 * 1024;

/// The request bodies validated against their published schemas (see `body.rs`).
pub const BODY_SCHEMAS: &[&str] = &[
    "CreatePass",
    "ChangePass",
    "CreatePassBatch",
    "CreateWebhook",
    "CreateBundle",
];

pub fn router(state: &AppState) -> Router<AppState> {
    let body_limit =
        usize::try_from(state.settings.max_template_bytes + FORM_OVERHEAD_BYTES).unwrap_or(usize::MAX);
    Router::new()
        .route(
            &format!("{BASE}/templates"),
            get(templates::list).post(templates::create),
        )
        .route(
            &format!("{BASE}/templates/{{id}}"),
            get(templates::retrieve)
                .put(templates::replace)
                .delete(templates::delete),
        )
        .route(
            &format!("{BASE}/templates/{{id}}/rollouts/{{rolloutId}}"),
            get(templates::rollout),
        )
        .route(&format!("{BASE}/templates/{{id}}/stats"), get(insight::stats))
        .layer(DefaultBodyLimit::max(body_limit))
        .route("/v2/events", get(events::list))
        .merge(passes_router())
        .merge(webhooks_router())
}

fn webhooks_router() -> Router<AppState> {
    Router::new()
        .route("/v2/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v2/webhooks/{id}",
            get(webhooks::retrieve).delete(webhooks::delete),
        )
        .route("/v2/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .layer(DefaultBodyLimit::max(webhooks::MAX_BODY_BYTES))
}

fn passes_router() -> Router<AppState> {
    Router::new()
        .route(BASE, post(passes::create))
        .route(&format!("{BASE}/passes"), get(passes::list))
        .route(
            &format!("{BASE}/passes/{{id}}"),
            get(passes::retrieve).patch(passes::change).delete(passes::delete),
        )
        .route(&format!("{BASE}/passes/{{id}}/pkpass"), get(passes::download))
        .route(&format!("{BASE}/passes/{{id}}/timeline"), get(insight::timeline))
        .route(
            &format!("{BASE}/passes/{{id}}/share"),
            post(passes::replace_share),
        )
        .route(&format!("{BASE}/bundles"), post(bundles::create))
        .route(
            &format!("{BASE}/bundles/{{id}}"),
            get(bundles::retrieve).delete(bundles::delete),
        )
        .layer(DefaultBodyLimit::max(passes::MAX_BODY_BYTES))
        .merge(
            Router::new()
                .route(&format!("{BASE}/passes/batch"), post(passes::create_batch))
                .layer(DefaultBodyLimit::max(passes::MAX_BATCH_BODY_BYTES)),
        )
}

/// Begins the audit trail of one management operation under the request's id.
pub(crate) fn audit(op: Operation, request_id: &RequestId) -> Audit {
    Audit::begin(op, request_id.0.clone())
}

/// Ends one management operation's audit trail: `…_START` and `…_SUCCESS` (with what
/// `success` says of the result) or `…_FAIL` (with the error's code and the parameters at
/// fault), unless the domain already wrote them with its change. Every handler goes through
/// here, so no operation can skip its events.
pub(crate) async fn recorded<T>(
    state: &AppState,
    audit: &Audit,
    result: Result<T, error::ApiError>,
    success: impl FnOnce(&T) -> serde_json::Value,
) -> Result<T, error::ApiError> {
    let outcome = match &result {
        Ok(value) => Ok(success(value)),
        Err(e) => {
            let params: Vec<&str> = e.details.iter().map(|d| d.param.as_str()).collect();
            Err(failure_data(e.code(), e.status.as_u16(), &params))
        }
    };
    state.domain.events().finish(audit, outcome).await;
    result
}

/// The canonical form of a path id, or 400 if it isn't a UUID.
pub(crate) fn path_id<T>(raw: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, error::ApiError> {
    parse(raw).ok_or_else(|| {
        error::ApiError::bad_request(
            "id must be a UUID",
            vec![error::Detail::path("id", "must be a UUID", raw)],
        )
    })
}
