//! The management API (SPEC 2): templates, passes and events. Each module owns its request and
//! response types; errors map to the wire in `error.rs` only.
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::app::AppState;

pub mod auth;
pub mod error;
pub mod events;
pub mod form;
pub mod pagination;
pub mod passes;
pub mod templates;

/// Base path of the pass API.
pub const BASE: &str = "/v2/credentials/compact/digital-pass/apple";

/// Room for the PEM fields, name, and multipart framing around the template .zip.
const FORM_OVERHEAD_BYTES: u64 = 512 * 1024;

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
        .layer(DefaultBodyLimit::max(body_limit))
        .route("/v2/events", get(events::list))
        .merge(passes_router())
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
        .layer(DefaultBodyLimit::max(passes::MAX_BODY_BYTES))
}

/// Runs one management operation between its events: `…_START` before `work` runs, then
/// `…_SUCCESS` (with what `success` says of the result) or `…_FAIL` (with the error's code), all
/// under the request's id. Every handler goes through here so no operation can skip its events.
pub(crate) async fn recorded<T>(
    state: &AppState,
    op: crate::events::Operation,
    request_id: &crate::app::RequestId,
    work: impl std::future::Future<Output = Result<T, error::ApiError>>,
    success: impl FnOnce(&T) -> serde_json::Value,
) -> Result<T, error::ApiError> {
    use crate::events::{Phase, failure_data};
    let rid = request_id.as_str();
    state
        .events
        .operation(op, Phase::Start, rid, serde_json::json!({}))
        .await;
    let result = work.await;
    match &result {
        Ok(value) => {
            state
                .events
                .operation(op, Phase::Success, rid, success(value))
                .await
        }
        Err(error) => {
            let data = failure_data(error, serde_json::json!({}));
            state.events.operation(op, Phase::Fail, rid, data).await;
        }
    }
    result
}
