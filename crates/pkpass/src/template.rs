//! Reading a template (.zip bytes or a folder) safely and checking it.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::pass_json::{self, Mode};
use crate::problem::{Findings, Problem};
use crate::{images, personalization, strings};

/// The default largest template .zip: the server's `PASSMINT_MAX_TEMPLATE_BYTES` default (1 MiB,
/// MATTR's limit), which `passmint lint` warns about.
pub const DEFAULT_MAX_ZIP_BYTES: u64 = 1024 * 1024;

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
            max_zip_bytes: DEFAULT_MAX_ZIP_BYTES,
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

/// Why a template was refused.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The archive is larger than `Limits::max_zip_bytes` (maps to 413).
    #[error("template is larger than {limit} bytes")]
    TooLarge {
        /// The limit it exceeded.
        limit: u64,
    },
    /// The template has errors; `findings` holds every error and warning found.
    #[error("template is invalid: {} error(s)", findings.errors.len())]
    Invalid {
        /// Every error and warning.
        findings: Findings,
    },
    /// Reading a folder from disk failed.
    #[error("cannot read template: {0}")]
    Io(#[from] std::io::Error),
}

impl Template {
    /// Reads and checks a template from .zip bytes.
    pub fn from_zip(bytes: &[u8], limits: &Limits) -> Result<Self, TemplateError> {
        if bytes.len() as u64 > limits.max_zip_bytes {
            return Err(TemplateError::TooLarge {
                limit: limits.max_zip_bytes,
            });
        }
        let mut findings = Findings::default();
        let raw = read_zip(bytes, limits, &mut findings);
        Self::check(raw, findings)
    }

    /// Reads and checks a template folder (e.g. `Event.pass/`).
    pub fn from_dir(path: &Path, limits: &Limits) -> Result<Self, TemplateError> {
        let mut findings = Findings::default();
        let mut raw = Vec::new();
        let mut budget = limits.max_expanded_bytes;
        read_dir(path, "", limits, &mut budget, &mut raw, &mut findings)?;
        Self::check(raw, findings)
    }

    /// Normalises the raw entries and checks everything; `findings` may already hold errors from
    /// reading the archive.
    fn check(raw: Vec<(String, Vec<u8>)>, mut findings: Findings) -> Result<Self, TemplateError> {
        let files = normalise(raw, &mut findings);
        let pass_json = check_contents(&files, Mode::Template, &mut findings);
        if findings.errors.is_empty() {
            Ok(Self {
                files,
                pass_json,
                warnings: findings.warnings,
            })
        } else {
            Err(TemplateError::Invalid { findings })
        }
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

    /// This template without the files `leave_out` matches (`pass.json` is always kept), e.g. a
    /// personalized pass's template without the signup form's files.
    #[must_use]
    pub fn without(&self, leave_out: impl Fn(&str) -> bool) -> Self {
        let files = self
            .files
            .iter()
            .filter(|(name, _)| *name == "pass.json" || !leave_out(name))
            .map(|(n, b)| (n.clone(), b.clone()))
            .collect();
        Self {
            files,
            pass_json: self.pass_json.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// Findings that don't stop the template (image sizes, hex colours, keys with no effect).
    #[must_use]
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
}

/// Checks a pass's files: `pass.json` in `mode`, the images and the `.strings` files. Returns the
/// parsed `pass.json` (`Null` when it is missing or unreadable).
pub(crate) fn check_contents(
    files: &BTreeMap<String, Vec<u8>>,
    mode: Mode,
    findings: &mut Findings,
) -> serde_json::Value {
    let mut pass_json = serde_json::Value::Null;
    let mut layouts = None;
    match files.get("pass.json") {
        None => {
            if findings.errors.is_empty() {
                findings.error("pass.json", "is missing");
            }
        }
        Some(bytes) => {
            if let Some(map) = pass_json::parse(bytes, findings) {
                pass_json::check(&map, mode, findings);
                layouts = pass_json::layouts(&map);
                pass_json = serde_json::Value::Object(map);
            }
        }
    }
    if files.contains_key("pass.json") {
        images::check(files, layouts, findings);
        personalization::check(files, pass_json.as_object(), findings);
    }
    for (path, bytes) in files {
        if path.ends_with(".strings") {
            let parsed = strings::decode(bytes).and_then(|(text, _)| strings::parse(&text));
            if let Err(e) = parsed {
                findings.error(path.as_str(), e);
            }
        }
    }
    pass_json
}

/// Why an entry name is refused, checked on the raw name (the zip crate's `enclosed_name()` would
/// quietly turn `/etc/x` into `etc/x`).
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.contains('\\') {
        return Some("contains a backslash");
    }
    if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
        return Some("is an absolute path");
    }
    if name.contains('\0') || name.chars().any(char::is_control) {
        return Some("contains control characters");
    }
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.split('/').any(|c| c == ".." || c == "." || c.is_empty()) {
        return Some("contains '..', '.' or an empty path component");
    }
    None
}

/// Files Finder and Windows leave behind.
fn is_junk(path: &str) -> bool {
    path.split('/')
        .any(|c| c == "__MACOSX" || c == ".DS_Store" || c == "Thumbs.db" || c.starts_with("._"))
}

pub(crate) fn read_zip(bytes: &[u8], limits: &Limits, findings: &mut Findings) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut archive = match zip::ZipArchive::new(std::io::Cursor::new(bytes)) {
        Ok(a) => a,
        Err(e) => {
            findings.error("template", format!("is not a readable .zip archive ({e})"));
            return out;
        }
    };
    if archive.len() > limits.max_entries {
        findings.error(
            "template",
            format!(
                "holds {} entries; at most {} are accepted",
                archive.len(),
                limits.max_entries
            ),
        );
        return out;
    }
    if archive.has_duplicate_names() {
        findings.error("template", "holds the same file name more than once");
    }
    let mut budget = limits.max_expanded_bytes;
    for i in 0..archive.len() {
        let mut file = match archive.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                findings.error(format!("template entry #{i}"), format!("cannot be read ({e})"));
                continue;
            }
        };
        let name = match std::str::from_utf8(file.name_raw()) {
            Ok(n) => n.to_owned(),
            Err(_) => {
                findings.error(format!("template entry #{i}"), "has a name that is not UTF-8");
                continue;
            }
        };
        if let Some(why) = unsafe_name(&name) {
            findings.error(name, format!("is refused: the name {why}"));
            continue;
        }
        if file.is_symlink() {
            findings.error(name, "is a link; links are not allowed in a template");
            continue;
        }
        if file.is_dir() || is_junk(&name) {
            continue;
        }
        if file.encrypted() {
            findings.error(name, "is encrypted");
            continue;
        }
        // Cap what is actually inflated, not what the header claims.
        let mut data = Vec::new();
        match (&mut file).take(budget + 1).read_to_end(&mut data) {
            Ok(n) if n as u64 > budget => {
                findings.error(
                    "template",
                    format!(
                        "expands to more than {} bytes; refused as a zip bomb",
                        limits.max_expanded_bytes
                    ),
                );
                return out;
            }
            Ok(n) => budget -= n as u64,
            Err(e) => {
                findings.error(name, format!("cannot be decompressed ({e})"));
                continue;
            }
        }
        out.push((name, data));
    }
    out
}

fn read_dir(
    dir: &Path,
    prefix: &str,
    limits: &Limits,
    budget: &mut u64,
    out: &mut Vec<(String, Vec<u8>)>,
    findings: &mut Findings,
) -> Result<(), TemplateError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let Ok(name) = entry.file_name().into_string() else {
            findings.error(
                format!("{prefix}{}", entry.file_name().to_string_lossy()),
                "has a name that is not UTF-8",
            );
            continue;
        };
        let path = format!("{prefix}{name}");
        if is_junk(&path) {
            continue;
        }
        let meta = std::fs::symlink_metadata(entry.path())?;
        if meta.file_type().is_symlink() {
            findings.error(path, "is a link; links are not allowed in a template");
        } else if meta.is_dir() {
            read_dir(&entry.path(), &format!("{path}/"), limits, budget, out, findings)?;
        } else {
            if out.len() >= limits.max_entries {
                findings.error(
                    "template",
                    format!("holds more than {} files", limits.max_entries),
                );
                return Ok(());
            }
            let mut data = Vec::new();
            let n = std::fs::File::open(entry.path())?
                .take(*budget + 1)
                .read_to_end(&mut data)?;
            if n as u64 > *budget {
                findings.error(
                    "template",
                    format!("is larger than {} bytes", limits.max_expanded_bytes),
                );
                return Ok(());
            }
            *budget -= n as u64;
            out.push((path, data));
        }
    }
    Ok(())
}

/// Strips one wrapping folder, drops an old signature and files Wallet doesn't read, refuses
/// names that collide.
fn normalise(raw: Vec<(String, Vec<u8>)>, findings: &mut Findings) -> BTreeMap<String, Vec<u8>> {
    let has_root_pass = raw.iter().any(|(n, _)| n == "pass.json");
    let wrapper = if has_root_pass {
        None
    } else {
        let first = raw.first().and_then(|(n, _)| n.split_once('/')).map(|(d, _)| d);
        first
            .filter(|d| {
                raw.iter()
                    .all(|(n, _)| n.split_once('/').is_some_and(|(x, _)| x == *d))
                    && raw.iter().any(|(n, _)| *n == format!("{d}/pass.json"))
            })
            .map(str::to_owned)
    };
    let mut files = BTreeMap::new();
    for (name, data) in raw {
        let name = match &wrapper {
            Some(w) => name[w.len() + 1..].to_owned(),
            None => name,
        };
        if name == "manifest.json" || name == "signature" {
            continue; // an old signed bundle used as a template: we sign anew
        }
        let depth = name.matches('/').count();
        let in_lproj = name.split_once('/').is_some_and(|(d, _)| d.ends_with(".lproj"));
        if depth > 1 || (depth == 1 && !in_lproj) {
            findings.warn(
                name.as_str(),
                "is not in a place Wallet reads (top level or a .lproj folder); left out",
            );
            continue;
        }
        if files.contains_key(&name) {
            findings.error(name.as_str(), "appears more than once");
            continue;
        }
        files.insert(name, data);
    }
    files
}
