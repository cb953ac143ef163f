//! `{{placeholders}}` + overrides -> the pass's files; a prepared template issues signed passes.
use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::bundle::{PackedFiles, PassBytes};
use crate::manifest;
use crate::pass_json::{self, ISSUER_KEYS, Mode};
use crate::problem::{Findings, Problem};
use crate::sign::{SigningError, SigningIdentity};
use crate::strings::{self, Encoding};
use crate::template::Template;

/// The six keys the server always sets itself; overriding any of them is an error.
#[derive(Debug, Clone, Copy)]
pub struct PassIdentity<'a> {
    /// `passTypeIdentifier` (the certificate's UID).
    pub pass_type_identifier: &'a str,
    /// `teamIdentifier` (the certificate's OU).
    pub team_identifier: &'a str,
    /// `serialNumber`, unique per pass type.
    pub serial_number: &'a str,
    /// `None` leaves the pass without web service (CLI `sign`); `Some` sets both keys.
    pub web_service: Option<(&'a str, &'a str)>, // (webServiceURL, authenticationToken)
}

/// What one pass is made of besides its template.
#[derive(Debug, Clone, Copy)]
pub struct RenderInput<'a> {
    /// Values for the `{{placeholders}}`.
    pub payload: &'a serde_json::Value,
    /// Merged into the top level of `pass.json`; must be an object (or null for none).
    pub overrides: &'a serde_json::Value,
    /// The keys the issuer sets.
    pub identity: PassIdentity<'a>,
}

/// Why a pass could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Each placeholder with no value, as `name` (location: file / JSON path).
    #[error("no value in payload for placeholder(s): {}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(", "))]
    MissingPlaceholders(Vec<crate::Problem>),
    /// An override of a server-set key, or overrides that aren't an object; or the rendered
    /// pass.json no longer valid.
    #[error("invalid overrides: {}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(", "))]
    InvalidOverrides(Vec<crate::Problem>),
    /// Signing failed.
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// A signed pass.
#[derive(Debug, Clone)]
pub struct IssuedPass {
    /// The `.pkpass` zip.
    pub bytes: Vec<u8>,
    /// SHA-256 of the manifest: equal fingerprints mean nothing rendered changed.
    pub fingerprint: [u8; 32],
}

/// The files rendered and signed for one pass (`pass.json`, the `pass.strings` files holding
/// placeholders, `manifest.json`, `signature`): a few KB. Kept, they let the same pass be zipped
/// again later ([`PreparedTemplate::assemble`]) without another signature.
#[derive(Debug, Clone)]
pub struct SignedFiles {
    files: Vec<(String, Vec<u8>)>,
    /// SHA-256 of the manifest, as in [`IssuedPass::fingerprint`].
    pub fingerprint: [u8; 32],
}

impl SignedFiles {
    /// Bytes held (for bounding a cache of them).
    #[must_use]
    pub fn size(&self) -> usize {
        self.files.iter().map(|(n, b)| n.len() + b.len()).sum()
    }

    /// The rendered `pass.json`.
    #[must_use]
    pub fn pass_json(&self) -> &[u8] {
        self.files
            .iter()
            .find(|(n, _)| n == "pass.json")
            .map_or(&[][..], |(_, b)| b.as_slice())
    }
}

/// A template prepared once (file hashes, compressed entries) to issue many passes from.
#[derive(Debug, Clone)]
pub struct PreparedTemplate {
    pass_json: Map<String, Value>,
    /// `pass.strings` files holding placeholders, rendered per pass.
    dynamic_strings: Vec<DynamicStrings>,
    /// SHA-1 of every file that is the same in every pass.
    static_hashes: BTreeMap<String, String>,
    /// Those files, compressed once.
    packed: PackedFiles,
}

#[derive(Debug, Clone)]
struct DynamicStrings {
    name: String,
    text: String,
    encoding: Encoding,
}

/// A pass's files before signing.
struct Rendered {
    pass_json: Vec<u8>,
    strings: Vec<(String, Vec<u8>)>,
    manifest: Vec<u8>,
}

impl PreparedTemplate {
    /// Hashes and compresses the template's static files once; `pass.json` and the `pass.strings`
    /// files holding placeholders are rendered per pass.
    #[must_use]
    pub fn new(template: Template) -> Self {
        let pass_json = match template.pass_json() {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        let mut dynamic_strings = Vec::new();
        let mut static_files: Vec<(&str, &[u8])> = Vec::new();
        for (name, bytes) in template.files() {
            if name == "pass.json" {
                continue;
            }
            if name.ends_with(".strings")
                && let Ok((text, encoding)) = strings::decode(bytes)
                && has_placeholder(&text)
            {
                dynamic_strings.push(DynamicStrings {
                    name: name.clone(),
                    text,
                    encoding,
                });
                continue;
            }
            static_files.push((name.as_str(), bytes.as_slice()));
        }
        let static_hashes = static_files
            .iter()
            .map(|(name, bytes)| ((*name).to_owned(), manifest::sha1_hex(bytes)))
            .collect();
        // Writing a zip into memory from checked names cannot fail.
        let packed = PackedFiles::new(static_files).expect("packing template files in memory");
        Self {
            pass_json,
            dynamic_strings,
            static_hashes,
            packed,
        }
    }

    /// The fingerprint the pass would have, without signing (to tell whether a change is an
    /// update before paying for a signature).
    pub fn fingerprint(&self, input: &RenderInput<'_>) -> Result<[u8; 32], RenderError> {
        Ok(fingerprint(&self.render(input)?.manifest))
    }

    /// Renders, signs and zips one pass.
    pub fn issue(
        &self,
        input: &RenderInput<'_>,
        signer: &SigningIdentity,
    ) -> Result<IssuedPass, RenderError> {
        let signed = self.sign_files(input, signer)?;
        Ok(IssuedPass {
            bytes: self.assemble(&signed).to_vec(),
            fingerprint: signed.fingerprint,
        })
    }

    /// Renders and signs one pass, without zipping it ([`Self::assemble`] does that).
    pub fn sign_files(
        &self,
        input: &RenderInput<'_>,
        signer: &SigningIdentity,
    ) -> Result<SignedFiles, RenderError> {
        let rendered = self.render(input)?;
        let signature = signer.sign_detached(&rendered.manifest)?;
        let fingerprint = fingerprint(&rendered.manifest);
        let mut files = Vec::with_capacity(rendered.strings.len() + 3);
        files.push(("pass.json".to_owned(), rendered.pass_json));
        files.extend(rendered.strings);
        files.push(("manifest.json".to_owned(), rendered.manifest));
        files.push(("signature".to_owned(), signature));
        Ok(SignedFiles { files, fingerprint })
    }

    /// The `.pkpass` of `signed` (made by this template's [`Self::sign_files`]): the template's
    /// packed files, shared rather than copied, then the pass's own.
    #[must_use]
    pub fn assemble(&self, signed: &SignedFiles) -> PassBytes {
        let fresh: Vec<(&str, &[u8])> = signed
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        self.packed.bundle_parts(&fresh)
    }

    /// The rendered, checked `pass.json` of a pass (for callers that want to show it).
    pub fn render_pass_json(&self, input: &RenderInput<'_>) -> Result<Value, RenderError> {
        self.render_json(input).map(|(pass, _)| Value::Object(pass))
    }

    /// The rendered, checked pass.json and the rendered text of each `pass.strings` file that
    /// holds placeholders (public so the fuzz targets can check what rendering writes).
    pub fn render_json(
        &self,
        input: &RenderInput<'_>,
    ) -> Result<(Map<String, Value>, Vec<String>), RenderError> {
        let mut invalid = Vec::new();
        let overrides = match input.overrides {
            Value::Null => None,
            Value::Object(map) => Some(map),
            _ => {
                invalid.push(Problem::new("overrides", "must be a JSON object"));
                None
            }
        };
        for key in overrides.into_iter().flat_map(Map::keys) {
            if ISSUER_KEYS.contains(&key.as_str()) {
                invalid.push(Problem::new(
                    format!("overrides.{key}"),
                    format!("{key} is set by the issuer and cannot be overridden"),
                ));
            }
        }
        if !invalid.is_empty() {
            return Err(RenderError::InvalidOverrides(invalid));
        }

        let mut missing = Vec::new();
        let mut path = String::new();
        let mut pass = Map::with_capacity(self.pass_json.len() + 6);
        for (key, value) in &self.pass_json {
            path.clear();
            path.push_str(key);
            pass.insert(
                key.clone(),
                render_value(value, input.payload, &mut path, &mut missing),
            );
        }
        let texts: Vec<String> = self
            .dynamic_strings
            .iter()
            .map(|d| render_strings(&d.text, input.payload, &d.name, &mut missing))
            .collect();
        if !missing.is_empty() {
            return Err(RenderError::MissingPlaceholders(missing));
        }
        if let Some(overrides) = overrides {
            for (key, value) in overrides {
                pass.insert(key.clone(), value.clone());
            }
        }
        let id = &input.identity;
        pass.insert("formatVersion".into(), Value::from(1));
        pass.insert("passTypeIdentifier".into(), id.pass_type_identifier.into());
        pass.insert("teamIdentifier".into(), id.team_identifier.into());
        pass.insert("serialNumber".into(), id.serial_number.into());
        match id.web_service {
            Some((url, token)) => {
                pass.insert("webServiceURL".into(), url.into());
                pass.insert("authenticationToken".into(), token.into());
            }
            None => {
                pass.remove("webServiceURL");
                pass.remove("authenticationToken");
            }
        }
        let mut findings = Findings::default();
        pass_json::check(&pass, Mode::Rendered, &mut findings);
        if !findings.errors.is_empty() {
            return Err(RenderError::InvalidOverrides(findings.errors));
        }
        Ok((pass, texts))
    }

    fn render(&self, input: &RenderInput<'_>) -> Result<Rendered, RenderError> {
        let (pass, texts) = self.render_json(input)?;
        // A map of JSON values always serialises.
        let pass_json = serde_json::to_vec(&pass).expect("JSON serialises");
        let strings: Vec<(String, Vec<u8>)> = self
            .dynamic_strings
            .iter()
            .zip(texts)
            .map(|(d, text)| (d.name.clone(), strings::encode(&text, d.encoding)))
            .collect();
        let mut hashes = self.static_hashes.clone();
        hashes.insert("pass.json".into(), manifest::sha1_hex(&pass_json));
        for (name, bytes) in &strings {
            hashes.insert(name.clone(), manifest::sha1_hex(bytes));
        }
        Ok(Rendered {
            pass_json,
            strings,
            manifest: manifest::to_json(&hashes),
        })
    }
}

fn fingerprint(manifest: &[u8]) -> [u8; 32] {
    Sha256::digest(manifest).into()
}

/// A piece of a string: literal text or a placeholder's dotted name.
enum Segment<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-'))
}

/// Splits `s` into text and `{{ name }}` placeholders; `{{` not followed by a valid name and `}}`
/// stays text.
fn segments(s: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut text_start = 0;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        if let Some(close) = after.find("}}") {
            let name = after[..close].trim();
            if is_placeholder_name(name) {
                let abs_open = offset + open;
                if abs_open > text_start {
                    out.push(Segment::Text(&s[text_start..abs_open]));
                }
                out.push(Segment::Placeholder(name));
                let consumed = open + 2 + close + 2;
                offset += consumed;
                text_start = offset;
                rest = &rest[consumed..];
                continue;
            }
        }
        offset += open + 2;
        rest = &rest[open + 2..];
    }
    if text_start < s.len() {
        out.push(Segment::Text(&s[text_start..]));
    }
    out
}

fn has_placeholder(s: &str) -> bool {
    s.contains("{{")
        && segments(s)
            .iter()
            .any(|seg| matches!(seg, Segment::Placeholder(_)))
}

/// The payload value at a dotted path (`a.b`, `list.0`); `null` counts as no value.
fn lookup<'p>(payload: &'p Value, name: &str) -> Option<&'p Value> {
    let mut current = payload;
    for part in name.split('.') {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(list) => list.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!current.is_null()).then_some(current)
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders text placeholders, escaping each inserted value with `escape`.
fn render_text(
    text: &str,
    payload: &Value,
    location: &str,
    missing: &mut Vec<Problem>,
    escape: fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    for seg in segments(text) {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Placeholder(name) => match lookup(payload, name) {
                Some(v) => out.push_str(&escape(&as_text(v))),
                None => missing.push(Problem::new(location, name)),
            },
        }
    }
    out
}

/// Renders a `pass.strings` file: placeholders in its entries are filled (escaped), those in
/// comments are left as they are, so no value can end a comment early and turn the rest of
/// itself into entries (found by the `render` fuzz target).
fn render_strings(text: &str, payload: &Value, location: &str, missing: &mut Vec<Problem>) -> String {
    let mut out = String::with_capacity(text.len());
    for (piece, is_comment) in strings::split_comments(text) {
        if is_comment {
            out.push_str(piece);
        } else {
            out.push_str(&render_text(piece, payload, location, missing, strings::escape));
        }
    }
    out
}

fn render_value(value: &Value, payload: &Value, path: &mut String, missing: &mut Vec<Problem>) -> Value {
    match value {
        Value::String(s) if s.contains("{{") => {
            let segs = segments(s);
            if let [Segment::Placeholder(name)] = segs.as_slice() {
                return match lookup(payload, name) {
                    Some(v) => v.clone(),
                    None => {
                        missing.push(Problem::new(format!("pass.json: {path}"), *name));
                        Value::Null
                    }
                };
            }
            Value::String(render_text(
                s,
                payload,
                &format!("pass.json: {path}"),
                missing,
                str::to_owned,
            ))
        }
        Value::Array(list) => {
            let len = path.len();
            let out = list
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    path.truncate(len);
                    path.push_str(&format!("[{i}]"));
                    render_value(v, payload, path, missing)
                })
                .collect();
            path.truncate(len);
            Value::Array(out)
        }
        Value::Object(map) => {
            let len = path.len();
            let out = map
                .iter()
                .map(|(k, v)| {
                    path.truncate(len);
                    path.push('.');
                    path.push_str(k);
                    (k.clone(), render_value(v, payload, path, missing))
                })
                .collect();
            path.truncate(len);
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_placeholders() {
        let segs = segments("Hi {{ name }}, {{x}} {{ not a name }} {{a.b}}");
        let names: Vec<&str> = segs
            .iter()
            .filter_map(|s| match s {
                Segment::Placeholder(n) => Some(*n),
                Segment::Text(_) => None,
            })
            .collect();
        assert_eq!(names, vec!["name", "x", "a.b"]);
    }

    #[test]
    fn an_exact_placeholder_keeps_the_payload_type() {
        let payload = serde_json::json!({"n": 5, "o": {"b": true}});
        let mut missing = Vec::new();
        let mut path = String::new();
        let v = render_value(&Value::from("{{ n }}"), &payload, &mut path, &mut missing);
        assert_eq!(v, Value::from(5));
        let v = render_value(&Value::from("{{o.b}}"), &payload, &mut path, &mut missing);
        assert_eq!(v, Value::from(true));
        let v = render_value(&Value::from("n={{n}}"), &payload, &mut path, &mut missing);
        assert_eq!(v, Value::from("n=5"));
        assert!(missing.is_empty());
    }
}
