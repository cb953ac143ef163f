//! The template upload form (multipart/form-data): reading it within limits into the domain's
//! [`TemplateUpload`], noting what is already wrong (a field that isn't UTF-8 or is too long)
//! rather than stopping at the first problem. The domain checks the fields themselves.
use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use axum::http::StatusCode;
use bytes::Bytes;

use super::error::ApiError;
use crate::domain::{Problem, TemplateUpload};

/// Largest accepted text field (PEMs are a few KiB).
const MAX_TEXT_FIELD_BYTES: usize = 256 * 1024;

/// Reads the whole form. The template field is counted as it streams: past `max_template_bytes`
/// the rest of the body is drained (bounded by the route's body limit) and 413 is returned, so
/// the client reads a clean response instead of a reset connection.
pub async fn read(mut multipart: Multipart, max_template_bytes: u64) -> Result<TemplateUpload, ApiError> {
    let mut form = TemplateUpload::default();
    let mut too_large = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(&e, too_large, max_template_bytes)),
        };
        let name = field.name().unwrap_or_default().to_string();
        let mut field = field;
        if too_large {
            drain(&mut field, max_template_bytes).await?;
            continue;
        }
        if name == "template" {
            let mut data = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if (data.len() + chunk.len()) as u64 > max_template_bytes {
                            too_large = true;
                            drain(&mut field, max_template_bytes).await?;
                            break;
                        }
                        data.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(multipart_error(&e, too_large, max_template_bytes)),
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
                drain(&mut field, max_template_bytes).await?;
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
                Err(e) => return Err(multipart_error(&e, too_large, max_template_bytes)),
            }
        }
        if overflow {
            form.problems.push(Problem::new(
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
            Err(_) => form.problems.push(Problem::new(&name, "must be UTF-8 text")),
        }
    }
    if too_large {
        return Err(template_too_large(max_template_bytes));
    }
    Ok(form)
}

fn template_too_large(max: u64) -> ApiError {
    ApiError::payload_too_large(crate::domain::template_too_large_message(max))
}

async fn drain(
    field: &mut axum::extract::multipart::Field<'_>,
    max_template_bytes: u64,
) -> Result<(), ApiError> {
    loop {
        match field.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => return Err(multipart_error(&e, false, max_template_bytes)),
        }
    }
}

/// `max_template_bytes` names the limit in a 413 (a body past the route's limit is a template
/// past its own, plus the form around it).
fn multipart_error(error: &MultipartError, template_too_large: bool, max_template_bytes: u64) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE || template_too_large {
        self::template_too_large(max_template_bytes)
    } else {
        ApiError::bad_request(
            format!("malformed multipart/form-data body: {}", error.body_text()),
            Vec::new(),
        )
    }
}
