//! Templates (SPEC 2.1): an upload is checked whole (fields, zip, signing material, the
//! certificate against the identifiers), every problem reported at once; the signing key is
//! sealed under the master key before it is stored. Replacing a template stores the new
//! revision with a rollout (SPEC 7) that brings its passes up to date in the background.
use bytes::Bytes;
use pkpass::{Limits, SigningIdentity, SigningMaterial, Template, TemplateError};
use serde_json::Value;

use super::Domain;
use super::crypto::MasterKey;
use super::error::{DomainError, Missing, Problem};
use super::ids::{RolloutId, TemplateId};
use super::signer::seal_identity;
use crate::store::{NewTemplate, ReplaceOutcome, RolloutRecord, TemplateRecord};

/// A finding that doesn't stop the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub param: String,
    pub msg: String,
}

/// A template upload as received; any field may be missing. `problems` holds what was already
/// wrong while reading it (a text field that isn't UTF-8 or is too long).
#[derive(Default)]
pub struct TemplateUpload {
    pub template: Option<Bytes>,
    pub name: Option<String>,
    pub file_name: Option<String>,
    pub team_identifier: Option<String>,
    pub pass_type_identifier: Option<String>,
    pub wwdr: Option<String>,
    pub signer_cert: Option<String>,
    pub signer_key: Option<String>,
    pub signer_key_passphrase: Option<String>,
    pub problems: Vec<Problem>,
}

impl std::fmt::Debug for TemplateUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateUpload")
            .field("name", &self.name)
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

/// Checks each field on its own: the problems found (empty when all is well). The content
/// checks (zip, signing material) run separately on whatever is present.
pub fn check_fields(form: &TemplateUpload) -> Vec<Problem> {
    let mut problems = form.problems.clone();
    let reported = |d: &Vec<Problem>, p: &str| d.iter().any(|x| x.param == p);
    let required = "is required";

    match &form.template {
        Some(t) if !t.is_empty() => {}
        _ if reported(&problems, "template") => {}
        _ => problems.push(Problem::new("template", required)),
    }
    match &form.name {
        None if !reported(&problems, "name") => problems.push(Problem::new("name", required)),
        Some(name) => {
            let n = name.chars().count();
            if !(1..=1024).contains(&n) {
                problems.push(Problem::new(
                    "name",
                    format!("must be 1 to 1024 characters, got {n}"),
                ));
            }
        }
        None => {}
    }
    match &form.file_name {
        None if !reported(&problems, "fileName") => problems.push(Problem::new("fileName", required)),
        Some(file_name) => {
            if let Some(msg) = file_name_problem(file_name) {
                problems.push(Problem::new("fileName", msg).with_value(file_name.as_str()));
            }
        }
        None => {}
    }
    for (param, value) in [
        ("teamIdentifier", &form.team_identifier),
        ("passTypeIdentifier", &form.pass_type_identifier),
    ] {
        match value {
            None if !reported(&problems, param) => problems.push(Problem::new(param, required)),
            Some(v) if v.trim().is_empty() || v.trim() != v => {
                problems.push(
                    Problem::new(param, "must be non-empty, without surrounding spaces")
                        .with_value(v.as_str()),
                );
            }
            Some(v) if v.chars().count() > 255 || v.chars().any(char::is_control) => {
                problems.push(Problem::new(param, "must be at most 255 printable characters"));
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
            None if !reported(&problems, param) => problems.push(Problem::new(param, required)),
            Some(v) if v.trim().is_empty() => problems.push(Problem::new(param, required)),
            _ => {}
        }
    }
    // Required as in the seed; an empty passphrase is fine for an unencrypted key.
    if form.signer_key_passphrase.is_none() && !reported(&problems, "signerKeyPassphrase") {
        problems.push(Problem::new("signerKeyPassphrase", required));
    }
    problems
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

/// What a 413 for a template says: the limit, and the setting that raises it.
pub fn template_too_large_message(max_template_bytes: u64) -> String {
    format!(
        "the template must be at most {max_template_bytes} bytes; this server's limit is set by \
         PASSMINT_MAX_TEMPLATE_BYTES"
    )
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
fn overridden_identifiers(pass_json: &Value, form: &TemplateUpload) -> Vec<Warning> {
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
pub struct ContentCheck {
    pub problems: Vec<Problem>,
    pub identity: Option<SigningIdentity>,
    pub warnings: Vec<Warning>,
    pub too_large: bool,
}

/// Runs every content check on whatever fields are present: the zip, the signing material,
/// and the certificate against the identifiers. Public so the fuzz targets run exactly what an
/// upload goes through.
pub fn check_content(form: &TemplateUpload, limits: &Limits) -> ContentCheck {
    let mut problems = Vec::new();
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
            // The warnings go with the errors (marked as such), so a refused upload says
            // everything `passmint lint` would, e.g. the files left out of a misplaced folder.
            Err(TemplateError::Invalid { findings }) => problems.extend(
                findings
                    .errors
                    .iter()
                    .map(|p| Problem::new("template", problem_msg(p)))
                    .chain(
                        findings
                            .warnings
                            .iter()
                            .map(|p| Problem::new("template", format!("warning: {}", problem_msg(p)))),
                    ),
            ),
            Err(TemplateError::Io(e)) => {
                problems.push(Problem::new("template", format!("cannot read: {e}")));
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
            problems.extend(
                pkpass::sign::check_certificate_identifiers(cert.as_bytes(), pti, team)
                    .into_iter()
                    .map(|p| Problem::new(p.field.param(), p.message)),
            );
        }
        match SigningIdentity::load(material) {
            Ok(loaded) => identity = Some(loaded),
            Err(pkpass::SigningError::Invalid(found)) => problems.extend(
                found
                    .into_iter()
                    .map(|p| Problem::new(p.field.param(), p.message)),
            ),
            Err(pkpass::SigningError::Crypto(e)) => {
                tracing::warn!(error = %e, "signing material check failed inside OpenSSL");
                problems.push(Problem::new(
                    "signerKey",
                    "the signing material could not be checked",
                ));
            }
        }
    }
    ContentCheck {
        problems,
        identity,
        warnings,
        too_large,
    }
}

/// Checks a whole upload (fields, zip, signing material), all problems at once, and prepares
/// the row to store under `id`.
async fn accept_upload(
    master_key: &MasterKey,
    max_template_bytes: u64,
    upload: TemplateUpload,
    id: &TemplateId,
) -> Result<(NewTemplate, Vec<Warning>), DomainError> {
    let mut problems = check_fields(&upload);
    let limits = Limits {
        max_zip_bytes: max_template_bytes,
        ..Limits::default()
    };
    let (upload, check) = tokio::task::spawn_blocking(move || {
        let check = check_content(&upload, &limits);
        (upload, check)
    })
    .await?;
    if check.too_large {
        return Err(DomainError::TooLarge {
            message: template_too_large_message(max_template_bytes),
        });
    }
    problems.extend(check.problems);
    if !problems.is_empty() {
        // A refusal carries the warnings too: everything `passmint lint` would print.
        problems.extend(
            check
                .warnings
                .iter()
                .map(|w| Problem::new(w.param.as_str(), format!("warning: {}", w.msg))),
        );
    }
    let invalid = || DomainError::invalid("the template is invalid", problems.clone());
    if !problems.is_empty() {
        return Err(invalid());
    }
    let identity = check.identity.ok_or_else(invalid)?;
    let certificate_expires_at = identity.expires_at().ok_or_else(|| {
        DomainError::invalid(
            "the template is invalid",
            vec![Problem::new(
                "signerCert",
                "the certificate's notAfter date is not a valid time",
            )],
        )
    })?;
    let (Some(template), Some(name), Some(file_name), Some(team), Some(pass_type)) = (
        upload.template,
        upload.name,
        upload.file_name,
        upload.team_identifier,
        upload.pass_type_identifier,
    ) else {
        return Err(invalid());
    };
    let sealed = seal_identity(master_key, id.as_str(), &identity)
        .map_err(|e| DomainError::internal(format!("sealing the signing key failed: {e}")))?;
    let row = NewTemplate {
        id: id.to_string(),
        name,
        file_name,
        team_identifier: team,
        pass_type_identifier: pass_type,
        template_zip: template.to_vec(),
        signer_cert_der: sealed.signer_cert_der,
        wwdr_der: sealed.wwdr_der,
        signer_key_sealed: sealed.signer_key_sealed,
        certificate_expires_at,
    };
    Ok((row, check.warnings))
}

impl Domain {
    /// Checks and stores a new template.
    pub async fn create_template(
        &self,
        upload: TemplateUpload,
    ) -> Result<(TemplateRecord, Vec<Warning>), DomainError> {
        let id = TemplateId::new();
        let (row, mut warnings) =
            accept_upload(&self.master_key, self.config.max_template_bytes, upload, &id).await?;
        let (row, google) = self.google_warnings(row).await?;
        warnings.extend(google);
        let record = self.store.insert_template(&row).await?;
        Ok((record, warnings))
    }

    /// Replaces template `id` (every field again) and starts its rollout, in one transaction;
    /// returns at once (the rollout runs in the background, see `crate::rollout`). A template
    /// with passes can't change its pass type or team identifier: Wallet would take the passes
    /// for other passes, and the installed ones would be orphaned (409 naming the field).
    pub async fn replace_template(
        &self,
        id: &TemplateId,
        upload: TemplateUpload,
        request_id: &str,
    ) -> Result<(TemplateRecord, Vec<Warning>, RolloutRecord), DomainError> {
        self.template(id).await?;
        let (row, mut warnings) =
            accept_upload(&self.master_key, self.config.max_template_bytes, upload, id).await?;
        let (row, google) = self.google_warnings(row).await?;
        warnings.extend(google);
        // Once the upload is accepted the write runs to its end in a task of its own, even if
        // the client goes away meanwhile (a request future is dropped with its connection).
        let (domain, template_id, request_id) = (self.clone(), id.clone(), request_id.to_string());
        let outcome = tokio::spawn(async move {
            let rollout_id = RolloutId::new();
            let outcome = domain
                .store
                .replace_template_with_rollout(&row, rollout_id.as_str(), &request_id)
                .await;
            domain.signers.invalidate(template_id.as_str());
            outcome
        })
        .await??;
        match outcome {
            ReplaceOutcome::Replaced { template, rollout } => {
                tracing::info!(template_id = %id, rollout_id = %rollout.id, passes = rollout.passes_total, "template replaced; rollout started");
                Ok((*template, warnings, *rollout))
            }
            ReplaceOutcome::Missing => Err(DomainError::NotFound(Missing::Template)),
            ReplaceOutcome::IdentifiersChanged(fields) => Err(DomainError::conflict(
                "the template has passes, so its identifiers cannot change",
                fields
                    .into_iter()
                    .map(|f| {
                        Problem::new(
                            f,
                            "differs from the stored template's while it has passes (they would be orphaned); \
                             issue them from a new template instead",
                        )
                    })
                    .collect(),
            )),
        }
    }

    /// What of template `row` Google Wallet cannot show, when Google Wallet is on (mapped on
    /// the blocking pool; the row is handed back).
    async fn google_warnings(&self, row: NewTemplate) -> Result<(NewTemplate, Vec<Warning>), DomainError> {
        let Some(google) = self.google().cloned() else {
            return Ok((row, Vec::new()));
        };
        Ok(tokio::task::spawn_blocking(move || {
            let warnings = google.warnings(&row.id, &row.template_zip);
            (row, warnings)
        })
        .await?)
    }

    /// Template `id`.
    pub async fn template(&self, id: &TemplateId) -> Result<TemplateRecord, DomainError> {
        self.store
            .get_template(id.as_str())
            .await?
            .ok_or(DomainError::NotFound(Missing::Template))
    }

    /// Up to `limit` templates after position `after`, in creation order.
    pub async fn list_templates(
        &self,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<TemplateRecord>, DomainError> {
        Ok(self.store.list_templates(after, limit).await?)
    }

    /// Deletes a template, its passes and their registrations.
    pub async fn delete_template(&self, id: &TemplateId) -> Result<(), DomainError> {
        if !self.store.delete_template(id.as_str()).await? {
            return Err(DomainError::NotFound(Missing::Template));
        }
        self.signers.invalidate(id.as_str());
        Ok(())
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
        let problems = check_fields(&TemplateUpload::default());
        let params: Vec<&str> = problems.iter().map(|d| d.param.as_str()).collect();
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
