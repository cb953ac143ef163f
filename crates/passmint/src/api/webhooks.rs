//! Webhooks (SPEC 10): create (the secret shown once), list, retrieve, delete, and each
//! webhook's deliveries log.
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::pagination::PageQuery;
use super::templates::{Warning, rfc3339_millis};
use super::{audit, path_id, recorded};
use crate::app::{AppState, RequestId};
use crate::domain::Operation;
use crate::domain::webhooks::{NewWebhook, parse_webhook_id};
use crate::store::webhooks::{DeliveryRecord, WebhookRecord};

const CURSOR_SCOPE: &str = "webhooks";
const DELIVERIES_SCOPE: &str = "webhook-deliveries";
/// Largest create body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// An event type a webhook can receive, or `*` for all.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
pub enum WebhookEventType {
    #[serde(rename = "*")]
    All,
    #[serde(rename = "pass.created")]
    PassCreated,
    #[serde(rename = "pass.updated")]
    PassUpdated,
    #[serde(rename = "pass.voided")]
    PassVoided,
    #[serde(rename = "pass.deleted")]
    PassDeleted,
    #[serde(rename = "pass.downloaded")]
    PassDownloaded,
    #[serde(rename = "pass.installed")]
    PassInstalled,
    #[serde(rename = "pass.uninstalled")]
    PassUninstalled,
    #[serde(rename = "pass.personalized")]
    PassPersonalized,
    #[serde(rename = "device.registered")]
    DeviceRegistered,
    #[serde(rename = "device.unregistered")]
    DeviceUnregistered,
    #[serde(rename = "push.failed")]
    PushFailed,
    #[serde(rename = "template.rollout.completed")]
    TemplateRolloutCompleted,
    #[serde(rename = "template.certificate.expiring")]
    TemplateCertificateExpiring,
    #[serde(rename = "template.certificate.expired")]
    TemplateCertificateExpired,
}

/// `POST /v2/webhooks`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(rename_all = "camelCase")]
pub struct CreateWebhook {
    /// Where deliveries are POSTed: `https://` (plain `http://` is accepted with a warning).
    #[schema(max_length = 2048, pattern = r"^https?://[^\s/?#@]+([/?#]\S*)?$")]
    pub url: String,
    /// The event types to receive, or `["*"]` for all.
    #[schema(min_items = 1, max_items = 32)]
    pub events: Vec<WebhookEventType>,
    /// Only events of this template.
    #[schema(format = "uuid")]
    pub template_id: Option<String>,
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

/// A webhook as the API shows it. The secret appears only in the create answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookJson {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub template_id: Option<String>,
    pub description: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The signing secret, shown only when the webhook is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// On create only (a plain-http URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookList {
    pub data: Vec<WebhookJson>,
    /// Present exactly when more webhooks follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryJson {
    pub id: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// The receiver's HTTP status; null when none came (timeout, connection refused).
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// RFC 3339.
    pub at: String,
    /// When it is tried again (RFC 3339); null once delivered or given up.
    pub next_attempt_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryList {
    pub data: Vec<DeliveryJson>,
    /// Present exactly when more attempts follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn to_json(r: &WebhookRecord) -> WebhookJson {
    WebhookJson {
        id: r.id.clone(),
        url: r.url.clone(),
        events: serde_json::from_str(&r.events).unwrap_or_default(),
        template_id: r.template_id.clone(),
        description: r.description.clone(),
        created_at: rfc3339_millis(r.created_at),
        secret: None,
        warnings: None,
    }
}

fn delivery_json(d: &DeliveryRecord) -> DeliveryJson {
    DeliveryJson {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        attempt: d.attempt,
        status: d.status,
        error: d.error.clone(),
        duration_ms: d.duration_ms,
        at: rfc3339_millis(d.at),
        next_attempt_at: d.next_attempt_at.map(rfc3339_millis),
    }
}

fn event_type_name(t: WebhookEventType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Create a webhook; its signing secret is in this answer only.
#[utoipa::path(
    operation_id = "createWebhook",
    post,
    path = "/v2/webhooks",
    tag = "webhooks",
    request_body(content = CreateWebhook, content_type = "application/json"),
    responses(
        (status = 201, description = "The webhook, with its secret (shown only here)", body = WebhookJson),
        (status = 400, description = "Bad URL, unknown event type, bad or unknown templateId", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let audit = audit(Operation::WEBHOOK_CREATE, &request_id);
    let result = async {
        let body: CreateWebhook = state.schemas.parse("CreateWebhook", body, MAX_BODY_BYTES)?;
        let created = state
            .domain
            .create_webhook(NewWebhook {
                url: body.url,
                events: body.events.into_iter().map(event_type_name).collect(),
                template_id: body.template_id,
                description: body.description,
            })
            .await?;
        let mut json = to_json(&created.record);
        json.secret = Some(created.secret);
        json.warnings = Some(
            created
                .warnings
                .into_iter()
                .map(|w| Warning {
                    param: w.param,
                    msg: w.msg,
                })
                .collect(),
        );
        Ok(json)
    }
    .await;
    let body = recorded(&state, &audit, result, |w| json!({ "webhookId": w.id })).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// List webhooks in creation order.
#[utoipa::path(
    operation_id = "listWebhooks",
    get,
    path = "/v2/webhooks",
    tag = "webhooks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of webhooks", body = WebhookList),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<WebhookList>, ApiError> {
    let audit = audit(Operation::WEBHOOK_RETRIEVE_LIST, &request_id);
    let result = async {
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
        let key = state.domain.master_key();
        let page = query.parse(key, CURSOR_SCOPE)?;
        let mut records = state.domain.list_webhooks(page.position, page.fetch()).await?;
        let next_cursor = page.next_cursor(&mut records, |r| r.seq, key, CURSOR_SCOPE);
        Ok(WebhookList {
            data: records.iter().map(to_json).collect(),
            next_cursor,
        })
    }
    .await;
    let body = recorded(&state, &audit, result, |l| json!({ "count": l.data.len() })).await?;
    Ok(Json(body))
}

/// Retrieve a webhook (without its secret).
#[utoipa::path(
    operation_id = "getWebhook",
    get,
    path = "/v2/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, format = "uuid", description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookJson),
        (status = 400, description = "id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn retrieve(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<Json<WebhookJson>, ApiError> {
    let audit = audit(Operation::WEBHOOK_RETRIEVE, &request_id);
    let result = async {
        let id = path_id(&raw_id, parse_webhook_id)?;
        Ok(to_json(&state.domain.webhook(&id).await?))
    }
    .await;
    let body = recorded(&state, &audit, result, |w| json!({ "webhookId": w.id })).await?;
    Ok(Json(body))
}

/// Delete a webhook, its queued deliveries and its log.
#[utoipa::path(
    operation_id = "deleteWebhook",
    delete,
    path = "/v2/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, format = "uuid", description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let audit = audit(Operation::WEBHOOK_DELETE, &request_id);
    let result = async {
        let id = path_id(&raw_id, parse_webhook_id)?;
        state.domain.delete_webhook(&id).await?;
        Ok(id)
    }
    .await;
    recorded(&state, &audit, result, |id| json!({ "webhookId": id })).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's delivery attempts, newest first.
#[utoipa::path(
    operation_id = "listWebhookDeliveries",
    get,
    path = "/v2/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path, format = "uuid", description = "Webhook id"), PageQuery),
    responses(
        (status = 200, description = "A page of delivery attempts", body = DeliveryList),
        (status = 400, description = "id is not a UUID, bad limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let audit = audit(Operation::WEBHOOK_DELIVERY_RETRIEVE_LIST, &request_id);
    let result = async {
        let id = path_id(&raw_id, parse_webhook_id)?;
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
        let key = state.domain.master_key();
        let page = query.parse(key, DELIVERIES_SCOPE)?;
        let mut records = state
            .domain
            .webhook_deliveries(&id, page.position, page.fetch())
            .await?;
        let next_cursor = page.next_cursor(&mut records, |r| r.seq, key, DELIVERIES_SCOPE);
        Ok(DeliveryList {
            data: records.iter().map(delivery_json).collect(),
            next_cursor,
        })
    }
    .await;
    let body = recorded(&state, &audit, result, |l| json!({ "count": l.data.len() })).await?;
    Ok(Json(body))
}
