//! `pass.json` → Google Wallet class and object JSON.
//!
//! A template becomes a class and each pass an object of it ([`GoogleTemplate`]). The class is made
//! once per template revision from the template's own `pass.json`, so only values that are the same
//! for every pass reach it: a class-level value that is still a `{{placeholder}}` is left to the
//! object (as a text module) or, where Google insists on it, named in a warning. Each object is
//! made from the pass's rendered `pass.json`.
//!
//! Where Google has a field of its own for something (an event's seat, a flight's airports, a
//! loyalty balance), the pass field goes there; every other field becomes a text module (front
//! fields first, then the back), and back fields that are links (`https://…`, `mailto:`, `tel:`,
//! an e-mail address, a phone number, an `<a href>`) become link modules. What has no place in
//! Google Wallet is reported as a warning, never an error.

mod build;
mod fields;
mod values;

use std::collections::BTreeSet;

use pkpass::Problem;
use serde_json::{Map, Value};

use crate::{Localizations, PassKind, ids};

/// What the server knows about a template revision, as the mapping needs it.
#[derive(Debug, Clone, Copy)]
pub struct TemplateInput<'a> {
    /// The Google Wallet issuer id (`PASSMINT_GOOGLE_ISSUER_ID`).
    pub issuer_id: &'a str,
    /// The template's id (a UUID, with its dashes).
    pub template_id: &'a str,
    /// The template's revision; image URLs carry it, so a replaced image gets a new URL.
    pub revision: i64,
    /// The template's `pass.json` as uploaded (placeholders and all).
    pub pass_json: &'a Value,
    /// Its `pass.strings` tables.
    pub localizations: &'a Localizations,
    /// Every file name in the template (`logo@2x.png`, `de.lproj/pass.strings`, …), as
    /// [`pkpass::Template::files`] lists them.
    pub file_names: &'a [String],
    /// `PASSMINT_PUBLIC_URL`: images are served at `<public URL>/assets/{templateId}/{revision}/{file}`.
    pub public_url: &'a str,
    /// The language of the texts as written in `pass.json` (Google's `defaultValue` needs one);
    /// `en` unless the server is told otherwise.
    pub default_language: &'a str,
}

/// A template mapped for Google Wallet: its class, and the recipe for its passes' objects.
///
/// Made once per template revision (cheap to keep next to the prepared Apple template) and used for
/// every pass of it.
#[derive(Debug, Clone)]
pub struct GoogleTemplate {
    kind: PassKind,
    issuer_id: String,
    class_id: String,
    class: Value,
    warnings: Vec<Problem>,
    /// Keys of fields the class holds, so objects don't repeat them.
    claimed: BTreeSet<String>,
    localizations: Localizations,
    default_language: String,
    images: build::Images,
}

/// One pass as a Google Wallet object.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedObject {
    /// `<issuerId>.<pass id without dashes>`.
    pub id: String,
    /// The object resource's JSON (for insert or update).
    pub json: Value,
    /// What of this pass could not be mapped (beyond the template's [`GoogleTemplate::warnings`]).
    pub warnings: Vec<Problem>,
}

impl GoogleTemplate {
    /// Maps a template. Never fails: what cannot be mapped is in [`Self::warnings`].
    #[must_use]
    pub fn new(input: &TemplateInput<'_>) -> Self {
        let empty = Map::new();
        let pass = input.pass_json.as_object().unwrap_or(&empty);
        let mut warnings = Vec::new();
        let kind = PassKind::of_pass_json(input.pass_json).unwrap_or_else(|| {
            warnings.push(Problem::new(
                "pass.json",
                "Google Wallet: the pass has no style Apple defines; it is mapped as a generic pass",
            ));
            PassKind::Generic
        });
        let images = build::Images::new(input, kind, &mut warnings);
        let class_id = ids::class_id(input.issuer_id, input.template_id);
        let mut claimed = BTreeSet::new();
        let class = build::class(
            kind,
            &class_id,
            pass,
            input.localizations,
            input.default_language,
            &images,
            &mut claimed,
            &mut warnings,
        );
        build::template_warnings(kind, pass, &mut warnings);
        // How many text modules a pass gets: map the template itself as if it were a pass
        // (placeholders stay text, which is all the count needs).
        let probe = build::object(
            kind,
            "probe",
            &class_id,
            pass,
            input.localizations,
            input.default_language,
            &images,
            &claimed,
            &mut Vec::new(),
        );
        let modules = probe
            .get("textModulesData")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if modules > build::MAX_TEXT_MODULES {
            warnings.push(Problem::new(
                format!("pass.json: {}", kind.apple_style()),
                format!(
                    "Google Wallet shows at most {} text modules; this template's passes get {modules} \
                     (fields without a Google field of their own), so the last ones may not be shown",
                    build::MAX_TEXT_MODULES
                ),
            ));
        }
        warnings.extend(input.localizations.placeholder_warnings());
        Self {
            kind,
            issuer_id: input.issuer_id.to_owned(),
            class_id,
            class,
            warnings,
            claimed,
            localizations: input.localizations.clone(),
            default_language: input.default_language.to_owned(),
            images,
        }
    }

    /// The Google pass type.
    #[must_use]
    pub fn kind(&self) -> PassKind {
        self.kind
    }

    /// `<issuerId>.<template id without dashes>`.
    #[must_use]
    pub fn class_id(&self) -> &str {
        &self.class_id
    }

    /// The class resource's JSON (for insert or update).
    #[must_use]
    pub fn class_json(&self) -> &Value {
        &self.class
    }

    /// What of the template could not be mapped, as template warnings (locations like pkpass's,
    /// messages starting with `Google Wallet:`).
    #[must_use]
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// The object id of a pass of this template.
    #[must_use]
    pub fn object_id(&self, pass_id: &str) -> String {
        ids::object_id(&self.issuer_id, pass_id)
    }

    /// Maps one pass from its rendered `pass.json` (with `"voided": true` when it is voided).
    #[must_use]
    pub fn object(&self, pass_id: &str, rendered_pass_json: &Value) -> MappedObject {
        let empty = Map::new();
        let pass = rendered_pass_json.as_object().unwrap_or(&empty);
        let mut warnings = Vec::new();
        if let Some(kind) = PassKind::of_pass_json(rendered_pass_json)
            && kind != self.kind
        {
            warnings.push(Problem::new(
                "pass.json",
                format!(
                    "Google Wallet: this pass renders as {} but its template's class is for {}; it is \
                     sent as {}",
                    kind.described(),
                    self.kind.described(),
                    self.kind.described()
                ),
            ));
        }
        let id = self.object_id(pass_id);
        let json = build::object(
            self.kind,
            &id,
            &self.class_id,
            pass,
            &self.localizations,
            &self.default_language,
            &self.images,
            &self.claimed,
            &mut warnings,
        );
        MappedObject { id, json, warnings }
    }
}
