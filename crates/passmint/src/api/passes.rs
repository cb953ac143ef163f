//! Passes (SPEC 2.2, 8): issue one or many from a template, list, retrieve, download, change,
//! delete.
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::Admin;
use super::error::{ApiError, Detail, ErrorBody};
use super::pagination::PageQuery;
use super::templates::rfc3339_millis;
use super::{BASE, audit, path_id, recorded};
use crate::app::{AppState, RequestId};
use crate::domain::{
    DomainError, NewPassSpec, Operation, PassId, PassPatch, SerialNumber, SignedPass, TemplateId,
};
use crate::store::PassRecord;
use crate::wire::{PKPASS_TYPE, http_date, pass_body};

/// Cursor scope of the pass list.
const CURSOR_SCOPE: &str = "passes";
/// Largest JSON body of POST and PATCH.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Largest body of a batch (1,000 passes with their payloads).
pub const MAX_BATCH_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A pass as the API shows it. The authentication token is never part of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassJson {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub template_id: String,
    pub pass_type_identifier: String,
    pub serial_number: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    #[schema(value_type = Object)]
    pub overrides: Value,
    pub voided: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Number of devices registered for the pass.
    #[schema(minimum = 0)]
    pub registrations: i64,
    /// The holder page (`PUBLIC_URL/p/<shareToken>`, SPEC 9): send it to the pass's holder.
    #[schema(format = "uri")]
    pub share_url: String,
    /// "Save to Google Wallet" link (`<save URL>/<JWT>`), present only when Google Wallet is
    /// configured (SPEC 13).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = "uri")]
    pub google_save_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassList {
    pub data: Vec<PassJson>,
    /// Present exactly when more passes follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_cursor: Option<String>,
}

/// The passes a batch created, in item order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PassBatch {
    pub data: Vec<PassJson>,
}

/// Body of `POST B`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePass {
    #[schema(format = "uuid")]
    pub template_id: String,
    /// Values for the template's `{{placeholders}}`.
    #[schema(value_type = Object)]
    pub payload: Map<String, Value>,
    /// Default: a new UUID. 1–128 characters, no `/`, `\` or control characters.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^/\\\x00-\x1F\x7F-\x9F]+$")]
    pub serial_number: Option<String>,
    /// Merged into the top level of pass.json.
    #[schema(value_type = Option<Object>)]
    pub overrides: Option<Map<String, Value>>,
}

/// One pass of a batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchItem {
    /// Values for the template's `{{placeholders}}`.
    #[schema(value_type = Object)]
    pub payload: Map<String, Value>,
    /// Default: a new UUID. 1–128 characters, no `/`, `\` or control characters.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^/\\\x00-\x1F\x7F-\x9F]+$")]
    pub serial_number: Option<String>,
    /// Merged into the top level of pass.json.
    #[schema(value_type = Option<Object>)]
    pub overrides: Option<Map<String, Value>>,
}

/// Body of `POST B/passes/batch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePassBatch {
    #[schema(format = "uuid")]
    pub template_id: String,
    /// 1–1000 passes.
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<BatchItem>,
}

/// Body of `PATCH B/passes/{id}`: each given member replaces the stored one (`null` is the
/// same as leaving it out).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePass {
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub overrides: Option<Map<String, Value>>,
    pub voided: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Only passes of this template.
    #[param(format = "uuid")]
    pub template_id: Option<String>,
    /// 1–1000, default 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `nextCursor` from the previous page.
    pub cursor: Option<String>,
}

fn to_json(r: &PassRecord, share_url: String) -> Result<PassJson, DomainError> {
    let object = |what: &str, text: &str| {
        serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                DomainError::internal(format!("pass {}: stored {what} is not a JSON object", r.id))
            })
    };
    Ok(PassJson {
        id: r.id.clone(),
        template_id: r.template_id.clone(),
        pass_type_identifier: r.pass_type_identifier.clone(),
        serial_number: r.serial_number.clone(),
        payload: object("payload", &r.payload)?,
        overrides: object("overrides", &r.overrides)?,
        voided: r.voided,
        created_at: rfc3339_millis(r.created_at),
        updated_at: rfc3339_millis(r.updated_at),
        registrations: r.registrations,
        share_url,
        google_save_url: None,
    })
}

/// The holder page of a share token.
pub(crate) fn share_url(state: &AppState, token: &str) -> String {
    format!("{}/p/{token}", state.public_url)
}

/// The passes as the API shows them, each with its share link (created on first use) and its
/// Google Wallet save link when Google Wallet is on. A pass deleted meanwhile has no link any
/// more and is left out.
async fn pass_jsons(state: &AppState, records: &[PassRecord]) -> Result<Vec<PassJson>, ApiError> {
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let tokens = state.domain.share_tokens(&ids).await?;
    let google = state.domain.google_save_urls(records).await?;
    let mut out = Vec::with_capacity(records.len());
    for (r, google_save_url) in records.iter().zip(google) {
        if let Some(token) = tokens.get(&r.id) {
            let mut json = to_json(r, share_url(state, token))?;
            json.google_save_url = google_save_url;
            out.push(json);
        }
    }
    Ok(out)
}

/// One pass as the API shows it (see [`pass_jsons`]).
async fn pass_json(state: &AppState, record: &PassRecord) -> Result<PassJson, ApiError> {
    let token = state.domain.share_token(&record.id).await?;
    let mut json = to_json(record, share_url(state, &token))?;
    json.google_save_url = state.domain.google_save_url(record).await?;
    Ok(json)
}

/// A signed pass as a response: the `.pkpass` with its type, file name and `Last-Modified`.
fn pkpass_response(status: StatusCode, signed: SignedPass, location: Option<&str>) -> Response {
    let mut response = (status, pass_body(signed.bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PKPASS_TYPE));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", signed.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(signed.last_modified)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, v);
    }
    response
}

/// A checked template id from a body (the schema already vouched for its format).
fn template_id_of(raw: &str) -> Result<TemplateId, ApiError> {
    TemplateId::parse(raw).ok_or_else(|| {
        ApiError::bad_request(
            "the request body is invalid",
            vec![Detail::body("templateId", "must be a UUID").with_value(raw)],
        )
    })
}

fn serial_of(raw: Option<String>, param: &str) -> Result<Option<SerialNumber>, crate::domain::Problem> {
    raw.map(|s| SerialNumber::parse(&s, param)).transpose()
}

/// Issue a pass from a template.
#[utoipa::path(
    operation_id = "createPass",
    post,
    path = "/v2/credentials/compact/digital-pass/apple",
    tag = "passes",
    request_body(content = CreatePass, content_type = "application/json"),
    responses(
        (status = 201, description = "The signed pass (.pkpass); Location names the new pass", content_type = "application/vnd.apple.pkpass",
            headers(("Location" = String, description = "The new pass"), ("Last-Modified" = String, description = "HTTP date"))),
        (status = 400, description = "Invalid body, missing placeholder value or forbidden override", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 409, description = "Serial number already taken for this pass type", body = ErrorBody),
        (status = 413, description = "Body larger than 256 KiB", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let audit = audit(Operation::PASS_CREATE, &request_id);
    let result = async {
        let body: CreatePass = state.schemas.parse("CreatePass", body, MAX_BODY_BYTES)?;
        let template_id = template_id_of(&body.template_id)?;
        let serial_number = serial_of(body.serial_number, "serialNumber")
            .map_err(|p| ApiError::bad_request("the request body is invalid", vec![Detail::from(&p)]))?;
        let spec = NewPassSpec {
            payload: Value::Object(body.payload),
            serial_number,
            overrides: Value::Object(body.overrides.unwrap_or_default()),
        };
        Ok(state.domain.create_pass(&template_id, spec, &audit).await?)
    }
    .await;
    let issued = recorded(&state, &audit, result, |i| json!({ "passId": i.record.id })).await?;
    let location = format!("{BASE}/passes/{}", issued.record.id);
    Ok(pkpass_response(
        StatusCode::CREATED,
        issued.signed,
        Some(&location),
    ))
}

/// Issue up to 1,000 passes of one template at once, all or nothing (signed when first
/// fetched).
#[utoipa::path(
    operation_id = "createPassBatch",
    post,
    path = "/v2/credentials/compact/digital-pass/apple/passes/batch",
    tag = "passes",
    request_body(content = CreatePassBatch, content_type = "application/json"),
    responses(
        (status = 201, description = "Every pass created, in item order", body = PassBatch),
        (status = 400, description = "Invalid items; every problem named by item (items[3].payload…)", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 409, description = "Serial numbers taken, or used twice in the batch; named by item", body = ErrorBody),
        (status = 413, description = "Body larger than 8 MiB", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn create_batch(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let audit = audit(Operation::PASS_CREATE_BATCH, &request_id);
    let result = async {
        let body: CreatePassBatch = state
            .schemas
            .parse("CreatePassBatch", body, MAX_BATCH_BODY_BYTES)?;
        let template_id = template_id_of(&body.template_id)?;
        let mut problems = Vec::new();
        let mut items = Vec::with_capacity(body.items.len());
        for (i, item) in body.items.into_iter().enumerate() {
            let serial_number = serial_of(item.serial_number, &format!("items[{i}].serialNumber"))
                .unwrap_or_else(|p| {
                    problems.push(Detail::from(&p));
                    None
                });
            items.push(NewPassSpec {
                payload: Value::Object(item.payload),
                serial_number,
                overrides: Value::Object(item.overrides.unwrap_or_default()),
            });
        }
        if !problems.is_empty() {
            return Err(ApiError::bad_request("the request body is invalid", problems));
        }
        let records = state.domain.create_passes(&template_id, items, &audit).await?;
        Ok(PassBatch {
            data: pass_jsons(&state, &records).await?,
        })
    }
    .await;
    let batch = recorded(&state, &audit, result, |b| json!({ "count": b.data.len() })).await?;
    Ok((StatusCode::CREATED, Json(batch)).into_response())
}

/// List passes in creation order.
#[utoipa::path(
    operation_id = "listPasses",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/passes",
    tag = "passes",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of passes", body = PassList),
        (status = 400, description = "Bad templateId, limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<PassList>, ApiError> {
    let audit = audit(Operation::PASS_RETRIEVE_LIST, &request_id);
    let result = async {
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
        let template_id = match query.template_id.as_deref() {
            None => None,
            Some(raw) => Some(TemplateId::parse(raw).ok_or_else(|| {
                ApiError::bad_request(
                    "templateId must be a UUID",
                    vec![Detail::query("templateId", "must be a UUID", raw)],
                )
            })?),
        };
        let page = PageQuery {
            limit: query.limit,
            cursor: query.cursor,
        }
        .parse(state.domain.master_key(), CURSOR_SCOPE)?;
        let mut records = state
            .domain
            .list_passes(template_id.as_ref(), page.position, page.fetch())
            .await?;
        let next_cursor = page.next_cursor(&mut records, |r| r.seq, state.domain.master_key(), CURSOR_SCOPE);
        Ok(PassList {
            data: pass_jsons(&state, &records).await?,
            next_cursor,
        })
    }
    .await;
    let list = recorded(&state, &audit, result, |l| json!({ "count": l.data.len() })).await?;
    Ok(Json(list))
}

/// Retrieve a pass.
#[utoipa::path(
    operation_id = "getPass",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/passes/{passId}",
    tag = "passes",
    params(("passId" = String, Path, format = "uuid", description = "Pass id")),
    responses(
        (status = 200, description = "The pass", body = PassJson),
        (status = 400, description = "passId is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn retrieve(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<Json<PassJson>, ApiError> {
    let audit = audit(Operation::PASS_RETRIEVE, &request_id);
    let result = async {
        let id = path_id(&raw_id, PassId::parse)?;
        pass_json(&state, &state.domain.pass(&id).await?).await
    }
    .await;
    let pass = recorded(&state, &audit, result, |p| json!({ "passId": p.id })).await?;
    Ok(Json(pass))
}

/// Download the signed pass as it is now.
#[utoipa::path(
    operation_id = "downloadPass",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/passes/{passId}/pkpass",
    tag = "passes",
    params(("passId" = String, Path, format = "uuid", description = "Pass id")),
    responses(
        (status = 200, description = "The signed pass, with Last-Modified", content_type = "application/vnd.apple.pkpass",
            headers(("Last-Modified" = String, description = "HTTP date"))),
        (status = 400, description = "The pass no longer renders with its template's current revision", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn download(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    // A non-UUID can't name a pass: 404 (SPEC lists no 400 here).
    let id = PassId::parse(&raw_id).ok_or_else(|| ApiError::not_found("pass not found"))?;
    let pass = state.domain.pass(&id).await?;
    let signed = state.domain.signed_pass(&pass).await?;
    state.domain.note_download(id.as_str(), "api");
    Ok(pkpass_response(StatusCode::OK, signed, None))
}

/// Change a pass's payload, overrides or voided flag.
#[utoipa::path(
    operation_id = "changePass",
    patch,
    path = "/v2/credentials/compact/digital-pass/apple/passes/{passId}",
    tag = "passes",
    params(("passId" = String, Path, format = "uuid", description = "Pass id")),
    request_body(content = ChangePass, content_type = "application/json"),
    responses(
        (status = 200, description = "The pass after the change", body = PassJson),
        (status = 400, description = "Invalid body, missing placeholder value or forbidden override", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
        (status = 409, description = "The pass kept changing concurrently; try again", body = ErrorBody),
        (status = 413, description = "Body larger than 256 KiB", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn change(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PassJson>, ApiError> {
    let audit = audit(Operation::PASS_UPDATE, &request_id);
    let result = async {
        let id = path_id(&raw_id, PassId::parse)?;
        let body: ChangePass = state.schemas.parse("ChangePass", body, MAX_BODY_BYTES)?;
        let patch = PassPatch {
            payload: body.payload.map(Value::Object),
            overrides: body.overrides.map(Value::Object),
            voided: body.voided,
        };
        let (record, updated) = state.domain.change_pass(&id, patch).await?;
        Ok((pass_json(&state, &record).await?, updated))
    }
    .await;
    let (pass, _) = recorded(
        &state,
        &audit,
        result,
        |(p, updated)| json!({ "passId": p.id, "updated": updated }),
    )
    .await?;
    Ok(Json(pass))
}

/// Delete a pass and its device registrations.
#[utoipa::path(
    operation_id = "deletePass",
    delete,
    path = "/v2/credentials/compact/digital-pass/apple/passes/{passId}",
    tag = "passes",
    params(("passId" = String, Path, format = "uuid", description = "Pass id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let audit = audit(Operation::PASS_DELETE, &request_id);
    let result = async {
        let id = PassId::parse(&raw_id).ok_or_else(|| ApiError::not_found("pass not found"))?;
        state.domain.delete_pass(&id).await?;
        Ok(id)
    }
    .await;
    recorded(&state, &audit, result, |id| json!({ "passId": id.as_str() })).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a pass's share link: the old `shareUrl` answers 404 from now on.
#[utoipa::path(
    operation_id = "replacePassShareLink",
    post,
    path = "/v2/credentials/compact/digital-pass/apple/passes/{passId}/share",
    tag = "passes",
    params(("passId" = String, Path, format = "uuid", description = "Pass id")),
    responses(
        (status = 200, description = "The pass with its new shareUrl", body = PassJson),
        (status = 400, description = "passId is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn replace_share(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<Json<PassJson>, ApiError> {
    let audit = audit(Operation::PASS_SHARE_UPDATE, &request_id);
    let result = async {
        let id = path_id(&raw_id, PassId::parse)?;
        let (record, token) = state.domain.replace_share_token(&id).await?;
        let mut json = to_json(&record, share_url(&state, &token))?;
        json.google_save_url = state.domain.google_save_url(&record).await?;
        Ok(json)
    }
    .await;
    let pass = recorded(&state, &audit, result, |p| json!({ "passId": p.id })).await?;
    Ok(Json(pass))
}
