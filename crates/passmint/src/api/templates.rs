//! Templates (SPEC 2.1, MATTR's API): create, list, retrieve, replace, delete.
use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pkpass::{Limits, SigningIdentity, SigningMaterial, Template, TemplateError};
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::Admin;
use super::error::{ApiError, Detail, ErrorBody};
use super::form::{self, RawForm, TemplateForm};
use super::pagination::PageQuery;
use super::recorded;
use crate::app::{AppState, RequestId};
use crate::events::Operation;
use crate::signer::seal_identity;
use crate::store::{NewTemplate, TemplateRecord};

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
    /// On create and replace only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateList {
    pub data: Vec<TemplateJson>,
    /// Present exactly when more templates follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The multipart form of create and replace (all fields required).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct TemplateUpload {
    /// The template .zip.
    #[schema(value_type = String, format = Binary)]
    template: Vec<u8>,
    /// 1–1024 characters.
    name: String,
    /// 1–100 characters of `A–Z a–z 0–9 _ -`, ending `.pkpass`.
    file_name: String,
    team_identifier: String,
    pass_type_identifier: String,
    /// Apple WWDR intermediate certificate (PEM).
    wwdr: String,
    /// Pass type certificate (PEM).
    signer_cert: String,
    /// Its private key (PEM; PKCS#8 encrypted, legacy encrypted, or plain).
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

fn to_json(record: &TemplateRecord, warnings: Option<Vec<Warning>>) -> TemplateJson {
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
        warnings,
    }
}

/// The canonical form of a path id, or 400 if it isn't a UUID.
pub fn parse_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            ApiError::bad_request(
                "id must be a UUID",
                vec![Detail::path("id", "must be a UUID", id)],
            )
        })
}

fn problem_msg(p: &pkpass::Problem) -> String {
    if p.location.is_empty() {
        p.message.clone()
    } else {
        format!("{}: {}", p.location, p.message)
    }
}

/// The form's identifiers replace pass.json's; say so when pass.json held other values, since
/// those keys then have no effect.
fn overridden_identifiers(pass_json: &Value, form: &RawForm) -> Vec<Warning> {
    [
        ("passTypeIdentifier", form.pass_type_identifier.as_deref()),
        ("teamIdentifier", form.team_identifier.as_deref()),
    ]
    .into_iter()
    .filter_map(|(key, form_value)| {
        let in_json = pass_json.get(key)?.as_str()?;
        let form_value = form_value?;
        (in_json != form_value).then(|| Warning {
            param: "template".into(),
            msg: format!("pass.json: {key} {in_json:?} has no effect; passes use the form's {form_value:?}"),
        })
    })
    .collect()
}

/// What the content checks produced: the problems, and when there are none the identity and
/// warnings.
struct ContentCheck {
    details: Vec<Detail>,
    identity: Option<SigningIdentity>,
    warnings: Vec<Warning>,
    too_large: bool,
}

/// Runs every content check on whatever fields are present: the zip, the signing material,
/// and the certificate against the identifiers.
fn check_content(form: &RawForm, limits: &Limits) -> ContentCheck {
    let mut details = Vec::new();
    let mut warnings = Vec::new();
    let mut too_large = false;
    if let Some(zip) = form.template.as_ref().filter(|t| !t.is_empty()) {
        match Template::from_zip(zip, limits) {
            Ok(template) => {
                warnings.extend(template.warnings().iter().map(|w| Warning {
                    param: "template".into(),
                    msg: problem_msg(w),
                }));
                warnings.extend(overridden_identifiers(template.pass_json(), form));
            }
            Err(TemplateError::TooLarge { .. }) => too_large = true,
            Err(TemplateError::Invalid { findings }) => details.extend(
                findings
                    .errors
                    .iter()
                    .map(|p| Detail::body("template", problem_msg(p))),
            ),
            Err(TemplateError::Io(e)) => {
                details.push(Detail::body("template", format!("cannot read: {e}")));
            }
        }
    }
    let mut identity = None;
    if let (Some(cert), Some(key), Some(wwdr)) = (
        form.signer_cert.as_deref().filter(|v| !v.trim().is_empty()),
        form.signer_key.as_deref().filter(|v| !v.trim().is_empty()),
        form.wwdr.as_deref().filter(|v| !v.trim().is_empty()),
    ) {
        let material = SigningMaterial {
            signer_cert: cert.as_bytes(),
            signer_key: key.as_bytes(),
            passphrase: form.signer_key_passphrase.as_deref(),
            wwdr: wwdr.as_bytes(),
        };
        // The identifiers are checked against the certificate alone, so they are reported even
        // when the key can't be opened (every problem at once).
        if let (Some(pti), Some(team)) = (
            form.pass_type_identifier.as_deref(),
            form.team_identifier.as_deref(),
        ) {
            details.extend(
                pkpass::sign::check_certificate_identifiers(cert.as_bytes(), pti, team)
                    .into_iter()
                    .map(|p| Detail::body(p.field.param(), p.message)),
            );
        }
        match SigningIdentity::load(material) {
            Ok(loaded) => identity = Some(loaded),
            Err(pkpass::SigningError::Invalid(problems)) => details.extend(
                problems
                    .into_iter()
                    .map(|p| Detail::body(p.field.param(), p.message)),
            ),
            Err(pkpass::SigningError::Crypto(e)) => {
                tracing::warn!(error = %e, "signing material check failed inside OpenSSL");
                details.push(Detail::body(
                    "signerKey",
                    "the signing material could not be checked",
                ));
            }
        }
    }
    ContentCheck {
        details,
        identity,
        warnings,
        too_large,
    }
}

/// Checks a whole upload (fields, zip, signing material), all problems at once, and prepares
/// the row to store under `id`.
async fn accept_upload(
    state: &AppState,
    raw: RawForm,
    id: &str,
) -> Result<(NewTemplate, Vec<Warning>), ApiError> {
    let mut details = form::check_fields(&raw);
    let limits = Limits {
        max_zip_bytes: state.settings.max_template_bytes,
        ..Limits::default()
    };
    let (raw, check) = tokio::task::spawn_blocking(move || {
        let check = check_content(&raw, &limits);
        (raw, check)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "template check task failed");
        ApiError::internal()
    })?;
    if check.too_large {
        return Err(ApiError::payload_too_large(format!(
            "template must be at most {} bytes",
            state.settings.max_template_bytes
        )));
    }
    details.extend(check.details);
    if !details.is_empty() {
        return Err(ApiError::bad_request("the template is invalid", details));
    }
    let (Some(identity), Some(form)) = (check.identity, TemplateForm::complete(raw)) else {
        return Err(ApiError::bad_request("the template is invalid", details));
    };
    let sealed = seal_identity(&state.master_key, id, &identity).map_err(|e| {
        tracing::error!(error = %e, "sealing the signing key failed");
        ApiError::internal()
    })?;
    let row = NewTemplate {
        id: id.to_string(),
        name: form.name,
        file_name: form.file_name,
        team_identifier: form.team_identifier,
        pass_type_identifier: form.pass_type_identifier,
        template_zip: form.template.to_vec(),
        signer_cert_der: sealed.signer_cert_der,
        wwdr_der: sealed.wwdr_der,
        signer_key_sealed: sealed.signer_key_sealed,
        certificate_expires_at: identity.expires_at(),
    };
    Ok((row, check.warnings))
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
    post,
    path = "/v2/credentials/compact/digital-pass/apple/templates",
    tag = "templates",
    request_body(content = TemplateUpload, content_type = "multipart/form-data"),
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
    let op = Operation::TEMPLATE_CREATE;
    let work = async {
        let raw = form::read(multipart_or_400(multipart)?, state.settings.max_template_bytes).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let (row, warnings) = accept_upload(&state, raw, &id).await?;
        let record = state.store.insert_template(&row).await?;
        Ok(to_json(&record, Some(warnings)))
    };
    let body = recorded(&state, op, &request_id, work, |t| json!({ "templateId": t.id })).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// List templates in creation order.
#[utoipa::path(
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
    let op = Operation::TEMPLATE_RETRIEVE_LIST;
    let work = async {
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
        let page = query.parse(&state.master_key, CURSOR_SCOPE)?;
        let mut records = state.store.list_templates(page.position, page.fetch()).await?;
        let next_cursor = page.next_cursor(&mut records, |r| r.seq, &state.master_key, CURSOR_SCOPE);
        Ok(TemplateList {
            data: records.iter().map(|r| to_json(r, None)).collect(),
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

/// Retrieve a template.
#[utoipa::path(
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
    let op = Operation::TEMPLATE_RETRIEVE;
    let work = async {
        let id = parse_id(&raw_id)?;
        let record = state
            .store
            .get_template(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("template not found"))?;
        Ok(to_json(&record, None))
    };
    let body = recorded(&state, op, &request_id, work, |t| json!({ "templateId": t.id })).await?;
    Ok(Json(body))
}

/// Replace a template (all fields again).
#[utoipa::path(
    put,
    path = "/v2/credentials/compact/digital-pass/apple/templates/{id}",
    tag = "templates",
    params(("id" = String, Path, format = "uuid", description = "Template id")),
    request_body(content = TemplateUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Template replaced", body = TemplateJson),
        (status = 400, description = "Invalid upload or id", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
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
    let op = Operation::TEMPLATE_UPDATE;
    let work = async {
        let id = parse_id(&raw_id)?;
        // Read the body first so every answer leaves the connection clean.
        let raw = form::read(multipart_or_400(multipart)?, state.settings.max_template_bytes).await?;
        let before = state
            .store
            .get_template(&id)
            .await?
            .ok_or_else(|| ApiError::not_found("template not found"))?;
        let (row, warnings) = accept_upload(&state, raw, &id).await?;
        let after = state
            .store
            .replace_template(&row)
            .await?
            .ok_or_else(|| ApiError::not_found("template not found"))?;
        crate::hooks::after_template_replaced(&state, &before, &after).await?;
        Ok(to_json(&after, Some(warnings)))
    };
    let body = recorded(&state, op, &request_id, work, |t| json!({ "templateId": t.id })).await?;
    Ok(Json(body))
}

/// Delete a template, its passes and their registrations.
#[utoipa::path(
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
    let op = Operation::TEMPLATE_DELETE;
    let work = async {
        let id = parse_id(&raw_id)?;
        if !state.store.delete_template(&id).await? {
            return Err(ApiError::not_found("template not found"));
        }
        state.signers.invalidate(&id);
        Ok(id)
    };
    recorded(&state, op, &request_id, work, |id| json!({ "templateId": id })).await?;
    Ok(StatusCode::NO_CONTENT)
}
