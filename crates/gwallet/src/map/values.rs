//! Converting single `pass.json` values: colours, dates, field values, links, images.

use serde_json::{Map, Value};

/// True when `s` still holds a `{{placeholder}}` (a template's value, known only per pass).
pub(crate) fn is_templated(s: &str) -> bool {
    s.contains("{{")
}

/// `rgb(r, g, b)` or `#rgb` / `#rrggbb` → Google's `#rrggbb`.
pub(crate) fn hex_color(value: &str) -> Option<String> {
    let value = value.trim();
    if let Some(inner) = value.strip_prefix("rgb(").and_then(|rest| rest.strip_suffix(')')) {
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        if parts.len() != 3 {
            return None;
        }
        let mut out = String::from("#");
        for part in parts {
            let n: u8 = part.parse().ok()?;
            out.push_str(&format!("{n:02x}"));
        }
        return Some(out);
    }
    let hex = value.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        6 => Some(format!("#{}", hex.to_ascii_lowercase())),
        3 => Some(
            hex.chars()
                .flat_map(|c| [c, c])
                .fold(String::from("#"), |mut s, c| {
                    s.push(c.to_ascii_lowercase());
                    s
                }),
        ),
        _ => None,
    }
}

/// A W3C date as Apple writes it (`2026-05-01T19:30-04:00`, seconds and fraction optional, `Z`
/// or an offset), split so it can be written the way Google documents (always with seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PassDate {
    /// `YYYY-MM-DDThh:mm:ss` (with the fraction, if any).
    local: String,
    /// `Z` or `±hh:mm`.
    offset: String,
}

impl PassDate {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (date, time) = s.split_once('T')?;
        let d: Vec<&str> = date.split('-').collect();
        if d.len() != 3
            || d[0].len() != 4
            || d[1].len() != 2
            || d[2].len() != 2
            || !d.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let (month, day): (u32, u32) = (d[1].parse().ok()?, d[2].parse().ok()?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let split = time.find(['Z', 'z', '+', '-'])?;
        let (clock, offset) = time.split_at(split);
        let offset = if offset.eq_ignore_ascii_case("z") {
            "Z".to_owned()
        } else {
            let (h, m) = offset[1..].split_once(':').unwrap_or((&offset[1..], ""));
            let (h, m) = if m.is_empty() && h.len() == 4 {
                (&h[..2], &h[2..])
            } else {
                (h, m)
            };
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            format!("{}{h:02}:{m:02}", &offset[..1])
        };
        let c: Vec<&str> = clock.split(':').collect();
        let (hour, minute, second) = match c.as_slice() {
            [h, m] => (*h, *m, "00"),
            [h, m, s] => (*h, *m, *s),
            _ => return None,
        };
        let (sec_whole, fraction) = second.split_once('.').unwrap_or((second, ""));
        let ok = |p: &str, max: u32| p.len() == 2 && p.parse::<u32>().is_ok_and(|n| n <= max);
        if !ok(hour, 23) || !ok(minute, 59) || !ok(sec_whole, 60) {
            return None;
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut local = format!("{date}T{hour}:{minute}:{sec_whole}");
        if !fraction.is_empty() {
            local.push('.');
            local.push_str(fraction);
        }
        Some(Self { local, offset })
    }

    /// With its offset: an instant (`2026-05-01T19:30:00-04:00`).
    pub(crate) fn with_offset(&self) -> String {
        format!("{}{}", self.local, self.offset)
    }

    /// Without its offset: the local time where it was written (`2026-05-01T19:30:00`), which
    /// Google wants for flight times (it takes the zone from the airport).
    pub(crate) fn local(&self) -> &str {
        &self.local
    }

    /// `2026-05-01 19:30` (or only the date or the time), for showing a date field as text.
    fn display(&self, date: bool, time: bool) -> String {
        let (d, t) = self.local.split_once('T').unwrap_or((&self.local, ""));
        let t = t.get(..5).unwrap_or(t);
        match (date, time) {
            (true, false) => d.to_owned(),
            (false, true) => t.to_owned(),
            _ => format!("{d} {t}"),
        }
    }
}

/// A field's value as the text Google shows: numbers with their currency or as a percentage,
/// dates with a `dateStyle`/`timeStyle` as `YYYY-MM-DD hh:mm` in the time zone they were written
/// in. `None` when there is nothing to show.
pub(crate) fn display_value(field: &Map<String, Value>) -> Option<String> {
    let value = field.get("value")?;
    let styled = |key: &str| {
        field
            .get(key)
            .and_then(Value::as_str)
            .map(|s| s != "PKDateStyleNone")
    };
    match value {
        Value::String(s) => {
            let (date, time) = (styled("dateStyle"), styled("timeStyle"));
            if (date.is_some() || time.is_some())
                && let Some(parsed) = PassDate::parse(s)
            {
                return Some(parsed.display(date.unwrap_or(false), time.unwrap_or(false)));
            }
            Some(s.clone())
        }
        Value::Number(n) => {
            let text = if field.get("numberStyle").and_then(Value::as_str) == Some("PKNumberStylePercent") {
                let percent = n.as_f64().unwrap_or(0.0) * 100.0;
                format!("{}%", trim_float(percent))
            } else {
                n.to_string()
            };
            Some(match field.get("currencyCode").and_then(Value::as_str) {
                Some(code) => format!("{text} {code}"),
                None => text,
            })
        }
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn trim_float(f: f64) -> String {
    let s = format!("{f:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A link for a field: the `href` of an `attributedValue` anchor, or a value that is a whole
/// `http(s)://`, `tel:` or `mailto:` URI, an e-mail address or a phone number (when the field's
/// data detectors allow it; Wallet's default detects everything).
pub(crate) fn link_of(field: &Map<String, Value>) -> Option<String> {
    if let Some(Value::String(attributed)) = field.get("attributedValue")
        && let Some(href) = anchor_href(attributed)
    {
        return Some(href);
    }
    let value = field.get("value")?.as_str()?.trim();
    let detectors: Option<Vec<&str>> = field
        .get("dataDetectorTypes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let allows = |kind: &str| detectors.as_ref().is_none_or(|d| d.contains(&kind));
    let lower = value.to_ascii_lowercase();
    if value.contains(char::is_whitespace) && !is_phone(value) {
        return None;
    }
    if (lower.starts_with("https://") || lower.starts_with("http://")) && allows("PKDataDetectorTypeLink") {
        return Some(value.to_owned());
    }
    if lower.starts_with("mailto:") && allows("PKDataDetectorTypeLink") {
        return Some(value.to_owned());
    }
    if lower.starts_with("tel:") && allows("PKDataDetectorTypePhoneNumber") {
        return Some(value.to_owned());
    }
    if is_email(value) && allows("PKDataDetectorTypeLink") {
        return Some(format!("mailto:{value}"));
    }
    if is_phone(value) && allows("PKDataDetectorTypePhoneNumber") {
        let digits: String = value
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        return Some(format!("tel:{digits}"));
    }
    None
}

/// The `href` of the first `<a href="…">` in an attributed value.
fn anchor_href(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("href=")? + 5;
    let rest = &html[start..];
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    let end = rest.find(quote)?;
    let href = rest[..end].trim();
    (!href.is_empty()).then(|| href.to_owned())
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._%+-".contains(c))
}

fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    // A bare run of digits is more often a member or order number than a phone number.
    let written_as_phone = s.trim_start().starts_with('+') || s.contains([' ', '-', '(', '.']);
    (7..=15).contains(&digits)
        && written_as_phone
        && s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
        && s.trim_start()
            .chars()
            .next()
            .is_some_and(|c| c == '+' || c == '(' || c.is_ascii_digit())
}

/// The best file for an image kind among a template's top-level files: `@3x`, then `@2x`, then
/// `1x` (Google scales down, never up).
pub(crate) fn best_image<'n>(names: &'n [String], base: &str) -> Option<&'n str> {
    ["@3x.png", "@2x.png", ".png"].iter().find_map(|suffix| {
        let wanted = format!("{base}{suffix}");
        names.iter().find(|n| **n == wanted).map(String::as_str)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn colours_in_either_notation_become_lower_case_hex() {
        assert_eq!(hex_color("rgb(60, 65, 76)").as_deref(), Some("#3c414c"));
        assert_eq!(hex_color("rgb(255,255,255)").as_deref(), Some("#ffffff"));
        assert_eq!(hex_color("#ABCDEF").as_deref(), Some("#abcdef"));
        assert_eq!(hex_color("#fa0").as_deref(), Some("#ffaa00"));
        assert_eq!(hex_color("rgb(256, 0, 0)"), None);
        assert_eq!(hex_color("red"), None);
    }

    #[test]
    fn apple_dates_without_seconds_get_seconds_and_keep_their_offset() {
        let d = PassDate::parse("2011-12-08T13:00-04:00").unwrap();
        assert_eq!(d.with_offset(), "2011-12-08T13:00:00-04:00");
        assert_eq!(d.local(), "2011-12-08T13:00:00");
        let z = PassDate::parse("2026-05-01T19:30:15.5Z").unwrap();
        assert_eq!(z.with_offset(), "2026-05-01T19:30:15.5Z");
        assert_eq!(PassDate::parse("2026-05-01"), None);
        assert_eq!(PassDate::parse("2026-13-01T10:00Z"), None);
        assert_eq!(
            PassDate::parse("2026-05-01T10:00+0200").unwrap().with_offset(),
            "2026-05-01T10:00:00+02:00"
        );
    }

    #[test]
    fn values_show_with_currency_percent_and_date_styles() {
        let f = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            display_value(&f(json!({"value": 21.75, "currencyCode": "USD"}))).unwrap(),
            "21.75 USD"
        );
        assert_eq!(
            display_value(&f(json!({"value": 0.25, "numberStyle": "PKNumberStylePercent"}))).unwrap(),
            "25%"
        );
        assert_eq!(
            display_value(&f(json!({"value": "2026-05-01T19:30:00+02:00", "dateStyle": "PKDateStyleShort", "timeStyle": "PKDateStyleShort"}))).unwrap(),
            "2026-05-01 19:30"
        );
        assert_eq!(
            display_value(&f(
                json!({"value": "2026-05-01T19:30:00+02:00", "dateStyle": "PKDateStyleMedium"})
            ))
            .unwrap(),
            "2026-05-01"
        );
        assert_eq!(display_value(&f(json!({"value": 120}))).unwrap(), "120");
    }

    #[test]
    fn links_come_from_uris_addresses_phone_numbers_and_anchors() {
        let f = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            link_of(&f(json!({"value": "https://example.com/x"}))).unwrap(),
            "https://example.com/x"
        );
        assert_eq!(
            link_of(&f(json!({"value": "help@example.com"}))).unwrap(),
            "mailto:help@example.com"
        );
        assert_eq!(
            link_of(&f(json!({"value": "+1 (408) 555-0100"}))).unwrap(),
            "tel:+14085550100"
        );
        assert_eq!(
            link_of(&f(json!({"value": "tel:+4930123456"}))).unwrap(),
            "tel:+4930123456"
        );
        assert_eq!(
            link_of(&f(json!({"value": "Visit us", "attributedValue": "<a href='https://example.com/v'>Visit us</a>"}))).unwrap(),
            "https://example.com/v"
        );
        assert_eq!(
            link_of(&f(json!({"value": "Points expire after 12 months."}))),
            None
        );
        assert_eq!(
            link_of(&f(json!({"value": "+1 408 555 0100", "dataDetectorTypes": []}))),
            None
        );
        assert_eq!(link_of(&f(json!({"value": "12345678"}))), None);
        assert_eq!(link_of(&f(json!({"value": 12_345_678}))), None);
    }

    #[test]
    fn the_largest_scale_of_an_image_is_chosen() {
        let names: Vec<String> = ["logo.png", "logo@2x.png", "icon.png", "de.lproj/logo@3x.png"]
            .map(String::from)
            .to_vec();
        assert_eq!(best_image(&names, "logo"), Some("logo@2x.png"));
        assert_eq!(best_image(&names, "icon"), Some("icon.png"));
        assert_eq!(best_image(&names, "strip"), None);
    }
}
