//! Untrusted text on its way into the server log (device log messages, header values): every
//! control character is escaped, so a value can't end the line it is on and forge another
//! (`\n… request finished status=201`), nor drive a terminal with escape sequences.
use std::borrow::Cow;
use std::fmt::Write;

/// `text` with `\` doubled, `\n`, `\r`, `\t` written as such, and every other control
/// character (C0, DEL, C1) and the Unicode line and paragraph separators as `\u{…}`.
pub fn escape(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c == '\\' || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Text that is already JSON (whose strings escape `\`, `"` and C0 controls): only what JSON
/// leaves raw is escaped (DEL, C1 controls, the Unicode line and paragraph separators), so
/// the JSON stays readable and no character can break the log line.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let needs = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !json.chars().any(needs) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) {
            // Inside a JSON string this is the same character, escaped the JSON way.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{escape, escape_json};

    #[test]
    fn escapes_what_json_leaves_raw_and_keeps_the_json_valid() {
        let json = serde_json::json!({ "m": "a\nb\u{7f}\u{85}\u{2028}" }).to_string();
        let escaped = escape_json(&json);
        assert!(
            !escaped.chars().any(|c| c.is_control() || c == '\u{2028}'),
            "{escaped}"
        );
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back["m"], "a\nb\u{7f}\u{85}\u{2028}");
    }

    #[test]
    fn leaves_plain_text_alone_and_escapes_every_control_character() {
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(
            escape("a\nb\r\tc\u{1b}[31m\u{7f}\u{85}\u{2028}\\"),
            "a\\nb\\r\\tc\\u{1b}[31m\\u{7f}\\u{85}\\u{2028}\\\\"
        );
        assert!(!escape("x\n request finished status=201").contains('\n'));
    }
}
