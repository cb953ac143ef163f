//! Templates (SPEC 2.1, MATTR's API): create, list, retrieve, replace, delete.
use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::form;
use super::pagination::PageQuery;
use super::{audit, path_id, recorded};
use crate::app::{AppState, RequestId};
use crate::domain::{self, Operation, RolloutId, TemplateId};
use crate::store::{RolloutRecord, TemplateRecord};

/// Cursor scope of the template list.
const CURSOR_SCOPE: &str = "templates";

/// A finding that doesn't stop the template.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Warning {
    pub param: String,
    pub msg: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    pub file_name: String,
    pub team_identifier: String,
    pub pass_type_identifier: String,
    /// The signer certificate's `notAfter` (RFC 3339).
    pub certificate_expires_at: String,
}

/// A template as the API shows it. Key material is never part of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateJson {
    pub id: String,
    /// Always `apple`.
    pub pass_type: String,
    pub name: String,
    pub metadata: TemplateMetadata,
    pub created_at: String,
    pub updated_at: String,
    /// The latest rollout (SPEC 7); absent for a template never replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutJson>,
    /// On create and replace only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
}

/// A template rollout: the passes of a replaced template brought up to date in the background.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutJson {
    #[schema(format = "uuid")]
    pub id: String,
    /// The template revision rolled out (1 is the created template, +1 per replace).
    pub revision: i64,
    pub status: RolloutStatus,
    /// Passes of the template: when the PUT committed while running, those checked once done.
    pub passes_total: i64,
    /// Passes looked at so far.
    pub passes_checked: i64,
    /// Passes whose rendering changed: each got a new update tag and its devices a push.
    pub passes_updated: i64,
    /// Passes that no longer render with the new revision (their payload lacks a value the
    /// template now uses); they count as updated, and fetching them fails until PATCHed.
    pub passes_failed: i64,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339; null while running.
    pub finished_at: Option<String>,
}

/// `running` until every pass was checked (`done`), or until a newer replace took over
/// (`superseded`: the newer rollout covers every pass).
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutStatus {
    Running,
    Done,
    Superseded,
}

fn rollout_json(r: &RolloutRecord) -> RolloutJson {
    RolloutJson {
        id: r.id.clone(),
        revision: r.revision,
        status: match r.status.as_str() {
            "done" => RolloutStatus::Done,
            "superseded" => RolloutStatus::Superseded,
            _ => RolloutStatus::Running,
        },
        passes_total: r.passes_total,
        passes_checked: r.passes_checked,
        passes_updated: r.passes_updated,
        passes_failed: r.passes_failed,
        started_at: rfc3339_millis(r.started_at),
        finished_at: r.finished_at.map(rfc3339_millis),
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateList {
    pub data: Vec<TemplateJson>,
    /// Present exactly when more templates follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The multipart form of create and replace (all fields required). The form is read as a
/// stream (the .zip can be a megabyte) into the domain's `TemplateUpload`, whose
/// `check_fields` applies these same rules; `the_upload_form_schema_states_the_field_rules`
/// keeps the two in step.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct TemplateUploadForm {
    /// The template .zip.
    #[schema(value_type = String, format = Binary)]
    template: Vec<u8>,
    /// 1–1024 characters.
    #[schema(min_length = 1, max_length = 1024)]
    name: String,
    /// 1–100 characters of `A–Z a–z 0–9 _ -`, ending `.pkpass`.
    #[schema(max_length = 100, pattern = r"^[A-Za-z0-9_-]+\.pkpass$")]
    file_name: String,
    /// The certificate's `OU`; no surrounding spaces or control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\s\x00-\x1F\x7F-\x9F](?:[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F])?$"
    )]
    team_identifier: String,
    /// The certificate's `UID`; no surrounding spaces or control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\s\x00-\x1F\x7F-\x9F](?:[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F])?$"
    )]
    pass_type_identifier: String,
    /// Apple WWDR intermediate certificate (PEM).
    #[schema(pattern = r"\S")]
    wwdr: String,
    /// Pass type certificate (PEM).
    #[schema(pattern = r"\S")]
    signer_cert: String,
    /// Its private key (PEM; PKCS#8 encrypted, legacy encrypted, or plain).
    #[schema(pattern = r"\S")]
    signer_key: String,
    /// Passphrase of the key (ignored for a plain key).
    signer_key_passphrase: String,
}

/// Milliseconds since the epoch as RFC 3339.
pub fn rfc3339_millis(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn to_json(
    record: &TemplateRecord,
    rollout: Option<&RolloutRecord>,
    warnings: Option<Vec<Warning>>,
) -> TemplateJson {
    TemplateJson {
        id: record.id.clone(),
        pass_type: "apple".into(),
        name: record.name.clone(),
        metadata: TemplateMetadata {
            file_name: record.file_name.clone(),
            team_identifier: record.team_identifier.clone(),
            pass_type_identifier: record.pass_type_identifier.clone(),
            certificate_expires_at: rfc3339_millis(record.certificate_expires_at * 1000),
        },
        created_at: rfc3339_millis(record.created_at),
        updated_at: rfc3339_millis(record.updated_at),
        rollout: rollout.map(rollout_json),
        warnings,
    }
}

fn warnings_json(warnings: Vec<domain::Warning>) -> Vec<Warning> {
    warnings
        .into_iter()
        .map(|w| Warning {
            param: w.param,
            msg: w.msg,
        })
        .collect()
}

fn multipart_or_400(m: Result<Multipart, MultipartRejection>) -> Result<Multipart, ApiError> {
    m.map_err(|e| {
        ApiError::bad_request(
            format!("expected a multipart/form-data body: {}", e.body_text()),
            Vec::new(),
        )
    })
}

/// Create a template.
#[utoipa::path(
    operation_id = "createTemplate",
    post,
    path = "/v2/credentials/compact/digital-pass/apple/templates",
    tag = "templates",
    request_body(content = TemplateUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Template created", body = TemplateJson),
        (status = 400, description = "Invalid upload; every problem in details", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 413, description = "Template larger than PASSMINT_MAX_TEMPLATE_BYTES", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let audit = audit(Operation::TEMPLATE_CREATE, &request_id);
    let result = async {
        let upload = form::read(multipart_or_400(multipart)?, state.settings.max_template_bytes).await?;
        let (record, warnings) = state.domain.create_template(upload).await?;
        Ok(to_json(&record, None, Some(warnings_json(warnings))))
    }
    .await;
    let body = recorded(&state, &audit, result, |t| json!({ "templateId": t.id })).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// List templates in creation order.
#[utoipa::path(
    operation_id = "listTemplates",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/templates",
    tag = "templates",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of templates", body = TemplateList),
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
) -> Result<Json<TemplateList>, ApiError> {
    let audit = audit(Operation::TEMPLATE_RETRIEVE_LIST, &request_id);
    let result = async {
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
        let key = state.domain.master_key();
        let page = query.parse(key, CURSOR_SCOPE)?;
        let mut records = state.domain.list_templates(page.position, page.fetch()).await?;
        let next_cursor = page.next_cursor(&mut records, |r| r.seq, key, CURSOR_SCOPE);
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let rollouts = state.domain.latest_rollouts(&ids).await?;
        let latest = |id: &str| rollouts.iter().find(|r| r.template_id == id);
        Ok(TemplateList {
            data: records.iter().map(|r| to_json(r, latest(&r.id), None)).collect(),
            next_cursor,
        })
    }
    .await;
    let body = recorded(&state, &audit, result, |l| json!({ "count": l.data.len() })).await?;
    Ok(Json(body))
}

/// Retrieve a template.
#[utoipa::path(
    operation_id = "getTemplate",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/templates/{id}",
    tag = "templates",
    params(("id" = String, Path, format = "uuid", description = "Template id")),
    responses(
        (status = 200, description = "The template", body = TemplateJson),
        (status = 400, description = "id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn retrieve(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<Json<TemplateJson>, ApiError> {
    let audit = audit(Operation::TEMPLATE_RETRIEVE, &request_id);
    let result = async {
        let id = path_id(&raw_id, TemplateId::parse)?;
        let record = state.domain.template(&id).await?;
        let rollouts = state.domain.latest_rollouts(&[record.id.as_str()]).await?;
        Ok(to_json(&record, rollouts.first(), None))
    }
    .await;
    let body = recorded(&state, &audit, result, |t| json!({ "templateId": t.id })).await?;
    Ok(Json(body))
}

/// Replace a template (all fields again).
#[utoipa::path(
    operation_id = "replaceTemplate",
    put,
    path = "/v2/credentials/compact/digital-pass/apple/templates/{id}",
    tag = "templates",
    params(("id" = String, Path, format = "uuid", description = "Template id")),
    request_body(content = TemplateUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Template replaced", body = TemplateJson),
        (status = 400, description = "Invalid upload or id", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 409, description = "passTypeIdentifier or teamIdentifier differs while the template has passes", body = ErrorBody),
        (status = 413, description = "Template larger than PASSMINT_MAX_TEMPLATE_BYTES", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn replace(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<TemplateJson>, ApiError> {
    let audit = audit(Operation::TEMPLATE_UPDATE, &request_id);
    let result = async {
        let id = path_id(&raw_id, TemplateId::parse)?;
        // Read the body first so every answer leaves the connection clean.
        let upload = form::read(multipart_or_400(multipart)?, state.settings.max_template_bytes).await?;
        let (record, warnings, rollout) = state
            .domain
            .replace_template(&id, upload, request_id.as_str())
            .await?;
        Ok(to_json(&record, Some(&rollout), Some(warnings_json(warnings))))
    }
    .await;
    let body = recorded(&state, &audit, result, |t| json!({ "templateId": t.id })).await?;
    Ok(Json(body))
}

/// Retrieve one rollout of a template.
#[utoipa::path(
    operation_id = "getTemplateRollout",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/templates/{id}/rollouts/{rolloutId}",
    tag = "templates",
    params(
        ("id" = String, Path, format = "uuid", description = "Template id"),
        ("rolloutId" = String, Path, format = "uuid", description = "Rollout id (the template's `rollout.id`)"),
    ),
    responses(
        (status = 200, description = "The rollout", body = RolloutJson),
        (status = 400, description = "id or rolloutId is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such template, or no such rollout of it", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn rollout(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path((raw_id, raw_rollout)): Path<(String, String)>,
) -> Result<Json<RolloutJson>, ApiError> {
    let audit = audit(Operation::TEMPLATE_ROLLOUT_RETRIEVE, &request_id);
    let result = async {
        let id = path_id(&raw_id, TemplateId::parse)?;
        let rollout_id = RolloutId::parse(&raw_rollout).ok_or_else(|| {
            ApiError::bad_request(
                "rolloutId must be a UUID",
                vec![super::error::Detail::path(
                    "rolloutId",
                    "must be a UUID",
                    &raw_rollout,
                )],
            )
        })?;
        Ok(rollout_json(
            &state.domain.rollout(&id, rollout_id.as_str()).await?,
        ))
    }
    .await;
    let body = recorded(&state, &audit, result, |r| json!({ "rolloutId": r.id })).await?;
    Ok(Json(body))
}

/// Delete a template, its passes and their registrations.
#[utoipa::path(
    operation_id = "deleteTemplate",
    delete,
    path = "/v2/credentials/compact/digital-pass/apple/templates/{id}",
    tag = "templates",
    params(("id" = String, Path, format = "uuid", description = "Template id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "id is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let audit = audit(Operation::TEMPLATE_DELETE, &request_id);
    let result = async {
        let id = path_id(&raw_id, TemplateId::parse)?;
        state.domain.delete_template(&id).await?;
        Ok(id)
    }
    .await;
    recorded(&state, &audit, result, |id| json!({ "templateId": id.as_str() })).await?;
    Ok(StatusCode::NO_CONTENT)
}
