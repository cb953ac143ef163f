//! Google Wallet from the same template (SPEC 13), as the domain knows it: each template
//! revision mapped to a class (cached), each pass to an object, the "Save to Google Wallet"
//! link, the images Google fetches, and the mapping gaps as template warnings. Sending is the
//! Google worker's (`crate::google`); this module does no I/O but the store's.
use std::collections::BTreeMap;
use std::sync::Arc;

use gwallet::{GoogleTemplate, Localizations, MappedObject, ObjectRef, ServiceAccount, TemplateInput};
use pkpass::{Limits, Template};

use super::Domain;
use super::error::DomainError;
use super::render::{self, PassContent};
use super::templates::Warning;
use crate::store::PassRecord;

/// The language of the texts as written in `pass.json` (Google's `defaultValue`).
const DEFAULT_LANGUAGE: &str = "en";

/// Bytes of mapped templates (class, recipe, images) kept in memory.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What the domain needs of the Google Wallet settings.
#[derive(Clone)]
pub struct GoogleConfig {
    pub issuer_id: String,
    pub account: ServiceAccount,
    /// `PASSMINT_GOOGLE_SAVE_URL`.
    pub save_url: String,
    /// `PASSMINT_PUBLIC_URL` (image URLs, the save JWT's `origins`).
    pub public_url: String,
}

impl std::fmt::Debug for GoogleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleConfig")
            .field("issuer_id", &self.issuer_id)
            .field("client_email", &self.account.client_email())
            .finish_non_exhaustive()
    }
}

/// One template revision as Google Wallet sees it.
#[derive(Debug)]
pub struct MappedTemplate {
    pub template_id: String,
    pub revision: i64,
    pub google: GoogleTemplate,
    /// The revision's images by file name (`logo@2x.png`), as `/assets/…` serves them.
    images: BTreeMap<String, bytes::Bytes>,
    size: usize,
}

impl MappedTemplate {
    /// Image `file` of this revision, with its content type.
    pub fn image(&self, file: &str) -> Option<(bytes::Bytes, &'static str)> {
        let bytes = self.images.get(file)?;
        Some((bytes.clone(), image_type(file)?))
    }
}

/// The content type of an image Google may be sent, by extension; `None` for anything else.
fn image_type(file: &str) -> Option<&'static str> {
    let (_, ext) = file.rsplit_once('.')?;
    match ext.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "gif" => Some("image/gif"),
        _ => None,
    }
}

#[derive(Clone)]
struct BySize;

impl quick_cache::Weighter<String, Arc<MappedTemplate>> for BySize {
    fn weight(&self, _id: &String, t: &Arc<MappedTemplate>) -> u64 {
        t.size as u64
    }
}

/// Google Wallet's part of the domain: the settings and the mapped templates.
#[derive(Clone)]
pub struct GoogleWallet {
    config: Arc<GoogleConfig>,
    templates: Arc<quick_cache::sync::Cache<String, Arc<MappedTemplate>, BySize>>,
}

impl std::fmt::Debug for GoogleWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleWallet")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GoogleWallet {
    pub fn new(config: GoogleConfig) -> Self {
        Self {
            config: Arc::new(config),
            templates: Arc::new(quick_cache::sync::Cache::with_weighter(64, CACHE_BYTES, BySize)),
        }
    }

    pub fn config(&self) -> &GoogleConfig {
        &self.config
    }

    /// Maps `template` (revision `revision` of template `template_id`).
    fn map(
        &self,
        template_id: &str,
        revision: i64,
        template: &Template,
    ) -> (GoogleTemplate, Vec<pkpass::Problem>) {
        let (localizations, mut warnings) =
            Localizations::from_files(template.files().iter().map(|(n, b)| (n.as_str(), b.as_slice())));
        let names: Vec<String> = template.files().keys().cloned().collect();
        let google = GoogleTemplate::new(&TemplateInput {
            issuer_id: &self.config.issuer_id,
            template_id,
            revision,
            pass_json: template.pass_json(),
            localizations: &localizations,
            file_names: &names,
            public_url: &self.config.public_url,
            default_language: DEFAULT_LANGUAGE,
        });
        warnings.extend(google.warnings().iter().cloned());
        (google, warnings)
    }

    /// What of an uploaded template Google Wallet cannot show, as template warnings (for the
    /// upload's answer; the zip was checked already).
    pub fn warnings(&self, template_id: &str, zip: &[u8]) -> Vec<Warning> {
        let limits = Limits {
            max_zip_bytes: (zip.len() as u64).max(Limits::default().max_zip_bytes),
            ..Limits::default()
        };
        let Ok(template) = Template::from_zip(zip, &limits) else {
            return Vec::new();
        };
        let (_, warnings) = self.map(template_id, 1, &template);
        warnings
            .iter()
            .map(|p| Warning {
                param: "template".into(),
                msg: if p.location.is_empty() {
                    p.message.clone()
                } else {
                    format!("{}: {}", p.location, p.message)
                },
            })
            .collect()
    }
}

impl Domain {
    /// Google Wallet, when it is configured.
    pub fn google(&self) -> Option<&GoogleWallet> {
        self.google.as_ref()
    }

    /// Template `template_id`'s current revision mapped for Google Wallet (`None` when Google
    /// Wallet is off or there is no such template).
    pub async fn google_template(
        &self,
        template_id: &str,
    ) -> Result<Option<Arc<MappedTemplate>>, DomainError> {
        let Some(google) = self.google.clone() else {
            return Ok(None);
        };
        let Some(record) = self.store.get_template(template_id).await? else {
            google.templates.remove(template_id);
            return Ok(None);
        };
        if let Some(hit) = google
            .templates
            .get(template_id)
            .filter(|t| t.revision == record.revision)
        {
            return Ok(Some(hit));
        }
        let Some(material) = self.store.get_template_material(template_id).await? else {
            return Ok(None);
        };
        let mapped = tokio::task::spawn_blocking(move || -> Result<MappedTemplate, DomainError> {
            let limits = Limits {
                max_zip_bytes: (material.template_zip.len() as u64).max(Limits::default().max_zip_bytes),
                ..Limits::default()
            };
            let template = Template::from_zip(&material.template_zip, &limits)
                .map_err(|e| DomainError::internal(format!("stored template no longer reads: {e}")))?;
            let (mapped, _) = google.map(&material.id, material.revision, &template);
            let images: BTreeMap<String, bytes::Bytes> = template
                .files()
                .iter()
                .filter(|(name, _)| !name.contains('/') && image_type(name).is_some())
                .map(|(name, bytes)| (name.clone(), bytes::Bytes::copy_from_slice(bytes)))
                .collect();
            let size = images.values().map(bytes::Bytes::len).sum::<usize>()
                + material.template_zip.len() / 4
                + 4096;
            Ok(MappedTemplate {
                template_id: material.id,
                revision: material.revision,
                google: mapped,
                images,
                size,
            })
        })
        .await??;
        let mapped = Arc::new(mapped);
        if let Some(google) = &self.google {
            let newer = google
                .templates
                .get(template_id)
                .filter(|t| t.revision > mapped.revision);
            if let Some(newer) = newer {
                return Ok(Some(newer));
            }
            google.templates.insert(template_id.to_string(), mapped.clone());
        }
        Ok(Some(mapped))
    }

    /// Image `file` of template `template_id` at `revision`, for `/assets/…`: `None` when
    /// Google Wallet is off, the template is gone, the revision is not its current one (an
    /// immutable URL must never show other bytes) or it has no such image.
    pub async fn google_asset(
        &self,
        template_id: &str,
        revision: i64,
        file: &str,
    ) -> Result<Option<(bytes::Bytes, &'static str)>, DomainError> {
        let Some(mapped) = self.google_template(template_id).await? else {
            return Ok(None);
        };
        if mapped.revision != revision {
            return Ok(None);
        }
        Ok(mapped.image(file))
    }

    /// Pass `pass_id` as a Google Wallet object of its template's current revision (`None` when
    /// Google Wallet is off or the pass or its template is gone). A pass that no longer renders
    /// is the payload's fault (`DomainError::Invalid`).
    pub async fn google_object(
        &self,
        pass_id: &str,
    ) -> Result<Option<(Arc<MappedTemplate>, MappedObject)>, DomainError> {
        if self.google.is_none() {
            return Ok(None);
        }
        let Some(record) = self.store.get_pass(pass_id).await? else {
            return Ok(None);
        };
        let Some(mapped) = self.google_template(&record.template_id).await? else {
            return Ok(None);
        };
        let Some(loaded) = self
            .signers
            .at_least(
                &self.store,
                &self.master_key,
                &record.template_id,
                mapped.revision,
            )
            .await?
        else {
            return Ok(None);
        };
        let content = PassContent::of(&record)?;
        let web_service_url = self.web_service_url.clone();
        let mapped_for_task = mapped.clone();
        let pass_id = record.id.clone();
        let object = tokio::task::spawn_blocking(move || {
            render::pass_json_now(&loaded, &web_service_url, &content)
                .map(|json| mapped_for_task.google.object(&pass_id, &json))
        })
        .await?
        .map_err(|e| render::render_problem(e, None))?;
        Ok(Some((mapped, object)))
    }

    /// The "Save to Google Wallet" link of pass `record` (`None` when Google Wallet is off):
    /// `<save URL>/<JWT>`, the JWT signed with the service account key naming the pass's object.
    pub async fn google_save_url(&self, record: &PassRecord) -> Result<Option<String>, DomainError> {
        Ok(self
            .google_save_urls(std::slice::from_ref(record))
            .await?
            .pop()
            .flatten())
    }

    /// The save links of `records`, in order (all `None` when Google Wallet is off). Each
    /// template is looked up once, and the signatures (one RSA signature a pass) are made on the
    /// blocking pool.
    pub async fn google_save_urls(&self, records: &[PassRecord]) -> Result<Vec<Option<String>>, DomainError> {
        let Some(google) = self.google.clone() else {
            return Ok(vec![None; records.len()]);
        };
        let mut templates: std::collections::HashMap<String, Option<Arc<MappedTemplate>>> =
            std::collections::HashMap::new();
        for record in records {
            if !templates.contains_key(&record.template_id) {
                let mapped = self.google_template(&record.template_id).await?;
                templates.insert(record.template_id.clone(), mapped);
            }
        }
        let wanted: Vec<Option<(Arc<MappedTemplate>, String)>> = records
            .iter()
            .map(|r| {
                templates.get(&r.template_id).cloned().flatten().map(|mapped| {
                    let object_id = mapped.google.object_id(&r.id);
                    (mapped, object_id)
                })
            })
            .collect();
        let now = u64::try_from(crate::store::unix_secs()).unwrap_or(0);
        tokio::task::spawn_blocking(move || {
            let config = google.config();
            wanted
                .into_iter()
                .map(|item| {
                    let Some((mapped, object_id)) = item else {
                        return Ok(None);
                    };
                    let jwt = gwallet::save_jwt(
                        &config.account,
                        &[config.public_url.as_str()],
                        &[ObjectRef {
                            kind: mapped.google.kind(),
                            id: &object_id,
                            class_id: mapped.google.class_id(),
                        }],
                        now,
                    )
                    .map_err(|e| {
                        DomainError::internal(format!("signing the Google Wallet save link failed: {e}"))
                    })?;
                    Ok(Some(gwallet::save_url(&config.save_url, &jwt)))
                })
                .collect()
        })
        .await?
    }
}
