//! Operations endpoints (SPEC 2.4, 12): `/healthz`, `/metrics`, `/openapi.json`, `/docs` (the
//! interactive API reference).
//!
//! A surface of its own: it serves the document the management API describes itself with
//! (`AppState::openapi`, made by `api::openapi` at start) without importing that surface.
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
        .route("/docs/swagger-ui-bundle.js", get(docs_bundle))
        .route("/docs/swagger-ui.css", get(docs_css))
        .route("/docs/init.js", get(docs_init))
}

/// 200 when the database answers, else 503.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.domain.healthy().await {
        Ok(()) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok"}))).into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let templates = state.domain.count_templates().await.ok();
    let mut text = state.metrics.render(templates);
    if let Ok(expiries) = state.domain.certificate_expiries().await {
        text.push_str(&crate::metrics::render_certificate_expiries(&expiries));
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The management API's OpenAPI document, built once at start (`api::openapi`).
async fn openapi_json(State(state): State<AppState>) -> Response {
    axum::Json(state.openapi.as_ref()).into_response()
}

/// The interactive API reference of `/openapi.json`: Swagger UI 5.35.0, vendored from the npm
/// registry (`swagger-ui-dist`, Apache-2.0, licence beside it in `assets/swagger-ui/`) and
/// embedded, so it works offline and loads nothing from elsewhere (its CSP allows only this
/// origin).
async fn docs() -> Response {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )],
        Html(include_str!("docs.html")),
    )
        .into_response()
}

/// A vendored asset of the API reference (the same for the binary's lifetime).
fn docs_asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

async fn docs_bundle() -> Response {
    docs_asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
    )
}

async fn docs_css() -> Response {
    docs_asset(
        "text/css; charset=utf-8",
        include_bytes!("../assets/swagger-ui/swagger-ui.css"),
    )
}

async fn docs_init() -> Response {
    docs_asset("text/javascript; charset=utf-8", include_bytes!("docs-init.js"))
}
