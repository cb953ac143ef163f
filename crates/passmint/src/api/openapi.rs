//! The management API's OpenAPI 3.1 document: generated from the handlers' annotations and the
//! request and response types themselves, then given its links and the upload form's name rule.
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "passmint",
        description = "Self-hosted Apple Wallet pass server: MATTR-compatible template API."
    ),
    paths(
        crate::api::templates::create,
        crate::api::templates::list,
        crate::api::templates::retrieve,
        crate::api::templates::replace,
        crate::api::templates::delete,
        crate::api::templates::rollout,
        crate::api::insight::stats,
        crate::api::passes::create,
        crate::api::passes::create_batch,
        crate::api::passes::list,
        crate::api::passes::retrieve,
        crate::api::passes::download,
        crate::api::passes::change,
        crate::api::passes::delete,
        crate::api::insight::timeline,
        crate::api::passes::replace_share,
        crate::api::bundles::create,
        crate::api::bundles::retrieve,
        crate::api::bundles::delete,
        crate::api::events::list,
        crate::api::webhooks::create,
        crate::api::webhooks::list,
        crate::api::webhooks::retrieve,
        crate::api::webhooks::delete,
        crate::api::webhooks::deliveries,
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
/// validated against (`super::body`), so what it says is what the server does.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    add_links(&mut doc);
    // Unknown multipart fields are ignored (as MATTR does), but only fields with token names can
    // be sent at all: a name with control characters breaks the part's header.
    if let Some(form) = doc.pointer_mut("/components/schemas/TemplateUploadForm") {
        form["propertyNames"] = serde_json::json!({ "pattern": "^[A-Za-z0-9_.-]+$" });
    }
    // A bundle's passes are UUIDs (distinct ones naming passes: the server names the one that
    // isn't, as `passIds[i]`, which `uniqueItems` could not).
    if let Some(ids) = doc.pointer_mut("/components/schemas/CreateBundle/properties/passIds") {
        ids["items"] = serde_json::json!({ "type": "string", "format": "uuid" });
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

const CREATE_LINKS: [CreateLinks; 4] = [
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
            ("ReplacePassShareLink", "replacePassShareLink"),
        ],
    },
    CreateLinks {
        path: "/v2/credentials/compact/digital-pass/apple/bundles",
        parameter: "bundleId",
        value: "$response.body#/id",
        targets: &[("GetBundle", "getBundle"), ("DeleteBundle", "deleteBundle")],
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
