//! The fields of a pass's style, and turning the ones Google has no place for into text and link
//! modules.

use serde_json::{Map, Value, json};

use super::values::{display_value, link_of};
use crate::Localizations;

/// The front field lists, in the order Wallet shows them.
pub(crate) const FRONT_LISTS: [&str; 4] = [
    "headerFields",
    "primaryFields",
    "secondaryFields",
    "auxiliaryFields",
];
/// Lists shown behind the pass (`additionalInfoFields` is iOS 18's "additional info" on an event
/// ticket, shown below the front).
pub(crate) const BACK_LISTS: [&str; 2] = ["backFields", "additionalInfoFields"];

/// One field dictionary with where it was found.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    /// `eventTicket.primaryFields[0]`, for warnings.
    pub path: String,
    /// Which list it is in.
    pub list: &'static str,
    /// Its `key`.
    pub key: &'a str,
    /// The dictionary.
    pub map: &'a Map<String, Value>,
}

impl<'a> Field<'a> {
    /// The key with case and punctuation dropped (`Seat-Number` → `seatnumber`), to compare with
    /// the names passmint knows.
    pub(crate) fn norm_key(&self) -> String {
        norm(self.key)
    }

    /// The label, if it is a string.
    pub(crate) fn label(&self) -> Option<&'a str> {
        self.map.get("label").and_then(Value::as_str)
    }

    /// The value as text (see [`display_value`]).
    pub(crate) fn text(&self) -> Option<String> {
        display_value(self.map)
    }

    /// The value when it is a JSON number.
    pub(crate) fn number(&self) -> Option<&'a serde_json::Number> {
        self.map.get("value").and_then(Value::as_number)
    }

    pub(crate) fn is_back(&self) -> bool {
        BACK_LISTS.contains(&self.list)
    }
}

/// Lower-case letters and digits only.
pub(crate) fn norm(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Every field of `style` in `pass`: front lists first, then the back.
pub(crate) fn collect<'a>(pass: &'a Map<String, Value>, style: &str) -> Vec<Field<'a>> {
    let Some(Value::Object(style_map)) = pass.get(style) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for list in FRONT_LISTS.iter().chain(BACK_LISTS.iter()) {
        let Some(Value::Array(items)) = style_map.get(*list) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let Some(map) = item.as_object() else {
                continue;
            };
            let Some(key) = map.get("key").and_then(Value::as_str) else {
                continue;
            };
            out.push(Field {
                path: format!("{style}.{list}[{i}]"),
                list,
                key,
                map,
            });
        }
    }
    out
}

/// How texts are written: the translations and the default language.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Texts<'a> {
    pub loc: &'a Localizations,
    pub lang: &'a str,
}

impl Texts<'_> {
    /// A `LocalizedString`.
    pub(crate) fn localized(&self, text: &str) -> Value {
        self.loc.localized(text, self.lang)
    }

    /// The default-language text of a plain string field.
    pub(crate) fn plain(&self, text: &str) -> String {
        self.loc.default_text(text, self.lang).to_owned()
    }

    /// Sets `plain_key` to the default text and, when other languages translate it,
    /// `localized_key` to the `LocalizedString`.
    pub(crate) fn set_with_translations(
        &self,
        out: &mut Map<String, Value>,
        plain_key: &str,
        localized_key: &str,
        text: &str,
    ) {
        out.insert(plain_key.into(), self.plain(text).into());
        if self.loc.has_translations(text, self.lang) {
            out.insert(localized_key.into(), self.localized(text));
        }
    }
}

/// A text module id: Google allows letters, digits, `_` and `-` (no dots).
fn module_id(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A field as a `TextModuleData`: its label as header, its value as body, each with its
/// translations.
pub(crate) fn text_module(field: &Field<'_>, texts: Texts<'_>) -> Option<Value> {
    let body = field.text();
    let header = field.label().filter(|l| !l.is_empty());
    if body.is_none() && header.is_none() {
        return None;
    }
    let mut out = Map::new();
    out.insert("id".into(), module_id(field.key).into());
    if let Some(header) = header {
        texts.set_with_translations(&mut out, "header", "localizedHeader", header);
    }
    if let Some(body) = body {
        texts.set_with_translations(&mut out, "body", "localizedBody", &body);
    }
    Some(Value::Object(out))
}

/// A back field that is a link as a links-module `Uri`, its label as the description.
pub(crate) fn link_module(field: &Field<'_>, texts: Texts<'_>) -> Option<Value> {
    let uri = link_of(field.map)?;
    let mut out = Map::new();
    out.insert("uri".into(), uri.into());
    let description = field
        .label()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .or_else(|| field.text())
        .unwrap_or_default();
    texts.set_with_translations(&mut out, "description", "localizedDescription", &description);
    out.insert("id".into(), module_id(field.key).into());
    Some(Value::Object(out))
}

/// iOS 18's event-ticket links (top-level keys) with the description Google shows, so they become
/// links instead of being lost.
pub(crate) const LINK_KEYS: [(&str, &str, &str); 14] = [
    ("accessibilityURL", "Accessibility", ""),
    ("addOnURL", "Add-ons", ""),
    ("bagPolicyURL", "Bag policy", ""),
    ("contactVenueEmail", "E-mail the venue", "mailto:"),
    ("contactVenuePhoneNumber", "Call the venue", "tel:"),
    ("contactVenueWebsite", "Venue website", ""),
    ("directionsInformationURL", "Directions", ""),
    ("merchandiseURL", "Merchandise", ""),
    ("orderFoodURL", "Order food", ""),
    ("parkingInformationURL", "Parking", ""),
    ("purchaseParkingURL", "Buy parking", ""),
    ("sellURL", "Sell", ""),
    ("transferURL", "Transfer", ""),
    ("transitInformationURL", "Public transport", ""),
];

/// The top-level iOS 18 link keys of a rendered pass as `Uri`s.
pub(crate) fn top_level_links(pass: &Map<String, Value>) -> Vec<Value> {
    LINK_KEYS
        .iter()
        .filter_map(|(key, description, scheme)| {
            let value = pass.get(*key)?.as_str()?.trim();
            if value.is_empty() {
                return None;
            }
            let uri = if scheme.is_empty() || value.starts_with(scheme) {
                value.to_owned()
            } else if *scheme == "tel:" {
                format!(
                    "tel:{}",
                    value
                        .chars()
                        .filter(|c| c.is_ascii_digit() || *c == '+')
                        .collect::<String>()
                )
            } else {
                format!("{scheme}{value}")
            };
            Some(json!({ "uri": uri, "description": description, "id": key }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_becomes_a_text_module_with_translated_label_and_value() {
        let pass = json!({"eventTicket": {"backFields": [{"key": "terms.v2", "label": "TERMS", "value": "No refunds"}]}});
        let pass = pass.as_object().unwrap();
        let fields = collect(pass, "eventTicket");
        let mut loc = Localizations::new();
        loc.insert("de", "TERMS", "BEDINGUNGEN");
        loc.insert("de", "No refunds", "Keine Erstattung");
        let module = text_module(
            &fields[0],
            Texts {
                loc: &loc,
                lang: "en",
            },
        )
        .unwrap();
        assert_eq!(
            module,
            json!({
                "id": "terms_v2",
                "header": "TERMS",
                "localizedHeader": {"defaultValue": {"language": "en", "value": "TERMS"},
                                    "translatedValues": [{"language": "de", "value": "BEDINGUNGEN"}]},
                "body": "No refunds",
                "localizedBody": {"defaultValue": {"language": "en", "value": "No refunds"},
                                  "translatedValues": [{"language": "de", "value": "Keine Erstattung"}]},
            })
        );
    }
}
