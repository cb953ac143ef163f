//! The template upload form (multipart/form-data): reading it within limits and checking each
//! field, collecting every problem rather than stopping at the first.
use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use axum::http::StatusCode;
use bytes::Bytes;

use super::error::{ApiError, Detail};

/// Largest accepted text field (PEMs are a few KiB).
const MAX_TEXT_FIELD_BYTES: usize = 256 * 1024;

/// The fields as received; any may be missing.
#[derive(Default)]
pub struct RawForm {
    pub template: Option<Bytes>,
    pub name: Option<String>,
    pub file_name: Option<String>,
    pub team_identifier: Option<String>,
    pub pass_type_identifier: Option<String>,
    pub wwdr: Option<String>,
    pub signer_cert: Option<String>,
    pub signer_key: Option<String>,
    pub signer_key_passphrase: Option<String>,
    /// Problems found while reading (a text field that isn't UTF-8 or is too long).
    pub problems: Vec<Detail>,
}

impl std::fmt::Debug for RawForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawForm")
            .field("name", &self.name)
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

/// Reads the whole form. The template field is counted as it streams: past `max_template_bytes`
/// the rest of the body is drained (bounded by the route's body limit) and 413 is returned, so
/// the client reads a clean response instead of a reset connection.
pub async fn read(mut multipart: Multipart, max_template_bytes: u64) -> Result<RawForm, ApiError> {
    let mut form = RawForm::default();
    let mut too_large = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(&e, too_large)),
        };
        let name = field.name().unwrap_or_default().to_string();
        let mut field = field;
        if too_large {
            drain(&mut field).await?;
            continue;
        }
        if name == "template" {
            let mut data = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if (data.len() + chunk.len()) as u64 > max_template_bytes {
                            too_large = true;
                            drain(&mut field).await?;
                            break;
                        }
                        data.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(multipart_error(&e, too_large)),
                }
            }
            if form.template.is_none() && !too_large {
                form.template = Some(Bytes::from(data));
            }
            continue;
        }
        let slot = match name.as_str() {
            "name" => &mut form.name,
            "fileName" => &mut form.file_name,
            "teamIdentifier" => &mut form.team_identifier,
            "passTypeIdentifier" => &mut form.pass_type_identifier,
            "wwdr" => &mut form.wwdr,
            "signerCert" => &mut form.signer_cert,
            "signerKey" => &mut form.signer_key,
            "signerKeyPassphrase" => &mut form.signer_key_passphrase,
            _ => {
                // Unknown fields are ignored, as MATTR does.
                drain(&mut field).await?;
                continue;
            }
        };
        let mut data = Vec::new();
        let mut overflow = false;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if data.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
                        overflow = true;
                    } else {
                        data.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(multipart_error(&e, too_large)),
            }
        }
        if overflow {
            form.problems.push(Detail::body(
                &name,
                format!("must be at most {MAX_TEXT_FIELD_BYTES} bytes"),
            ));
            continue;
        }
        match String::from_utf8(data) {
            Ok(text) => {
                if slot.is_none() {
                    *slot = Some(text);
                }
            }
            Err(_) => form.problems.push(Detail::body(&name, "must be UTF-8 text")),
        }
    }
    if too_large {
        return Err(template_too_large(max_template_bytes));
    }
    Ok(form)
}

fn template_too_large(max: u64) -> ApiError {
    ApiError::payload_too_large(format!("template must be at most {max} bytes"))
}

async fn drain(field: &mut axum::extract::multipart::Field<'_>) -> Result<(), ApiError> {
    loop {
        match field.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => return Err(multipart_error(&e, false)),
        }
    }
}

fn multipart_error(error: &MultipartError, template_too_large: bool) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE || template_too_large {
        ApiError::payload_too_large("request body is too large")
    } else {
        ApiError::bad_request(
            format!("malformed multipart/form-data body: {}", error.body_text()),
            Vec::new(),
        )
    }
}

/// The form once every field is present and well formed.
pub struct TemplateForm {
    pub template: Bytes,
    pub name: String,
    pub file_name: String,
    pub team_identifier: String,
    pub pass_type_identifier: String,
    pub wwdr: String,
    pub signer_cert: String,
    pub signer_key: String,
    pub signer_key_passphrase: String,
}

impl std::fmt::Debug for TemplateForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateForm")
            .field("name", &self.name)
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

/// Checks each field on its own. Returns the problems found (empty when all is well); the
/// content checks (zip, signing material) are run by the caller on whatever is present.
pub fn check_fields(form: &RawForm) -> Vec<Detail> {
    let mut details = form.problems.clone();
    let reported = |d: &Vec<Detail>, p: &str| d.iter().any(|x| x.param == p);
    let required = "is required";

    match &form.template {
        Some(t) if !t.is_empty() => {}
        _ if reported(&details, "template") => {}
        _ => details.push(Detail::body("template", required)),
    }
    match &form.name {
        None if !reported(&details, "name") => details.push(Detail::body("name", required)),
        Some(name) => {
            let n = name.chars().count();
            if !(1..=1024).contains(&n) {
                details.push(Detail::body(
                    "name",
                    format!("must be 1 to 1024 characters, got {n}"),
                ));
            }
        }
        None => {}
    }
    match &form.file_name {
        None if !reported(&details, "fileName") => {
            details.push(Detail::body("fileName", required));
        }
        Some(file_name) => {
            if let Some(msg) = file_name_problem(file_name) {
                details.push(Detail::body("fileName", msg).with_value(file_name));
            }
        }
        None => {}
    }
    for (param, value) in [
        ("teamIdentifier", &form.team_identifier),
        ("passTypeIdentifier", &form.pass_type_identifier),
    ] {
        match value {
            None if !reported(&details, param) => details.push(Detail::body(param, required)),
            Some(v) if v.trim().is_empty() || v.trim() != v => {
                details
                    .push(Detail::body(param, "must be non-empty, without surrounding spaces").with_value(v));
            }
            Some(v) if v.chars().count() > 255 || v.chars().any(char::is_control) => {
                details.push(Detail::body(param, "must be at most 255 printable characters"));
            }
            _ => {}
        }
    }
    for (param, value) in [
        ("wwdr", &form.wwdr),
        ("signerCert", &form.signer_cert),
        ("signerKey", &form.signer_key),
    ] {
        match value {
            None if !reported(&details, param) => details.push(Detail::body(param, required)),
            Some(v) if v.trim().is_empty() => details.push(Detail::body(param, required)),
            _ => {}
        }
    }
    // Required as in the seed; an empty passphrase is fine for an unencrypted key.
    if form.signer_key_passphrase.is_none() && !reported(&details, "signerKeyPassphrase") {
        details.push(Detail::body("signerKeyPassphrase", required));
    }
    details
}

/// Why `name` isn't an acceptable pass file name, if it isn't.
pub fn file_name_problem(name: &str) -> Option<String> {
    let n = name.chars().count();
    if !(1..=100).contains(&n) {
        return Some(format!("must be 1 to 100 characters, got {n}"));
    }
    let Some(stem) = name.strip_suffix(".pkpass") else {
        return Some("must end with .pkpass".into());
    };
    if stem.is_empty()
        || !stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Some("must contain only letters A-Z a-z, digits, '_' or '-' before .pkpass".into());
    }
    None
}

impl TemplateForm {
    /// The complete form, if every field is present (call after [`check_fields`] found none
    /// missing).
    pub fn complete(raw: RawForm) -> Option<Self> {
        Some(Self {
            template: raw.template?,
            name: raw.name?,
            file_name: raw.file_name?,
            team_identifier: raw.team_identifier?,
            pass_type_identifier: raw.pass_type_identifier?,
            wwdr: raw.wwdr?,
            signer_cert: raw.signer_cert?,
            signer_key: raw.signer_key?,
            signer_key_passphrase: raw.signer_key_passphrase?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_safe_pkpass_file_names() {
        assert_eq!(file_name_problem("my_Pass-1.pkpass"), None);
        assert!(file_name_problem("pass.zip").is_some());
        assert!(file_name_problem(".pkpass").is_some());
        assert!(file_name_problem("my pass.pkpass").is_some());
        assert!(file_name_problem("../x.pkpass").is_some());
        assert!(file_name_problem(&format!("{}.pkpass", "a".repeat(94))).is_some());
        assert_eq!(file_name_problem(&format!("{}.pkpass", "a".repeat(93))), None);
    }

    #[test]
    fn reports_every_missing_field_at_once() {
        let details = check_fields(&RawForm::default());
        let params: Vec<&str> = details.iter().map(|d| d.param.as_str()).collect();
        assert_eq!(
            params,
            vec![
                "template",
                "name",
                "fileName",
                "teamIdentifier",
                "passTypeIdentifier",
                "wwdr",
                "signerCert",
                "signerKey",
                "signerKeyPassphrase"
            ]
        );
    }
}
