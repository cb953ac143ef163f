//! A pass field as Wallet shows it: its label and its value, localized and formatted (numbers,
//! currencies, percentages, dates).
use std::collections::HashMap;

use serde_json::Value;

/// One field, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub key: String,
    pub label: Option<String>,
    pub value: String,
    /// `left`, `center`, `right` or `natural` (from `textAlignment`).
    pub align: &'static str,
}

/// Localizes through a pass.strings table; a missing key is shown as written.
#[derive(Debug, Default, Clone)]
pub struct Strings(pub HashMap<String, String>);

impl Strings {
    pub fn text(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| key.to_string())
    }
}

/// The fields of one row (`headerFields`, …) of `style_object`.
pub fn row(style_object: Option<&Value>, name: &str, strings: &Strings) -> Vec<Field> {
    style_object
        .and_then(|s| s.get(name))
        .and_then(Value::as_array)
        .map(|fields| fields.iter().filter_map(|f| field(f, strings)).collect())
        .unwrap_or_default()
}

fn field(f: &Value, strings: &Strings) -> Option<Field> {
    let key = f.get("key")?.as_str()?.to_string();
    let label = f
        .get("label")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .map(|l| strings.text(l));
    let value = value_text(f, strings)?;
    let align = match f.get("textAlignment").and_then(Value::as_str) {
        Some("PKTextAlignmentLeft") => "left",
        Some("PKTextAlignmentCenter") => "center",
        Some("PKTextAlignmentRight") => "right",
        _ => "natural",
    };
    Some(Field {
        key,
        label,
        value,
        align,
    })
}

fn value_text(f: &Value, strings: &Strings) -> Option<String> {
    match f.get("value")? {
        Value::String(s) => {
            let has_date_style = f.get("dateStyle").is_some() || f.get("timeStyle").is_some();
            if has_date_style && let Some(date) = date_text(s, f) {
                return Some(date);
            }
            Some(strings.text(s))
        }
        Value::Number(n) => {
            let number = n.as_f64()?;
            if let Some(code) = f.get("currencyCode").and_then(Value::as_str) {
                return Some(currency_text(number, code));
            }
            Some(match f.get("numberStyle").and_then(Value::as_str) {
                Some("PKNumberStylePercent") => format!("{}%", trim_number(number * 100.0)),
                _ => trim_number(number),
            })
        }
        _ => None,
    }
}

fn trim_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn currency_text(amount: f64, code: &str) -> String {
    let symbol = match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        _ => "",
    };
    let digits = if code == "JPY" { 0 } else { 2 };
    let number = format!("{amount:.digits$}");
    if symbol.is_empty() {
        format!("{code} {number}")
    } else {
        format!("{symbol}{number}")
    }
}

/// A W3C date as Wallet's date and time styles show it, in the date's own offset.
fn date_text(s: &str, f: &Value) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let date = time::OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let style = |name: &str| f.get(name).and_then(Value::as_str).unwrap_or("PKDateStyleNone");
    let mut parts = Vec::new();
    match style("dateStyle") {
        "PKDateStyleNone" => {}
        "PKDateStyleShort" => parts.push(format!(
            "{:02}/{:02}/{}",
            u8::from(date.month()),
            date.day(),
            date.year() % 100
        )),
        "PKDateStyleMedium" => parts.push(format!(
            "{} {}, {}",
            &date.month().to_string()[..3],
            date.day(),
            date.year()
        )),
        _ => parts.push(format!("{} {}, {}", date.month(), date.day(), date.year())),
    }
    if style("timeStyle") != "PKDateStyleNone" {
        parts.push(format!("{:02}:{:02}", date.hour(), date.minute()));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_and_values_are_localized_and_formatted() {
        let strings = Strings([("POINTS".to_string(), "Punkte".to_string())].into());
        let style = json!({"headerFields": [
            {"key": "p", "label": "POINTS", "value": 120},
            {"key": "b", "label": "", "value": 12.5, "currencyCode": "USD"},
            {"key": "r", "value": 0.25, "numberStyle": "PKNumberStylePercent", "textAlignment": "PKTextAlignmentRight"},
            {"key": "d", "value": "2026-12-24T19:30:00+01:00", "dateStyle": "PKDateStyleMedium", "timeStyle": "PKDateStyleShort"},
            {"key": "broken"}
        ]});
        let fields = row(Some(&style), "headerFields", &strings);
        let shown: Vec<(Option<&str>, &str, &str)> = fields
            .iter()
            .map(|f| (f.label.as_deref(), f.value.as_str(), f.align))
            .collect();
        assert_eq!(
            shown,
            vec![
                (Some("Punkte"), "120", "natural"),
                (None, "$12.50", "natural"),
                (None, "25%", "right"),
                (None, "Dec 24, 2026 19:30", "natural"),
            ]
        );
    }
}
