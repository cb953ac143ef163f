//! Operations endpoints (SPEC 2.4): `/healthz`, `/metrics`, `/openapi.json`, `/docs`.
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::api;
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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(templates),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "passmint",
        description = "Self-hosted Apple Wallet pass server: MATTR-compatible template API."
    ),
    paths(
        api::templates::create,
        api::templates::list,
        api::templates::retrieve,
        api::templates::replace,
        api::templates::delete,
        api::passes::create,
        api::passes::create_batch,
        api::passes::list,
        api::passes::retrieve,
        api::passes::download,
        api::passes::change,
        api::passes::delete,
        api::events::list,
        api::webhooks::create,
        api::webhooks::list,
        api::webhooks::retrieve,
        api::webhooks::delete,
        api::webhooks::deliveries,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "templates", description = "Apple pass templates"),
        (name = "passes", description = "Passes issued from templates"),
        (name = "events", description = "What happened, newest first"),
        (name = "webhooks", description = "Signed, retried notifications to your backend"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of the management API, as served and as the request bodies are
/// validated against (`api::body`), so what it says is what the server does.
pub fn openapi() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    add_links(&mut doc);
    // Unknown multipart fields are ignored (as MATTR does), but only fields with token names can
    // be sent at all: a name with control characters breaks the part's header.
    if let Some(form) = doc.pointer_mut("/components/schemas/TemplateUploadForm") {
        form["propertyNames"] = serde_json::json!({ "pattern": "^[A-Za-z0-9_.-]+$" });
    }
    doc
}

/// The operations a create's answer (POST, 201) leads to, by link name and operationId, and
/// the parameter they take from it.
struct CreateLinks {
    path: &'static str,
    parameter: &'static str,
    value: &'static str,
    targets: &'static [(&'static str, &'static str)],
}

const CREATE_LINKS: [CreateLinks; 3] = [
    CreateLinks {
        path: "/v2/credentials/compact/digital-pass/apple/templates",
        parameter: "id",
        value: "$response.body#/id",
        targets: &[
            ("GetTemplate", "getTemplate"),
            ("ReplaceTemplate", "replaceTemplate"),
            ("DeleteTemplate", "deleteTemplate"),
        ],
    },
    CreateLinks {
        path: "/v2/credentials/compact/digital-pass/apple/passes/batch",
        parameter: "passId",
        value: "$response.body#/data/0/id",
        targets: &[
            ("GetPass", "getPass"),
            ("ChangePass", "changePass"),
            ("DownloadPass", "downloadPass"),
            ("DeletePass", "deletePass"),
        ],
    },
    CreateLinks {
        path: "/v2/webhooks",
        parameter: "id",
        value: "$response.body#/id",
        targets: &[
            ("GetWebhook", "getWebhook"),
            ("ListWebhookDeliveries", "listWebhookDeliveries"),
            ("DeleteWebhook", "deleteWebhook"),
        ],
    },
];

/// What each create answers leads to: OpenAPI links, so clients (and fuzzers walking the API
/// statefully) know which id goes where.
fn add_links(doc: &mut serde_json::Value) {
    for create in &CREATE_LINKS {
        let pointer = format!("/paths/{}/post/responses/201", create.path.replace('/', "~1"));
        let Some(response) = doc.pointer_mut(&pointer) else {
            continue;
        };
        let links: serde_json::Map<String, serde_json::Value> = create
            .targets
            .iter()
            .map(|(name, operation_id)| {
                let link = serde_json::json!({
                    "operationId": operation_id,
                    "parameters": { create.parameter: create.value },
                });
                ((*name).to_string(), link)
            })
            .collect();
        response["links"] = serde_json::Value::Object(links);
    }
}

async fn openapi_json() -> Response {
    axum::Json(openapi()).into_response()
}

/// A dependency-free page listing the operations of `/openapi.json` (works offline).
async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
