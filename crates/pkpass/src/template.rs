//! Reading a template (.zip bytes or a folder) safely and checking it.
use std::collections::BTreeMap;

use crate::problem::{Findings, Problem};

/// Caps that keep hostile archives harmless.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted .zip (SPEC: `PASSMINT_MAX_TEMPLATE_BYTES`, default 1 MiB).
    pub max_zip_bytes: u64,
    /// Most bytes actually inflated across all entries (16 MiB).
    pub max_expanded_bytes: u64,
    /// Most entries in the archive.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_zip_bytes: 1024 * 1024,
            max_expanded_bytes: 16 * 1024 * 1024,
            max_entries: 1000,
        }
    }
}

/// A checked template: its files by normalised path (`pass.json`, `icon@2x.png`,
/// `de.lproj/pass.strings`), junk and old `manifest.json`/`signature` removed.
#[derive(Debug, Clone)]
pub struct Template {
    files: BTreeMap<String, Vec<u8>>,
    pass_json: serde_json::Value,
    warnings: Vec<Problem>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The archive is larger than `Limits::max_zip_bytes` (maps to 413).
    #[error("template is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The template has errors; `findings` holds every error and warning found.
    #[error("template is invalid: {} error(s)", findings.errors.len())]
    Invalid { findings: Findings },
    /// Reading a folder from disk failed.
    #[error("cannot read template: {0}")]
    Io(#[from] std::io::Error),
}

impl Template {
    /// Reads and checks a template from .zip bytes.
    pub fn from_zip(bytes: &[u8], limits: &Limits) -> Result<Self, TemplateError> {
        let _ = (bytes, limits);
        todo!()
    }

    /// Reads and checks a template folder (e.g. `Event.pass/`).
    pub fn from_dir(path: &std::path::Path, limits: &Limits) -> Result<Self, TemplateError> {
        let _ = (path, limits);
        todo!()
    }

    /// The parsed `pass.json`.
    #[must_use]
    pub fn pass_json(&self) -> &serde_json::Value {
        &self.pass_json
    }

    /// Files by normalised path, `pass.json` included.
    #[must_use]
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// Findings that don't stop the template (image sizes, hex colours, keys with no effect).
    #[must_use]
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
}
