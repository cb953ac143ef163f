//! The dashboard (SPEC 12): server-rendered pages at `/dashboard`, from the binary itself (the
//! templates are compiled in by askama, the stylesheets embedded), no script and nothing from
//! another origin. Sign-in takes an admin token and opens a session (`session.rs`); every
//! state-changing request is a form POST carrying the session's CSRF token, checked with the
//! request's `Origin` (and the cookie is `SameSite=Strict`).
//!
//! A surface like `api/`: it parses requests, calls the [`crate::domain::Domain`], and maps
//! errors once (`error.rs`). Every page has a deep link that survives a reload; signed out,
//! each sends you to `/dashboard/login` and back.
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{AppState, RequestId};
use crate::domain::{
    Audit, NewPassSpec, Operation, PassId, PassPatch, SerialNumber, TemplateId, TemplateUpload,
};
use crate::preview::PassPreview;

pub mod error;
pub mod session;
pub mod view;

use error::{DashboardError, page};
use view::*;

/// Room for the PEM fields and multipart framing around the template .zip.
const FORM_OVERHEAD_BYTES: u64 = 512 * 1024;
/// Rows a list page shows.
const PAGE_ROWS: i64 = 50;
/// Timeline entries a pass page shows.
const TIMELINE_ROWS: i64 = 200;

type Result<T, E = DashboardError> = std::result::Result<T, E>;

pub fn router(state: &AppState) -> Router<AppState> {
    let upload_limit =
        usize::try_from(state.settings.max_template_bytes + FORM_OVERHEAD_BYTES).unwrap_or(usize::MAX);
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::to("/dashboard/templates") }),
        )
        .route(
            "/dashboard/",
            get(|| async { Redirect::to("/dashboard/templates") }),
        )
        .route("/dashboard/login", get(login_page).post(login))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/assets/dashboard.css", get(dashboard_css))
        .route("/dashboard/assets/preview.css", get(preview_css))
        .route("/dashboard/templates", get(templates).post(upload))
        .route("/dashboard/templates/{id}", get(template).post(replace))
        .route("/dashboard/templates/{id}/passes", post(issue))
        .route("/dashboard/passes", get(passes))
        .route("/dashboard/passes/{id}", get(pass))
        .route("/dashboard/passes/{id}/payload", post(edit_payload))
        .route("/dashboard/passes/{id}/void", post(void))
        .route("/dashboard/passes/{id}/pass.pkpass", get(download))
        .route("/dashboard/events", get(events))
        .route("/dashboard/webhooks", get(webhooks))
        .route("/dashboard/push", get(push))
        .layer(DefaultBodyLimit::max(upload_limit))
}

/// Whether cookies get `Secure`: behind an https public URL.
fn secure(state: &AppState) -> bool {
    state.public_url.starts_with("https://")
}

/// A signed-in request: its session's CSRF token.
pub struct Signed {
    csrf: String,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = DashboardError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let session = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(session::cookie_value)
            .and_then(|id| state.sessions.get(id));
        match session {
            Some(s) => Ok(Self { csrf: s.csrf }),
            None => {
                // Back to this page after sign-in (a POST's page is the one it came from).
                let next = if parts.method == axum::http::Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map_or("/dashboard/templates", |p| p.as_str())
                        .to_string()
                } else {
                    "/dashboard/templates".to_string()
                };
                Err(DashboardError::SignedOut { next })
            }
        }
    }
}

impl Signed {
    /// Refuses a form that lacks this session's CSRF token or comes from another origin.
    fn check(&self, state: &AppState, headers: &HeaderMap, csrf: Option<&str>) -> Result<()> {
        same_origin(state, headers)?;
        match csrf {
            Some(token) if crate::tokens::equal(token, &self.csrf) => Ok(()),
            _ => Err(DashboardError::Forbidden(
                "the form is stale or not from this dashboard: reload the page and try again",
            )),
        }
    }
}

/// A POST must come from a page of this server: its `Origin` (which a browser always sends on
/// a cross-site POST) is the public URL's, or this very host's.
fn same_origin(state: &AppState, headers: &HeaderMap) -> Result<()> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let public = origin_of(&state.public_url);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let own = host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
    if Some(origin) == public.as_deref() || own {
        Ok(())
    } else {
        Err(DashboardError::Forbidden("the request came from another site"))
    }
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

/// A `next` that stays in the dashboard (never another site, never `//host`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/dashboard") && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/dashboard/templates".to_string(),
    }
}

fn render(status: StatusCode, chrome: &Chrome, html: askama::Result<String>) -> Response {
    match html {
        Ok(html) => page(status, html, &chrome.nonce),
        Err(e) => DashboardError::Domain(crate::domain::DomainError::internal(e)).into_response(),
    }
}

fn css(body: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn dashboard_css() -> Response {
    css(include_str!("dashboard.css"))
}

async fn preview_css() -> Response {
    css(crate::preview::STYLESHEET)
}

// ---- sign-in ----

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(Query(q): Query<NextQuery>) -> Response {
    let chrome = Chrome::bare("Sign in");
    let next = safe_next(q.next.as_deref());
    let html = LoginPage {
        c: &chrome,
        next: &next,
    }
    .render();
    render(StatusCode::OK, &chrome, html)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response> {
    // No session yet to carry a CSRF token: the origin check is what stops a cross-site
    // sign-in (into the attacker's token).
    same_origin(&state, &headers)?;
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim();
    let valid = !token.is_empty()
        && (state
            .settings
            .admin_token
            .as_ref()
            .is_some_and(|admin| crate::tokens::equal(token, admin.expose()))
            || state.domain.api_token_exists(&crate::tokens::hash(token)).await?);
    if !valid {
        let mut chrome = Chrome::bare("Sign in");
        chrome.error_title = "Not signed in".into();
        chrome.errors = vec!["That is not an admin token of this server.".into()];
        let html = LoginPage {
            c: &chrome,
            next: &next,
        }
        .render();
        return Ok(render(StatusCode::UNAUTHORIZED, &chrome, html));
    }
    let id = state.sessions.open();
    let cookie = session::set_cookie(&id, secure(&state));
    Ok((
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, next)],
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Result<Response> {
    signed.check(&state, &headers, form.csrf.as_deref())?;
    if let Some(id) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::cookie_value)
    {
        state.sessions.close(id);
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::clear_cookie(secure(&state))),
            (header::LOCATION, "/dashboard/login".to_string()),
        ],
    )
        .into_response())
}

// ---- templates ----

fn expiry(expires_at: i64) -> (String, &'static str) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let days = (expires_at - now).div_euclid(86_400);
    let date = when(expires_at * 1000);
    let date = date.split(' ').next().unwrap_or_default().to_string();
    match days {
        d if d < 0 => (format!("{date} (expired)"), "expired"),
        d if d < 30 => (format!("{date} (in {d} days)"), "expiring"),
        d => (format!("{date} (in {d} days)"), "valid"),
    }
}

fn rollout_text(r: Option<&crate::store::RolloutRecord>) -> String {
    match r {
        None => "none (never replaced)".into(),
        Some(r) => format!(
            "{}: {} of {} checked, {} updated (revision {})",
            r.status, r.passes_checked, r.passes_total, r.passes_updated, r.revision
        ),
    }
}

async fn template_row(
    state: &AppState,
    t: &crate::store::TemplateRecord,
    rollout: Option<&crate::store::RolloutRecord>,
) -> Result<(TemplateRow, StatsView)> {
    let (expires, expiry_class) = expiry(t.certificate_expires_at);
    let id = TemplateId::from_stored(t.id.clone());
    let today = time::OffsetDateTime::now_utc().date();
    let stats = state.domain.template_stats(&id, today, today).await?;
    let s = StatsView {
        passes: stats.totals.passes,
        voided: stats.totals.voided,
        installed: stats.totals.installed,
        devices: stats.totals.devices,
        pushes_sent: stats.totals.pushes_sent,
        pushes_failed: stats.totals.pushes_failed,
    };
    Ok((
        TemplateRow {
            id: t.id.clone(),
            name: t.name.clone(),
            pass_type: t.pass_type_identifier.clone(),
            team: t.team_identifier.clone(),
            file_name: t.file_name.clone(),
            revision: t.revision,
            passes: s.passes,
            installed: s.installed,
            expires,
            expiry_class,
            rollout: rollout_text(rollout),
        },
        s,
    ))
}

#[derive(Debug, Deserialize)]
struct AfterQuery {
    after: Option<i64>,
}

async fn templates(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<AfterQuery>,
) -> Result<Response> {
    templates_page(&state, &signed, q.after, None, UploadForm::default()).await
}

async fn templates_page(
    state: &AppState,
    signed: &Signed,
    after: Option<i64>,
    problems: Option<(String, Vec<String>)>,
    form: UploadForm,
) -> Result<Response> {
    let mut records = state.domain.list_templates(after, PAGE_ROWS + 1).await?;
    let more = (records.len() as i64 > PAGE_ROWS).then(|| records[PAGE_ROWS as usize - 1].seq);
    records.truncate(PAGE_ROWS as usize);
    let ids: Vec<&str> = records.iter().map(|t| t.id.as_str()).collect();
    let rollouts = state.domain.latest_rollouts(&ids).await?;
    let mut rows = Vec::with_capacity(records.len());
    for t in &records {
        let rollout = rollouts.iter().find(|r| r.template_id == t.id);
        rows.push(template_row(state, t, rollout).await?.0);
    }
    let mut chrome = Chrome::signed_in("Templates", "templates", &signed.csrf);
    let status = if let Some((title, errors)) = problems {
        chrome.error_title = title;
        chrome.errors = errors;
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let html = TemplatesPage {
        c: &chrome,
        rows,
        more,
        form,
        upload_action: "/dashboard/templates".into(),
        upload_label: "Upload template",
    }
    .render();
    Ok(render(status, &chrome, html))
}

/// Reads the upload form (the same fields as `POST B/templates`) and its CSRF token.
async fn read_upload(mut multipart: Multipart) -> Result<(TemplateUpload, Option<String>)> {
    let mut form = TemplateUpload::default();
    let mut csrf = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| DashboardError::BadRequest(format!("the form could not be read: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| DashboardError::BadRequest(format!("the form could not be read: {e}")))?;
        if name == "template" {
            if !bytes.is_empty() {
                form.template = Some(bytes);
            }
            continue;
        }
        let text = String::from_utf8_lossy(&bytes).to_string();
        let slot = match name.as_str() {
            "csrf" => &mut csrf,
            "name" => &mut form.name,
            "fileName" => &mut form.file_name,
            "teamIdentifier" => &mut form.team_identifier,
            "passTypeIdentifier" => &mut form.pass_type_identifier,
            "wwdr" => &mut form.wwdr,
            "signerCert" => &mut form.signer_cert,
            "signerKey" => &mut form.signer_key,
            "signerKeyPassphrase" => &mut form.signer_key_passphrase,
            _ => continue,
        };
        if slot.is_none() && !text.is_empty() {
            *slot = Some(text);
        }
    }
    if form.signer_key_passphrase.is_none() {
        // The field is required by the API; here an empty box means "no passphrase".
        form.signer_key_passphrase = Some(String::new());
    }
    Ok((form, csrf))
}

fn kept_fields(form: &TemplateUpload) -> UploadForm {
    UploadForm {
        name: form.name.clone().unwrap_or_default(),
        file_name: form.file_name.clone().unwrap_or_default(),
        team_identifier: form.team_identifier.clone().unwrap_or_default(),
        pass_type_identifier: form.pass_type_identifier.clone().unwrap_or_default(),
    }
}

/// The problems of a refused change, one line each, or the error itself when it is not a
/// refusal.
fn refusal(e: DashboardError) -> Result<(String, Vec<String>)> {
    match e {
        DashboardError::Domain(
            ref d @ (crate::domain::DomainError::Invalid { .. }
            | crate::domain::DomainError::Conflict { .. }
            | crate::domain::DomainError::TooLarge { .. }),
        ) => {
            let mut lines: Vec<String> = d
                .problems()
                .iter()
                .map(|p| format!("{}: {}", p.param, p.msg))
                .collect();
            if lines.is_empty() {
                lines.push(d.to_string());
            }
            Ok((d.to_string(), lines))
        }
        DashboardError::BadRequest(m) => Ok(("Not accepted".into(), vec![m])),
        other => Err(other),
    }
}

async fn upload(
    State(state): State<AppState>,
    signed: Signed,
    request_id: RequestId,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response> {
    let (form, csrf) = read_upload(multipart).await?;
    signed.check(&state, &headers, csrf.as_deref())?;
    let kept = kept_fields(&form);
    let audit = Audit::begin(Operation::TEMPLATE_CREATE, request_id.0.clone());
    let result = state.domain.create_template(form).await;
    finish(&state, &audit, &result, |(t, _)| json!({ "templateId": t.id })).await;
    match result {
        Ok((t, _)) => Ok(Redirect::to(&format!("/dashboard/templates/{}", t.id)).into_response()),
        Err(e) => {
            let problems = refusal(e.into())?;
            templates_page(&state, &signed, None, Some(problems), kept).await
        }
    }
}

/// Ends a dashboard operation's audit trail, as the API's do.
async fn finish<T>(
    state: &AppState,
    audit: &Audit,
    result: &Result<T, crate::domain::DomainError>,
    success: impl FnOnce(&T) -> Value,
) {
    let outcome = match result {
        Ok(v) => Ok(success(v)),
        Err(e) => {
            let params: Vec<&str> = e.problems().iter().map(|p| p.param.as_str()).collect();
            Err(crate::domain::events::failure_data(
                "DashboardError",
                400,
                &params,
            ))
        }
    };
    state.domain.events().finish(audit, outcome).await;
}

fn template_id(raw: &str) -> Result<TemplateId> {
    TemplateId::parse(raw).ok_or(DashboardError::NotFound("template"))
}

fn pass_id(raw: &str) -> Result<PassId> {
    PassId::parse(raw).ok_or(DashboardError::NotFound("pass"))
}

/// The files of a template's .zip as a pass would have them (a single wrapping folder
/// removed), for its preview.
fn template_files(zip: &[u8]) -> Option<std::collections::BTreeMap<String, Vec<u8>>> {
    let files = crate::preview::read_pkpass(zip).ok()?;
    if files.contains_key("pass.json") {
        return Some(files);
    }
    let prefix = files
        .keys()
        .find(|k| k.ends_with("/pass.json") && k.matches('/').count() == 1)?
        .trim_end_matches("pass.json")
        .to_string();
    Some(
        files
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v)))
            .collect(),
    )
}

/// The `{{ placeholder }}` names in a template's pass.json, in order of first use.
fn placeholders(pass_json: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = pass_json;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
        rest = &after[end + 2..];
    }
    out
}

/// A payload with an empty value for each placeholder (`a.b` nests), to fill in.
fn payload_skeleton(names: &[String]) -> Value {
    let mut root = serde_json::Map::new();
    for name in names {
        let mut map = &mut root;
        let parts: Vec<&str> = name.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                map.entry(part.to_string()).or_insert(json!(""));
            } else {
                let entry = map.entry(part.to_string()).or_insert_with(|| json!({}));
                if !entry.is_object() {
                    *entry = json!({});
                }
                let Some(next) = entry.as_object_mut() else { break };
                map = next;
            }
        }
    }
    Value::Object(root)
}

async fn template(
    State(state): State<AppState>,
    signed: Signed,
    Path(raw): Path<String>,
) -> Result<Response> {
    let id = template_id(&raw)?;
    template_page(&state, &signed, &id, None, None, None).await
}

async fn template_page(
    state: &AppState,
    signed: &Signed,
    id: &TemplateId,
    problems: Option<(String, Vec<String>)>,
    payload: Option<String>,
    form: Option<UploadForm>,
) -> Result<Response> {
    let record = state.domain.template(id).await?;
    let rollouts = state.domain.latest_rollouts(&[record.id.as_str()]).await?;
    let rollout = rollouts.first();
    let (row, s) = template_row(state, &record, rollout).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let stats = state
        .domain
        .template_stats(id, today - time::Duration::days(29), today)
        .await?;
    let chart = chart_svg(
        &stats
            .daily
            .iter()
            .map(|d| ChartDay {
                date: &d.day,
                issued: d.issued,
                installed: d.installed,
                downloads: d.downloads,
            })
            .collect::<Vec<_>>(),
    );
    let mut chrome = Chrome::signed_in(record.name.clone(), "templates", &signed.csrf);
    let files = state
        .domain
        .template_zip(id)
        .await?
        .as_deref()
        .and_then(template_files);
    let pass_json_text = files
        .as_ref()
        .and_then(|f| f.get("pass.json"))
        .map(|b| String::from_utf8_lossy(b).to_string())
        .unwrap_or_default();
    let names = placeholders(&pass_json_text);
    let (preview, preview_problem) = match files.as_ref().and_then(|f| {
        let pass_json: Value = serde_json::from_slice(f.get("pass.json")?).ok()?;
        Some(PassPreview::from_rendered(&pass_json, f, None, false))
    }) {
        Some(p) => {
            chrome.css = p.css_rules();
            (
                Some(Preview {
                    front: p.front_html(),
                    back: p.back_html(),
                }),
                String::new(),
            )
        }
        None => (None, "the template's pass.json could not be read".to_string()),
    };
    let passes = state
        .domain
        .latest_passes_of(id, PAGE_ROWS)
        .await?
        .into_iter()
        .map(|p| PassRow {
            id: p.id.clone(),
            serial: p.serial_number.clone(),
            template_id: p.template_id.clone(),
            template_name: record.name.clone(),
            registrations: p.registrations,
            voided: p.voided,
            updated: when(p.updated_at),
        })
        .collect();
    let status = if let Some((title, errors)) = problems {
        chrome.error_title = title;
        chrome.errors = errors;
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let payload = payload.unwrap_or_else(|| {
        serde_json::to_string_pretty(&payload_skeleton(&names)).unwrap_or_else(|_| "{}".into())
    });
    let html = TemplatePage {
        c: &chrome,
        rollout: rollout.map(|r| RolloutBar {
            total: r.passes_total,
            checked: r.passes_checked,
        }),
        form: form.unwrap_or_else(|| UploadForm {
            name: record.name.clone(),
            file_name: record.file_name.clone(),
            team_identifier: record.team_identifier.clone(),
            pass_type_identifier: record.pass_type_identifier.clone(),
        }),
        upload_action: format!("/dashboard/templates/{}", record.id),
        upload_label: "Replace template",
        t: row,
        preview,
        preview_problem,
        s,
        chart,
        payload,
        placeholders: names,
        passes,
    }
    .render();
    Ok(render(status, &chrome, html))
}

async fn replace(
    State(state): State<AppState>,
    signed: Signed,
    request_id: RequestId,
    headers: HeaderMap,
    Path(raw): Path<String>,
    multipart: Multipart,
) -> Result<Response> {
    let id = template_id(&raw)?;
    let (form, csrf) = read_upload(multipart).await?;
    signed.check(&state, &headers, csrf.as_deref())?;
    let kept = kept_fields(&form);
    let audit = Audit::begin(Operation::TEMPLATE_UPDATE, request_id.0.clone());
    let result = state
        .domain
        .replace_template(&id, form, request_id.as_str())
        .await;
    finish(
        &state,
        &audit,
        &result,
        |(t, _, r)| json!({ "templateId": t.id, "rolloutId": r.id }),
    )
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/dashboard/templates/{}", id.as_str())).into_response()),
        Err(e) => {
            let problems = refusal(e.into())?;
            template_page(&state, &signed, &id, Some(problems), None, Some(kept)).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct IssueForm {
    csrf: Option<String>,
    payload: String,
    #[serde(rename = "serialNumber")]
    serial_number: Option<String>,
}

/// A payload typed into a form: a JSON object, or a clear message.
fn parse_payload(text: &str) -> std::result::Result<Value, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("payload: must be a JSON object, e.g. {\"name\": \"Ada\"}".into()),
        Err(e) => Err(format!("payload: not valid JSON ({e})")),
    }
}

async fn issue(
    State(state): State<AppState>,
    signed: Signed,
    request_id: RequestId,
    headers: HeaderMap,
    Path(raw): Path<String>,
    axum::Form(form): axum::Form<IssueForm>,
) -> Result<Response> {
    let id = template_id(&raw)?;
    signed.check(&state, &headers, form.csrf.as_deref())?;
    let refused = |problems: Vec<String>| ("The pass was not issued".to_string(), problems);
    let payload = match parse_payload(&form.payload) {
        Ok(p) => p,
        Err(m) => {
            return template_page(
                &state,
                &signed,
                &id,
                Some(refused(vec![m])),
                Some(form.payload),
                None,
            )
            .await;
        }
    };
    let serial = match form
        .serial_number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match SerialNumber::parse(s, "serialNumber") {
            Ok(s) => Some(s),
            Err(p) => {
                let problems = refused(vec![format!("{}: {}", p.param, p.msg)]);
                return template_page(&state, &signed, &id, Some(problems), Some(form.payload), None).await;
            }
        },
    };
    let audit = Audit::begin(Operation::PASS_CREATE, request_id.0.clone());
    let spec = NewPassSpec {
        payload,
        serial_number: serial,
        overrides: json!({}),
    };
    let result = state.domain.create_pass(&id, spec, &audit).await;
    finish(&state, &audit, &result, |i| json!({ "passId": i.record.id })).await;
    match result {
        Ok(issued) => Ok(Redirect::to(&format!("/dashboard/passes/{}", issued.record.id)).into_response()),
        Err(e) => {
            let (_, lines) = refusal(e.into())?;
            template_page(
                &state,
                &signed,
                &id,
                Some(refused(lines)),
                Some(form.payload),
                None,
            )
            .await
        }
    }
}

// ---- passes ----

#[derive(Debug, Deserialize)]
struct SerialQuery {
    serial: Option<String>,
}

async fn pass_rows(state: &AppState, records: Vec<crate::store::PassRecord>) -> Result<Vec<PassRow>> {
    let mut names: std::collections::HashMap<String, String> = Default::default();
    let mut rows = Vec::with_capacity(records.len());
    for p in records {
        if !names.contains_key(&p.template_id) {
            let name = match state
                .domain
                .template(&TemplateId::from_stored(p.template_id.clone()))
                .await
            {
                Ok(t) => t.name,
                Err(_) => p.template_id.clone(),
            };
            names.insert(p.template_id.clone(), name);
        }
        rows.push(PassRow {
            id: p.id.clone(),
            serial: p.serial_number.clone(),
            template_name: names.get(&p.template_id).cloned().unwrap_or_default(),
            template_id: p.template_id.clone(),
            registrations: p.registrations,
            voided: p.voided,
            updated: when(p.updated_at),
        });
    }
    Ok(rows)
}

async fn passes(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<SerialQuery>,
) -> Result<Response> {
    let serial = q.serial.unwrap_or_default().trim().to_string();
    let searched = !serial.is_empty();
    let records = if searched {
        let mut found = Vec::new();
        for id in state.domain.find_passes_by_serial(&serial).await? {
            found.push(state.domain.pass(&PassId::from_stored(id)).await?);
        }
        found
    } else {
        state.domain.latest_passes(PAGE_ROWS).await?
    };
    // One match: the pass itself is what was asked for.
    if searched && records.len() == 1 {
        return Ok(Redirect::to(&format!("/dashboard/passes/{}", records[0].id)).into_response());
    }
    let rows = pass_rows(&state, records).await?;
    let chrome = Chrome::signed_in("Passes", "passes", &signed.csrf);
    let html = PassesPage {
        c: &chrome,
        serial,
        searched,
        rows,
    }
    .render();
    Ok(render(StatusCode::OK, &chrome, html))
}

async fn pass(State(state): State<AppState>, signed: Signed, Path(raw): Path<String>) -> Result<Response> {
    let id = pass_id(&raw)?;
    pass_page(&state, &signed, &id, None, None).await
}

async fn pass_page(
    state: &AppState,
    signed: &Signed,
    id: &PassId,
    problems: Option<(String, Vec<String>)>,
    payload: Option<String>,
) -> Result<Response> {
    let record = state.domain.pass(id).await?;
    let template = state
        .domain
        .template(&TemplateId::from_stored(record.template_id.clone()))
        .await?;
    let mut chrome = Chrome::signed_in(format!("Pass {}", record.serial_number), "passes", &signed.csrf);
    let (preview, preview_problem) = match state.domain.signed_pass(&record).await {
        Ok(signed_pass) => {
            let mut bytes = signed_pass.bytes.head.to_vec();
            bytes.extend_from_slice(&signed_pass.bytes.tail);
            match PassPreview::from_pkpass(&bytes, None) {
                Ok(p) => {
                    chrome.css = p.css_rules();
                    (
                        Some(Preview {
                            front: p.front_html(),
                            back: p.back_html(),
                        }),
                        String::new(),
                    )
                }
                Err(e) => (None, e.to_string()),
            }
        }
        Err(e) => (None, e.to_string()),
    };
    let registrations = state
        .domain
        .pass_registrations(id)
        .await?
        .into_iter()
        .map(|r| RegistrationRow {
            device: r.device_library_identifier,
            created: when(r.created_at),
            updated: when(r.updated_at),
        })
        .collect();
    let timeline = state
        .domain
        .timeline(id, None, TIMELINE_ROWS)
        .await?
        .into_iter()
        .map(|e| TimelineRow {
            at: when(e.at),
            label: timeline_label(&e.kind),
            kind: e.kind,
            detail: e.detail,
        })
        .collect();
    // The holder page's link (SPEC 9), to send to the holder.
    let share_url = state
        .domain
        .share_token(&record.id)
        .await
        .ok()
        .map(|token| format!("{}/p/{token}", state.public_url));
    let stored_payload: Value = serde_json::from_str(&record.payload).unwrap_or_else(|_| json!({}));
    let status = if let Some((title, errors)) = problems {
        chrome.error_title = title;
        chrome.errors = errors;
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let html = PassPage {
        c: &chrome,
        p: PassView {
            id: record.id.clone(),
            serial: record.serial_number.clone(),
            template_id: record.template_id.clone(),
            template_name: template.name,
            pass_type: record.pass_type_identifier.clone(),
            voided: record.voided,
            created: when(record.created_at),
            updated: when(record.updated_at),
            tag: record.update_tag,
            payload: payload
                .unwrap_or_else(|| serde_json::to_string_pretty(&stored_payload).unwrap_or_default()),
        },
        preview,
        preview_problem,
        share_qr: share_url
            .as_deref()
            .map(crate::preview::qr_svg)
            .unwrap_or_default(),
        share_url,
        registrations,
        timeline,
        cap: state.settings.timeline_cap,
    }
    .render();
    Ok(render(status, &chrome, html))
}

#[derive(Debug, Deserialize)]
struct PayloadForm {
    csrf: Option<String>,
    payload: String,
}

async fn change(
    state: &AppState,
    signed: &Signed,
    request_id: &RequestId,
    id: &PassId,
    patch: PassPatch,
    typed_payload: Option<String>,
) -> Result<Response> {
    let audit = Audit::begin(Operation::PASS_UPDATE, request_id.0.clone());
    let result = state.domain.change_pass(id, patch).await;
    finish(
        state,
        &audit,
        &result,
        |(p, updated)| json!({ "passId": p.id, "updated": updated }),
    )
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/dashboard/passes/{}", id.as_str())).into_response()),
        Err(e) => {
            let (_, lines) = refusal(e.into())?;
            let problems = ("The pass was not changed".to_string(), lines);
            pass_page(state, signed, id, Some(problems), typed_payload).await
        }
    }
}

async fn edit_payload(
    State(state): State<AppState>,
    signed: Signed,
    request_id: RequestId,
    headers: HeaderMap,
    Path(raw): Path<String>,
    axum::Form(form): axum::Form<PayloadForm>,
) -> Result<Response> {
    let id = pass_id(&raw)?;
    signed.check(&state, &headers, form.csrf.as_deref())?;
    match parse_payload(&form.payload) {
        Ok(payload) => {
            let patch = PassPatch {
                payload: Some(payload),
                ..Default::default()
            };
            change(&state, &signed, &request_id, &id, patch, Some(form.payload)).await
        }
        Err(m) => {
            let problems = ("The pass was not changed".to_string(), vec![m]);
            pass_page(&state, &signed, &id, Some(problems), Some(form.payload)).await
        }
    }
}

#[derive(Debug, Deserialize)]
struct VoidForm {
    csrf: Option<String>,
    voided: String,
}

async fn void(
    State(state): State<AppState>,
    signed: Signed,
    request_id: RequestId,
    headers: HeaderMap,
    Path(raw): Path<String>,
    axum::Form(form): axum::Form<VoidForm>,
) -> Result<Response> {
    let id = pass_id(&raw)?;
    signed.check(&state, &headers, form.csrf.as_deref())?;
    let patch = PassPatch {
        voided: Some(form.voided == "true"),
        ..Default::default()
    };
    change(&state, &signed, &request_id, &id, patch, None).await
}

async fn download(
    State(state): State<AppState>,
    _signed: Signed,
    Path(raw): Path<String>,
) -> Result<Response> {
    let id = pass_id(&raw)?;
    let record = state.domain.pass(&id).await?;
    let signed = state.domain.signed_pass(&record).await?;
    state.domain.note_download(id.as_str(), "dashboard");
    let disposition = format!("attachment; filename=\"{}\"", signed.file_name.replace('"', ""));
    Ok((
        [
            (header::CONTENT_TYPE, crate::wire::PKPASS_TYPE.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        crate::wire::pass_body(signed.bytes),
    )
        .into_response())
}

// ---- events, webhooks, push ----

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    before: Option<i64>,
}

fn event_row(e: crate::store::EventRecord) -> EventRow {
    EventRow {
        at: when(e.timestamp),
        kind: e.event_type,
        count: e.count,
        request_id: e.request_id,
        data: e.data,
    }
}

async fn events(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<EventsQuery>,
) -> Result<Response> {
    let event_type = q.event_type.unwrap_or_default().trim().to_string();
    let filter = (!event_type.is_empty()).then_some(event_type.as_str());
    let mut records = state.domain.list_events(filter, q.before, PAGE_ROWS + 1).await?;
    let older = (records.len() as i64 > PAGE_ROWS).then(|| records[PAGE_ROWS as usize - 1].seq);
    records.truncate(PAGE_ROWS as usize);
    let chrome = Chrome::signed_in("Events", "events", &signed.csrf);
    let html = EventsPage {
        c: &chrome,
        rows: records.into_iter().map(event_row).collect(),
        event_type,
        older,
    }
    .render();
    Ok(render(StatusCode::OK, &chrome, html))
}

#[derive(Debug, Deserialize)]
struct WebhookQuery {
    id: Option<String>,
}

async fn webhooks(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<WebhookQuery>,
) -> Result<Response> {
    let records = state.domain.list_webhooks(None, 200).await?;
    let rows = records
        .iter()
        .map(|w| WebhookRow {
            id: w.id.clone(),
            url: w.url.clone(),
            events: serde_json::from_str::<Vec<String>>(&w.events)
                .map(|e| e.join(", "))
                .unwrap_or_else(|_| w.events.clone()),
            template: w.template_id.clone().unwrap_or_else(|| "all".into()),
            description: w.description.clone().unwrap_or_default(),
            created: when(w.created_at),
        })
        .collect();
    let (selected, deliveries) = match q
        .id
        .as_deref()
        .and_then(crate::domain::webhooks::parse_webhook_id)
    {
        Some(id) => {
            let hook = state.domain.webhook(&id).await?;
            let list = state.domain.webhook_deliveries(&id, None, PAGE_ROWS).await?;
            let rows = list
                .into_iter()
                .map(|d| DeliveryRow {
                    at: when(d.at),
                    kind: d.event_type,
                    attempt: d.attempt,
                    status: d.status.map_or_else(|| "no answer".into(), |s| s.to_string()),
                    error: d.error.unwrap_or_default(),
                    duration_ms: d.duration_ms,
                    next: d.next_attempt_at.map(when).unwrap_or_default(),
                })
                .collect();
            (Some(hook.url), rows)
        }
        None => (None, Vec::new()),
    };
    let chrome = Chrome::signed_in("Webhooks", "webhooks", &signed.csrf);
    let html = WebhooksPage {
        c: &chrome,
        rows,
        selected,
        deliveries,
    }
    .render();
    Ok(render(StatusCode::OK, &chrome, html))
}

async fn push(State(state): State<AppState>, signed: Signed) -> Result<Response> {
    let summary = state.domain.push_queue_summary().await?;
    let recent = state
        .domain
        .list_events(Some("APNS_PUSH_FAIL"), None, 20)
        .await?
        .into_iter()
        .map(event_row)
        .collect();
    let chrome = Chrome::signed_in("Push queue", "push", &signed.csrf);
    let html = PushPage {
        c: &chrome,
        depth: summary.depth,
        failing: summary.failing,
        paused: summary.paused,
        recent,
    }
    .render();
    Ok(render(StatusCode::OK, &chrome, html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_templates_placeholders_and_makes_a_payload_to_fill_in() {
        let names = placeholders(
            r#"{"a": "{{ member.name }}", "b": "{{points}}", "c": "{{ member.name }} {{ member.tier }}"}"#,
        );
        assert_eq!(names, ["member.name", "points", "member.tier"]);
        assert_eq!(
            payload_skeleton(&names),
            json!({ "member": { "name": "", "tier": "" }, "points": "" })
        );
    }

    #[test]
    fn next_stays_inside_the_dashboard() {
        assert_eq!(
            safe_next(Some("/dashboard/passes?serial=x")),
            "/dashboard/passes?serial=x"
        );
        assert_eq!(safe_next(Some("https://evil.example/")), "/dashboard/templates");
        assert_eq!(
            safe_next(Some("//evil.example/dashboard")),
            "/dashboard/templates"
        );
        assert_eq!(safe_next(None), "/dashboard/templates");
    }

    #[test]
    fn a_typed_payload_must_be_a_json_object() {
        assert_eq!(parse_payload(" {\"a\": 1} "), Ok(json!({"a": 1})));
        assert_eq!(parse_payload(""), Ok(json!({})));
        assert!(parse_payload("[1]").unwrap_err().contains("JSON object"));
        assert!(parse_payload("{nope").unwrap_err().contains("not valid JSON"));
    }
}
