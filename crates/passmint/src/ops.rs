//! Operations endpoints (SPEC 2.4): `/healthz`, `/metrics`, `/openapi.json`, `/docs`.
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

/// A dependency-free page listing the operations of `/openapi.json` (works offline).
async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
