//! Rendering and signing one pass: its inputs ([`PassContent`]) and the CPU work, which runs on
//! tokio's blocking pool, never on the async worker threads.
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkpass::{PassIdentity, RenderError, RenderInput, SignedFiles};
use serde_json::{Map, Value};

use super::error::{DomainError, Problem};
use super::signer::LoadedTemplate;

/// The per-pass inputs of rendering.
#[derive(Debug, Clone)]
pub struct PassContent {
    pub serial_number: String,
    pub auth_token: String,
    pub payload: Value,
    pub overrides: Value,
    pub voided: bool,
}

impl PassContent {
    /// From a stored row. The JSON was written by us, so a row that doesn't parse is damaged
    /// data: an internal error (logged), never silently an empty payload.
    pub fn from_stored(
        pass_id: &str,
        serial_number: &str,
        auth_token: &str,
        payload: &str,
        overrides: &str,
        voided: bool,
    ) -> Result<Self, DomainError> {
        let parse = |what: &str, text: &str| {
            serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    DomainError::internal(format!("pass {pass_id}: stored {what} is not a JSON object"))
                })
        };
        Ok(Self {
            serial_number: serial_number.to_string(),
            auth_token: auth_token.to_string(),
            payload: parse("payload", payload)?,
            overrides: parse("overrides", overrides)?,
            voided,
        })
    }

    /// The inputs of a stored pass (see [`Self::from_stored`]).
    pub fn of(pass: &crate::store::PassRecord) -> Result<Self, DomainError> {
        Self::from_stored(
            &pass.id,
            &pass.serial_number,
            &pass.auth_token,
            &pass.payload,
            &pass.overrides,
            pass.voided,
        )
    }

    /// `overrides`, plus `"voided": true` for a voided pass.
    fn effective_overrides(&self) -> Value {
        if !self.voided {
            return self.overrides.clone();
        }
        let mut map = match &self.overrides {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        map.insert("voided".into(), Value::Bool(true));
        Value::Object(map)
    }
}

/// A new pass's authentication token: 256 random bits as 43 base64url characters.
pub fn new_auth_token() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

fn with_input<T>(
    template: &LoadedTemplate,
    web_service_url: &str,
    content: &PassContent,
    f: impl FnOnce(&RenderInput<'_>) -> T,
) -> T {
    let overrides = content.effective_overrides();
    let with_defaults;
    let payload = if template.enrollment.is_some() {
        with_defaults = super::personalize::with_blank_holder(&content.payload);
        &with_defaults
    } else {
        &content.payload
    };
    let input = RenderInput {
        payload,
        overrides: &overrides,
        identity: PassIdentity {
            pass_type_identifier: &template.pass_type_identifier,
            team_identifier: &template.team_identifier,
            serial_number: &content.serial_number,
            web_service: Some((web_service_url, &content.auth_token)),
        },
    };
    f(&input)
}

/// The manifest fingerprint `content` renders to (no signing).
pub fn fingerprint_now(
    template: &LoadedTemplate,
    web_service_url: &str,
    content: &PassContent,
) -> Result<[u8; 32], RenderError> {
    with_input(template, web_service_url, content, |input| {
        template.prepared_for(&content.payload).fingerprint(input)
    })
}

/// The rendered `pass.json` of `content`, as Wallet would get it (no signing; on the calling
/// thread: call it from the blocking pool). What Google Wallet's object is mapped from.
pub fn pass_json_now(
    template: &LoadedTemplate,
    web_service_url: &str,
    content: &PassContent,
) -> Result<Value, RenderError> {
    with_input(template, web_service_url, content, |input| {
        template.prepared.render_pass_json(input)
    })
}

/// Renders and signs `content` (on the calling thread: call it from the blocking pool).
pub fn sign_now(
    template: &LoadedTemplate,
    web_service_url: &str,
    content: &PassContent,
) -> Result<SignedFiles, RenderError> {
    with_input(template, web_service_url, content, |input| {
        template
            .prepared_for(&content.payload)
            .sign_files(input, &template.identity)
    })
}

/// What a rendering failure means for the caller: the payload's or the overrides' fault (every
/// problem, under `prefix` such as `items[3]` when given), or the server's.
pub fn render_problem(error: RenderError, prefix: Option<&str>) -> DomainError {
    let at = |param: &str| prefix.map_or_else(|| param.to_string(), |p| format!("{p}.{param}"));
    match error {
        RenderError::MissingPlaceholders(problems) => DomainError::invalid(
            "the payload has no value for some placeholders",
            problems
                .iter()
                .map(|p| {
                    Problem::new(
                        at("payload"),
                        format!(
                            "no value for placeholder {{{{ {} }}}} ({})",
                            p.message, p.location
                        ),
                    )
                })
                .collect(),
        ),
        RenderError::InvalidOverrides(problems) => DomainError::invalid(
            "the overrides are invalid",
            problems
                .iter()
                .map(|p| Problem::new(at("overrides"), format!("{}: {}", p.location, p.message)))
                .collect(),
        ),
        RenderError::Signing(e) => DomainError::internal(format!("signing a pass failed: {e}")),
    }
}

/// Fingerprint on the blocking pool.
pub async fn fingerprint(
    template: Arc<LoadedTemplate>,
    web_service_url: Arc<str>,
    content: PassContent,
) -> Result<[u8; 32], DomainError> {
    tokio::task::spawn_blocking(move || fingerprint_now(&template, &web_service_url, &content))
        .await?
        .map_err(|e| render_problem(e, None))
}

/// Renders and signs a pass on the blocking pool.
pub async fn sign(
    template: Arc<LoadedTemplate>,
    web_service_url: Arc<str>,
    content: PassContent,
) -> Result<SignedFiles, DomainError> {
    tokio::task::spawn_blocking(move || sign_now(&template, &web_service_url, &content))
        .await?
        .map_err(|e| render_problem(e, None))
}
