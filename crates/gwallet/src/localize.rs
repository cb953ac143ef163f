//! `pass.strings` translations → Google's `LocalizedString` (`defaultValue` + `translatedValues`).
//!
//! Wallet looks every label and value up in the device language's `pass.strings` and shows the
//! translation when there is one. Google carries the translations inside each string, so each
//! text passmint writes becomes a `LocalizedString` holding every language that translates it.

use std::collections::BTreeMap;

use pkpass::Problem;
use serde_json::{Value, json};

/// A template's `pass.strings` tables by BCP 47 language tag (`de`, `pt-BR`, `zh-Hans`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Localizations {
    tables: BTreeMap<String, BTreeMap<String, String>>,
}

impl Localizations {
    /// No translations.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every `<lang>.lproj/pass.strings` among a template's files (as
    /// [`pkpass::Template::files`] gives them); other files are skipped. An unreadable strings
    /// file is left out with a warning (pkpass has refused such a template already, so this only
    /// happens with files from elsewhere).
    pub fn from_files<'a, I>(files: I) -> (Self, Vec<Problem>)
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut out = Self::new();
        let mut warnings = Vec::new();
        for (path, bytes) in files {
            let Some((dir, file)) = path.split_once('/') else {
                continue;
            };
            let Some(lproj) = dir.strip_suffix(".lproj") else {
                continue;
            };
            if file != "pass.strings" {
                continue;
            }
            let Some(language) = language_tag(lproj) else {
                continue;
            };
            match pkpass::strings::decode(bytes).and_then(|(text, _)| pkpass::strings::parse(&text)) {
                Ok(entries) => {
                    for (key, value) in entries {
                        out.insert(&language, key, value);
                    }
                }
                Err(e) => warnings.push(Problem::new(path, format!("Google Wallet: left out: {e}"))),
            }
        }
        (out, warnings)
    }

    /// Adds one translation: `key` (the text as written in `pass.json`) reads `value` in
    /// `language` (a BCP 47 tag or an `.lproj` name such as `pt_BR`).
    pub fn insert(&mut self, language: &str, key: impl Into<String>, value: impl Into<String>) {
        let language = language_tag(language).unwrap_or_else(|| language.to_owned());
        self.tables
            .entry(language)
            .or_default()
            .insert(key.into(), value.into());
    }

    /// The languages that have a table, in order.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// The translation of `key` in `language`, if the table has one.
    #[must_use]
    pub fn translate(&self, language: &str, key: &str) -> Option<&str> {
        self.tables.get(language)?.get(key).map(String::as_str)
    }

    /// True when there are no tables.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Each translation that still holds a `{{placeholder}}`, as a warning: the strings given are
    /// the template's, so such a translation is never sent (the rendered default text is).
    pub(crate) fn placeholder_warnings(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for (language, table) in &self.tables {
            for (key, value) in table {
                if value.contains("{{") {
                    out.push(Problem::new(
                        format!("{language}.lproj/pass.strings: {key}"),
                        "Google Wallet: a translation with a placeholder is not sent; Google shows \
                         the untranslated text in this language",
                    ));
                }
            }
        }
        out
    }

    /// A `LocalizedString` for `text`: the default language's translation (or `text` itself) as
    /// `defaultValue`, and every other language that translates it as `translatedValues`.
    pub(crate) fn localized(&self, text: &str, default_language: &str) -> Value {
        let default = self.translate(default_language, text).unwrap_or(text);
        let translated: Vec<Value> = self
            .tables
            .iter()
            .filter(|(language, _)| language.as_str() != default_language)
            .filter_map(|(language, table)| {
                let value = table.get(text)?;
                (!value.contains("{{")).then(|| json!({ "language": language, "value": value }))
            })
            .collect();
        let mut out = json!({ "defaultValue": { "language": default_language, "value": default } });
        if !translated.is_empty() {
            out["translatedValues"] = Value::Array(translated);
        }
        out
    }

    /// The default language's text for `text` (its translation, else itself).
    pub(crate) fn default_text<'s>(&'s self, text: &'s str, default_language: &str) -> &'s str {
        self.translate(default_language, text).unwrap_or(text)
    }

    /// True when some language other than the default translates `text`.
    pub(crate) fn has_translations(&self, text: &str, default_language: &str) -> bool {
        self.tables.iter().any(|(language, table)| {
            language != default_language && table.get(text).is_some_and(|v| !v.contains("{{"))
        })
    }
}

/// An `.lproj` folder name as a BCP 47 tag: `pt_BR` → `pt-BR`; `Base` (Xcode's development
/// language, not a language) → `None`.
fn language_tag(lproj: &str) -> Option<String> {
    if lproj.is_empty() || lproj.eq_ignore_ascii_case("base") {
        return None;
    }
    Some(lproj.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_other_language_that_translates_a_text_becomes_a_translated_value() {
        let mut loc = Localizations::new();
        loc.insert("de", "EVENT", "VERANSTALTUNG");
        loc.insert("it", "EVENT", "EVENTO");
        loc.insert("pt_BR", "EVENT", "EVENTO");
        loc.insert("de", "other", "andere");
        let value = loc.localized("EVENT", "en");
        assert_eq!(
            value,
            json!({
                "defaultValue": {"language": "en", "value": "EVENT"},
                "translatedValues": [
                    {"language": "de", "value": "VERANSTALTUNG"},
                    {"language": "it", "value": "EVENTO"},
                    {"language": "pt-BR", "value": "EVENTO"},
                ]
            })
        );
    }

    #[test]
    fn the_default_language_table_gives_the_default_value() {
        let mut loc = Localizations::new();
        loc.insert("en", "event_label", "Event");
        loc.insert("de", "event_label", "Veranstaltung");
        let value = loc.localized("event_label", "en");
        assert_eq!(value["defaultValue"]["value"], "Event");
        assert_eq!(value["translatedValues"][0]["language"], "de");
    }

    #[test]
    fn reads_lproj_strings_files_and_skips_base_and_other_files() {
        let de = "\"EVENT\" = \"VERANSTALTUNG\";".as_bytes();
        let base = "\"EVENT\" = \"X\";".as_bytes();
        let files = [
            ("pass.json", &b"{}"[..]),
            ("de.lproj/pass.strings", de),
            ("de.lproj/logo.png", &b"png"[..]),
            ("Base.lproj/pass.strings", base),
        ];
        let (loc, warnings) = Localizations::from_files(files);
        assert!(warnings.is_empty());
        assert_eq!(loc.languages().collect::<Vec<_>>(), ["de"]);
        assert_eq!(loc.translate("de", "EVENT"), Some("VERANSTALTUNG"));
    }
}
