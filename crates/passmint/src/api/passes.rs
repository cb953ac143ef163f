//! Passes (SPEC 2.2): issue from a template, list, retrieve, download, change, delete.
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pkpass::RenderError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::BASE;
use super::auth::Admin;
use super::error::{ApiError, Detail, ErrorBody};
use super::pagination::PageQuery;
use super::recorded;
use super::templates::{parse_id, rfc3339_millis};
use crate::app::{AppState, RequestId};
use crate::events::Operation;
use crate::issuing::{self, IssueError, PassContent};
use crate::store::{ChangeOutcome, NewPass, PassChange, PassRecord, StoreError};

/// Cursor scope of the pass list.
const CURSOR_SCOPE: &str = "passes";
/// Largest JSON body of POST and PATCH.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest serial number accepted (it travels in PassKit URL paths).
pub const MAX_SERIAL_CHARS: usize = 128;
/// How often a PATCH that raced another write is retried before giving up with 409.
const PATCH_ATTEMPTS: usize = 5;

pub const PKPASS_TYPE: &str = "application/vnd.apple.pkpass";

/// A pass as the API shows it. The authentication token is never part of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassJson {
    pub id: String,
    pub template_id: String,
    pub pass_type_identifier: String,
    pub serial_number: String,
    pub payload: Value,
    pub overrides: Value,
    pub voided: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Number of devices registered for the pass.
    pub registrations: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassList {
    pub data: Vec<PassJson>,
    /// Present exactly when more passes follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Body of `POST B`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct CreatePass {
    template_id: String,
    /// Values for the template's `{{placeholders}}`.
    #[schema(value_type = Object)]
    payload: Value,
    /// Default: a new UUID. 1–128 characters, no `/` or control characters.
    serial_number: Option<String>,
    /// Merged into the top level of pass.json.
    #[schema(value_type = Option<Object>)]
    overrides: Option<Value>,
}

/// Body of `PATCH B/passes/{id}`: each given member replaces the stored one.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ChangePass {
    #[schema(value_type = Option<Object>)]
    payload: Option<Value>,
    #[schema(value_type = Option<Object>)]
    overrides: Option<Value>,
    voided: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Only passes of this template.
    pub template_id: Option<String>,
    /// 1–1000, default 100.
    pub limit: Option<String>,
    /// `nextCursor` from the previous page.
    pub cursor: Option<String>,
}

fn to_json(r: &PassRecord) -> PassJson {
    PassJson {
        id: r.id.clone(),
        template_id: r.template_id.clone(),
        pass_type_identifier: r.pass_type_identifier.clone(),
        serial_number: r.serial_number.clone(),
        payload: serde_json::from_str(&r.payload).unwrap_or(Value::Null),
        overrides: serde_json::from_str(&r.overrides).unwrap_or(Value::Null),
        voided: r.voided,
        created_at: rfc3339_millis(r.created_at),
        updated_at: rfc3339_millis(r.updated_at),
        registrations: r.registrations,
    }
}

/// Maps a rendering/signing failure to the API: the caller's payload or overrides are 400s
/// naming every problem; anything else is the server's.
pub fn issue_error(error: IssueError) -> ApiError {
    match error {
        IssueError::Render(RenderError::MissingPlaceholders(problems)) => ApiError::bad_request(
            "the payload has no value for some placeholders",
            problems
                .iter()
                .map(|p| {
                    Detail::body(
                        "payload",
                        format!(
                            "no value for placeholder {{{{ {} }}}} ({})",
                            p.message, p.location
                        ),
                    )
                })
                .collect(),
        ),
        IssueError::Render(RenderError::InvalidOverrides(problems)) => ApiError::bad_request(
            "the overrides are invalid",
            problems
                .iter()
                .map(|p| Detail::body("overrides", format!("{}: {}", p.location, p.message)))
                .collect(),
        ),
        IssueError::Store(e) | IssueError::Signer(crate::signer::SignerError::Store(e)) => e.into(),
        other => {
            tracing::error!(error = %other, "rendering or signing a pass failed");
            ApiError::internal()
        }
    }
}

fn body_or_error(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(format!("the body must be at most {MAX_BODY_BYTES} bytes"))
        } else {
            ApiError::bad_request(e.body_text(), Vec::new())
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "the body must be a JSON object",
            vec![Detail::body("body", format!("not JSON: {e}"))],
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body must be a JSON object",
            vec![Detail::body("body", "must be a JSON object")],
        ));
    }
    Ok(value)
}

fn check_serial(serial: &str) -> Option<String> {
    if serial.is_empty() || serial.chars().count() > MAX_SERIAL_CHARS {
        return Some(format!("must be 1 to {MAX_SERIAL_CHARS} characters"));
    }
    if serial.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Some("must not contain '/', '\\\\' or control characters".into());
    }
    None
}

/// An optional JSON-object member: `Ok(None)` when absent, a detail when not an object.
fn object_member(body: &Map<String, Value>, name: &str, details: &mut Vec<Detail>) -> Option<Value> {
    match body.get(name) {
        None => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => {
            details.push(Detail::body(name, "must be a JSON object"));
            None
        }
    }
}

fn unknown_members(body: &Map<String, Value>, known: &[&str], details: &mut Vec<Detail>) {
    for key in body.keys().filter(|k| !known.contains(&k.as_str())) {
        details.push(Detail::body(key, "is not a known member"));
    }
}

fn pkpass_response(status: StatusCode, bytes: Vec<u8>, file_name: &str, last_modified: i64) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PKPASS_TYPE));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(last_modified)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    (status, headers, bytes).into_response()
}

/// Unix seconds as an HTTP date.
pub fn http_date(secs: i64) -> String {
    let secs = u64::try_from(secs).unwrap_or(0);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Issue a pass from a template.
#[utoipa::path(
    post,
    path = "/v2/credentials/compact/digital-pass/apple",
    tag = "passes",
    request_body(content = CreatePass, content_type = "application/json"),
    responses(
        (status = 201, description = "The signed pass (.pkpass); Location names the new pass", content_type = "application/vnd.apple.pkpass"),
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
    let op = Operation::PASS_CREATE;
    let work = async {
        let body = body_or_error(body)?;
        let Value::Object(body) = body else {
            return Err(ApiError::internal());
        };
        let mut details = Vec::new();
        unknown_members(
            &body,
            &["templateId", "payload", "serialNumber", "overrides"],
            &mut details,
        );
        let template_id = match body.get("templateId") {
            Some(Value::String(s)) => match uuid::Uuid::parse_str(s) {
                Ok(u) => Some(u.hyphenated().to_string()),
                Err(_) => {
                    details.push(Detail::body("templateId", "must be a UUID").with_value(s));
                    None
                }
            },
            Some(_) => {
                details.push(Detail::body("templateId", "must be a string (a UUID)"));
                None
            }
            None => {
                details.push(Detail::body("templateId", "is required"));
                None
            }
        };
        let payload = object_member(&body, "payload", &mut details);
        if payload.is_none() && !body.contains_key("payload") {
            details.push(Detail::body("payload", "is required"));
        }
        let overrides = object_member(&body, "overrides", &mut details);
        let serial_number = match body.get("serialNumber") {
            None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
            Some(Value::String(s)) => {
                if let Some(msg) = check_serial(s) {
                    details.push(Detail::body("serialNumber", msg));
                }
                s.clone()
            }
            Some(_) => {
                details.push(Detail::body("serialNumber", "must be a string"));
                String::new()
            }
        };
        let (Some(template_id), Some(payload), true) = (template_id, payload, details.is_empty()) else {
            return Err(ApiError::bad_request("the pass request is invalid", details));
        };
        let record = state
            .store
            .get_template(&template_id)
            .await?
            .ok_or_else(|| ApiError::not_found("template not found"))?;
        let loaded = issuing::template(&state, &template_id)
            .await
            .map_err(issue_error)?
            .ok_or_else(|| ApiError::not_found("template not found"))?;
        let overrides = overrides.unwrap_or_else(|| Value::Object(Map::new()));
        let content = PassContent {
            serial_number: serial_number.clone(),
            auth_token: issuing::new_auth_token(),
            payload: payload.clone(),
            overrides: overrides.clone(),
            voided: false,
        };
        let auth_token = content.auth_token.clone();
        let (bytes, fingerprint) = issuing::sign(loaded.clone(), issuing::web_service_url(&state), content)
            .await
            .map_err(issue_error)?;
        let new = NewPass {
            id: uuid::Uuid::new_v4().to_string(),
            template_id: template_id.clone(),
            pass_type_identifier: loaded.pass_type_identifier.clone(),
            serial_number,
            auth_token,
            payload: payload.to_string(),
            overrides: overrides.to_string(),
            voided: false,
            fingerprint: fingerprint.to_vec(),
        };
        let pass = state.store.insert_pass(&new).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict("a pass with this serialNumber already exists for this pass type")
            }
            other => other.into(),
        })?;
        Ok((pass, record.file_name, bytes))
    };
    let (pass, file_name, bytes) = recorded(
        &state,
        op,
        &request_id,
        work,
        |(p, _, _)| json!({ "passId": p.id, "templateId": p.template_id }),
    )
    .await?;
    let mut response = pkpass_response(StatusCode::CREATED, bytes, &file_name, pass.last_modified);
    if let Ok(v) = HeaderValue::from_str(&format!("{BASE}/passes/{}", pass.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// List passes in issue order, optionally of one template.
#[utoipa::path(
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
    let op = Operation::PASS_RETRIEVE_LIST;
    let work = async {
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
        let template_id = match query.template_id.as_deref() {
            None => None,
            Some(raw) => Some(
                uuid::Uuid::parse_str(raw)
                    .map(|u| u.hyphenated().to_string())
                    .map_err(|_| {
                        ApiError::bad_request(
                            "templateId must be a UUID",
                            vec![Detail::query("templateId", "must be a UUID", raw)],
                        )
                    })?,
            ),
        };
        let page = PageQuery {
            limit: query.limit,
            cursor: query.cursor,
        }
        .parse(&state.master_key, CURSOR_SCOPE)?;
        let mut records = state
            .store
            .list_passes(template_id.as_deref(), page.position, page.fetch())
            .await?;
        let next_cursor = page.next_cursor(&mut records, |r| r.seq, &state.master_key, CURSOR_SCOPE);
        Ok(PassList {
            data: records.iter().map(to_json).collect(),
            next_cursor,
        })
    };
    let body = recorded(
        &state,
        op,
        &request_id,
        work,
        |l| json!({ "count": l.data.len() }),
    )
    .await?;
    Ok(Json(body))
}

/// Retrieve a pass.
#[utoipa::path(
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
    let op = Operation::PASS_RETRIEVE;
    let work = async {
        let id = parse_id(&raw_id)?;
        let pass = state
            .store
            .get_pass(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("pass not found"))?;
        Ok(to_json(&pass))
    };
    let body = recorded(&state, op, &request_id, work, |p| json!({ "passId": p.id })).await?;
    Ok(Json(body))
}

/// Download the signed pass as it is now.
#[utoipa::path(
    get,
    path = "/v2/credentials/compact/digital-pass/apple/passes/{passId}/pkpass",
    tag = "passes",
    params(("passId" = String, Path, format = "uuid", description = "Pass id")),
    responses(
        (status = 200, description = "The signed pass, with Last-Modified", content_type = "application/vnd.apple.pkpass"),
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
    let id = parse_id(&raw_id).map_err(|_| ApiError::not_found("pass not found"))?;
    let pass = state
        .store
        .get_pass(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("pass not found"))?;
    let record = state
        .store
        .get_template(&pass.template_id)
        .await?
        .ok_or_else(|| ApiError::not_found("pass not found"))?;
    let bytes = render_stored(&state, &pass).await.map_err(issue_error)?;
    Ok(pkpass_response(
        StatusCode::OK,
        bytes,
        &record.file_name,
        pass.last_modified,
    ))
}

/// Renders and signs a stored pass with its template's current revision.
pub async fn render_stored(state: &AppState, pass: &PassRecord) -> Result<Vec<u8>, IssueError> {
    let loaded = issuing::template(state, &pass.template_id)
        .await?
        .ok_or(IssueError::Store(StoreError::Setup(
            "the pass's template is gone".into(),
        )))?;
    let content = PassContent::from_stored(
        &pass.serial_number,
        &pass.auth_token,
        &pass.payload,
        &pass.overrides,
        pass.voided,
    );
    let (bytes, _) = issuing::sign(loaded, issuing::web_service_url(state), content).await?;
    Ok(bytes)
}

/// Change a pass's payload, overrides or voided flag.
#[utoipa::path(
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
    let op = Operation::PASS_UPDATE;
    let work = async {
        let id = parse_id(&raw_id)?;
        let body = body_or_error(body)?;
        let Value::Object(body) = body else {
            return Err(ApiError::internal());
        };
        let mut details = Vec::new();
        unknown_members(&body, &["payload", "overrides", "voided"], &mut details);
        let payload = object_member(&body, "payload", &mut details);
        let overrides = object_member(&body, "overrides", &mut details);
        let voided = match body.get("voided") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                details.push(Detail::body("voided", "must be true or false"));
                None
            }
        };
        if !details.is_empty() {
            return Err(ApiError::bad_request("the change is invalid", details));
        }
        for _ in 0..PATCH_ATTEMPTS {
            let pass = state
                .store
                .get_pass(&id)
                .await?
                .ok_or_else(|| ApiError::not_found("pass not found"))?;
            let loaded = issuing::template(&state, &pass.template_id)
                .await
                .map_err(issue_error)?
                .ok_or_else(|| ApiError::not_found("pass not found"))?;
            let mut content = PassContent::from_stored(
                &pass.serial_number,
                &pass.auth_token,
                &pass.payload,
                &pass.overrides,
                pass.voided,
            );
            if let Some(p) = &payload {
                content.payload = p.clone();
            }
            if let Some(o) = &overrides {
                content.overrides = o.clone();
            }
            if let Some(v) = voided {
                content.voided = v;
            }
            let new_payload = content.payload.to_string();
            let new_overrides = content.overrides.to_string();
            let new_voided = content.voided;
            let fingerprint = issuing::fingerprint(loaded, issuing::web_service_url(&state), content)
                .await
                .map_err(issue_error)?;
            let change = PassChange {
                payload: new_payload,
                overrides: new_overrides,
                voided: new_voided,
                fingerprint: fingerprint.to_vec(),
                is_update: pass.fingerprint.as_deref() != Some(fingerprint.as_slice()),
            };
            match state.store.change_pass(&pass, &change).await? {
                ChangeOutcome::Applied(record) => {
                    return Ok((to_json(&record), change.is_update));
                }
                ChangeOutcome::Missing => return Err(ApiError::not_found("pass not found")),
                ChangeOutcome::Raced => {}
            }
        }
        Err(ApiError::conflict(
            "the pass is being changed concurrently; try again",
        ))
    };
    let (body, _) = recorded(
        &state,
        op,
        &request_id,
        work,
        |(p, updated)| json!({ "passId": p.id, "updated": updated }),
    )
    .await?;
    Ok(Json(body))
}

/// Delete a pass and its device registrations.
#[utoipa::path(
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
    let op = Operation::PASS_DELETE;
    let work = async {
        let id = parse_id(&raw_id).map_err(|_| ApiError::not_found("pass not found"))?;
        if !state.store.delete_pass(&id).await? {
            return Err(ApiError::not_found("pass not found"));
        }
        Ok(id)
    };
    recorded(&state, op, &request_id, work, |id| json!({ "passId": id })).await?;
    Ok(StatusCode::NO_CONTENT)
}
